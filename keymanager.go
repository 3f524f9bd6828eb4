package groq

import (
	"strconv"
	"time"
)

// This file holds the quotas (a key, or an organization's keys): it builds them,
// picks the one that can admit a request soonest, takes the grant from its buckets
// with the key whose turn it is, says where a model's requests go and which key
// serves the organization's other calls, and holds a quota and model back as soon
// as a 429 is read (the cooldown itself is kept by its buckets, tokenbucket.go;
// the QuotaStore is told through the scheduler's quotaSync, quotastore.go).

// coolNow holds g's quota and model back until t: as soon as a 429's header is
// read (the grant is settled later; share tells the QuotaStore too, when there is
// one), or for the wait a QuotaStore asked for.
func (s *scheduler) coolNow(g grant, t time.Time, share bool) {
	s.mu.Lock()
	s.quotas[g.quota].buckets.of(s.now(), g.model).coolDown(t)
	s.changed(g.model)
	s.mu.Unlock()
	if share {
		s.store.coolDown(g, t)
	}
}

// handOver reports whether g's request may go to the transport now: not when its
// quota and model are cooling down (another call's 429 arrived since it was
// admitted). When it may, its buckets note that it is leaving: a 429 read from
// now on may have been caused by it in part.
func (s *scheduler) handOver(g grant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b := s.quotas[g.quota].buckets.of(now, g.model)
	if b.coolUntil.After(now) {
		return false
	}
	b.handedOver(g.sent.seq)
	return true
}

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

// pick chooses, among the quotas that serve w's model, the one that can admit w
// soonest; ties go round-robin from s.rr. ok is false when none can ever admit it.
// s.mu is held.
func (s *scheduler) pick(now time.Time, w *waiter) (qi int, at time.Time, ok bool) {
	qi = -1
	n := len(s.quotas)
	for k := 0; k < n; k++ {
		i := (s.rr + k) % n
		if !s.quotas[i].serves(w.model) {
			continue
		}
		t, fits := s.quotas[i].buckets.of(now, w.model).readyAt(now, w.tokens)
		if !fits {
			continue
		}
		if qi < 0 || t.Before(at) {
			qi, at = i, t
		}
	}
	return qi, at, qi >= 0
}

// urlFor is where requests for model are sent.
func (s *scheduler) urlFor(model string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urlLocked(model)
}

func (s *scheduler) urlLocked(model string) string {
	if url, ok := s.urls[model]; ok {
		return url
	}
	return s.defURL
}

// take reserves w's cost in quota qi and chooses the key that sends it: the
// quota's keys take turns. The next choice among quotas starts after qi. s.mu is
// held.
func (s *scheduler) take(now time.Time, w *waiter, qi int) grant {
	q := s.quotas[qi]
	b := q.buckets.of(now, w.model)
	sent := b.reserve(now, w.tokens)
	b.pending(sent, w.tokens)
	s.changed(w.model)
	s.rr = (qi + 1) % len(s.quotas)
	key := q.keys[q.nextKey%len(q.keys)]
	q.nextKey++
	g := grant{quota: qi, keyIndex: key, key: s.keys[key], url: s.urlLocked(w.model), model: w.model, quotaName: q.name, reserved: w.tokens, sent: sent}
	g.storeReq = s.store.request(s, q, b, w)
	return g
}

// orgKey is the key for calls that no chat limit governs and that are about the
// organization's objects (models, files, batches): the first quota's keys in turn,
// so that a file uploaded by one call is found by the next (keys of one quota
// belong to one organization).
func (s *scheduler) orgKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.quotas {
		if !q.retired && len(q.keys) > 0 {
			k := q.keys[q.nextKey%len(q.keys)]
			q.nextKey++
			return s.keys[k]
		}
	}
	return ""
}
