package redistest

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three masters on loopback, each a redis-server
// of its own in the test's temporary directory, stopped when the test ends.
type Cluster struct {
	Addrs   []string
	servers []*Server
}

// StartCluster starts a three-node cluster (as Start, it fails under CI and
// skips otherwise when redis-server or redis-cli is missing).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	for _, cmd := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing(t, cmd+" is not installed (apt-get install -y redis-server); the Redis Cluster test needs it")
		}
	}
	c := &Cluster{}
	for range 3 {
		s := &Server{t: t, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))), dir: t.TempDir(),
			extra: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}}
		s.start()
		t.Cleanup(s.Stop)
		c.servers = append(c.servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: creating the cluster: %v\n%s", err, out)
	}
	// Every node must see the whole cluster, not only the first.
	for _, addr := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			info, err := rdb.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") &&
				strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				rdb.Close()
				t.Fatalf("redistest: cluster node %s is not ok after 15s: %v %s (%s)", addr, err, info, filepath.Base(c.servers[0].dir))
			}
		}
		rdb.Close()
	}
	return c
}

// Client is a go-redis cluster client, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
