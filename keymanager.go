package groq

import (
	"strconv"
)

// This file holds the quotas (a key, or an organization's keys): it builds them,
// picks the one that can admit a request soonest, takes the grant from its buckets
// with the key whose turn it is, says where a model's requests go and which key
// serves the organization's other calls, and holds a quota and model back as soon
// as a 429 is read (the cooldown itself is kept by its buckets, tokenbucket.go;
// the QuotaStore is told through the scheduler's quotaSync, quotastore.go).

// quota is a set of keys that share limits: one organization, or one key alone.
type quota struct {
	name      string
	keys      []int // indexes into the client's keys
	nextKey   int   // round-robin among the quota's keys
	buckets   *bucketSet
	models    map[string]bool // the models it serves; nil: all
	retired   bool            // removed by Reload: serves nothing, settles what it sent
	storeName string          // its name in a QuotaStore (see scheduler.storeName)
}

func (q *quota) serves(model string) bool {
	return !q.retired && (q.models == nil || q.models[model])
}

// buildQuotas groups the keys: each organization is one quota, every other key is a
// quota of its own. It returns the full key list (organization keys added when they
// were not given) and the quotas.
func buildQuotas(keys []string, orgs []orgDecl, newBuckets func() *bucketSet) ([]string, []*quota, error) {
	index := map[string]int{}
	var all []string
	add := func(k string) int {
		if i, ok := index[k]; ok {
			return i
		}
		index[k] = len(all)
		all = append(all, k)
		return len(all) - 1
	}
	for i, k := range keys {
		if _, dup := index[k]; dup {
			return nil, nil, &OptionError{Option: "WithAPIKeys", Reason: "key #" + strconv.Itoa(i) + " is given twice"}
		}
		add(k)
	}
	owner := map[int]string{}
	var quotas []*quota
	for _, o := range orgs {
		q := &quota{name: o.name, buckets: newBuckets()}
		for _, k := range o.keys {
			i := add(k)
			if prev, taken := owner[i]; taken {
				return nil, nil, &OptionError{Option: "WithOrganization",
					Reason: "key #" + strconv.Itoa(i) + " is in organizations " + strconv.Quote(prev) + " and " + strconv.Quote(o.name)}
			}
			owner[i] = o.name
			q.keys = append(q.keys, i)
		}
		quotas = append(quotas, q)
	}
	for i := range all {
		if _, inOrg := owner[i]; !inOrg {
			quotas = append(quotas, &quota{name: "key#" + strconv.Itoa(i), keys: []int{i}, buckets: newBuckets()})
		}
	}
	return all, quotas, nil
}
