// Command replicas starts three worker processes that share one Groq key through
// Redis, against the built-in simulator (a Groq-shaped bucket of 120 requests a
// minute), and prints what each process did and how many 429s the server sent.
//
//	go run ./examples/replicas            # starts its own redis-server (from PATH)
//	go run ./examples/replicas -redis localhost:6379
//	go run ./examples/replicas -memory    # the same run without Redis: 429s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/groqkit/groq"
	"github.com/groqkit/groq/groqtest"
	"github.com/groqkit/groq/redisstore"
)

const (
	model     = "replica-demo"
	rpm       = 120
	processes = 3
	calls     = 45
)

type report struct {
	PID       int
	OK        int
	Failed    int
	Retried   int // calls that needed more than one attempt
	Seconds   float64
	Fallbacks int
}

func main() {
	worker := flag.Bool("worker", false, "internal: run as a worker")
	redisAddr := flag.String("redis", "", "Redis address (default: start a redis-server in a temporary directory)")
	base := flag.String("base", "", "internal: the simulator's URL")
	memory := flag.Bool("memory", false, "run without Redis (each process paces itself alone)")
	flag.Parse()
	if *worker {
		runWorker(*redisAddr, *base)
		return
	}

	if !*memory && *redisAddr == "" {
		addr, stop, err := startRedis()
		if err != nil {
			log.Fatalf("replicas: %v (or give -redis ADDR, or -memory)", err)
		}
		defer stop()
		*redisAddr = addr
	}
	if *memory {
		*redisAddr = ""
	}
	srv := groqtest.NewServer(groqtest.WithModel(model, groqtest.Limits{RPM: rpm}), groqtest.WithLatency(10*time.Millisecond, 10*time.Millisecond))
	defer srv.Close()
	store := "Redis at " + *redisAddr
	if *redisAddr == "" {
		store = "no shared store"
	}
	fmt.Printf("%d processes × %d calls on one key (%d requests a minute, Groq's bucket shape) against the built-in simulator, %s\n",
		processes, calls, rpm, store)

	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	reports := make([]report, processes)
	for i := range processes {
		wg.Go(func() {
			cmd := exec.Command(self, "-worker", "-redis", *redisAddr, "-base", srv.URL())
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, os.Stderr
			if err := cmd.Run(); err != nil {
				log.Fatalf("worker %d: %v", i, err)
			}
			if err := json.Unmarshal(out.Bytes(), &reports[i]); err != nil {
				log.Fatalf("worker %d: %v: %s", i, err, out.String())
			}
		})
	}
	wg.Wait()
	for i, r := range reports {
		fmt.Printf("process %d (pid %d): %d answered, %d failed, %d retried, %.2fs\n", i+1, r.PID, r.OK, r.Failed, r.Retried, r.Seconds)
	}
	st := srv.Stats()
	minimum := float64(processes*calls-rpm) / (rpm / 60.0)
	fmt.Printf("server: %d requests, %d answered, %d 429s; the key's minimum for %d calls is %.1fs\n",
		st.Requests, st.Successes, st.RateLimited, processes*calls, minimum)
}

// runWorker is one process: its own client on the shared key, 45 calls at once.
func runWorker(redisAddr, base string) {
	opts := []groq.Option{groq.WithAPIKeys("gsk_demo_shared_key"), groq.WithBaseURL(base),
		groq.WithModelLimits(model, groq.Limits{RPM: rpm}), groq.WithMaxRetries(8),
		groq.WithLogger(groqLogger())}
	if redisAddr != "" {
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer rdb.Close()
		opts = append(opts, groq.WithQuotaStore(redisstore.New(rdb)))
	}
	c, err := groq.NewClient(opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	r := report{PID: os.Getpid()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			resp, err := c.Chat(context.Background(), []groq.Message{groq.User(fmt.Sprintf("question %d from %d", i, r.PID))}, groq.WithModel(model))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				r.Failed++
			case resp.Meta.Attempts > 1:
				r.OK++
				r.Retried++
			default:
				r.OK++
			}
		})
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(r)
}

// startRedis starts a redis-server on a free loopback port in a temporary
// directory, without persistence.
func startRedis() (addr string, stop func(), err error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return "", nil, fmt.Errorf("redis-server is not installed (apt-get install -y redis-server)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "replicas-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for deadline := time.Now().Add(10 * time.Second); rdb.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server did not answer on %s", addr)
		}
	}
	fmt.Printf("started redis-server on %s (a temporary directory; stopped at the end)\n", addr)
	return addr, stop, nil
}
