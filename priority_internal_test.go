package groq

import (
	"container/heap"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWaitQueueOrder(t *testing.T) {
	var q waitQueue
	mk := func(key int64, seq uint64) *waiter {
		w := newWaiter(int(key), "m", 1)
		w.key, w.seq = key, seq
		return w
	}
	for _, w := range []*waiter{mk(5, 3), mk(1, 9), mk(5, 1), mk(10, 2), mk(1, 4)} {
		heap.Push(&q, w)
	}
	var got [][2]int64
	for q.Len() > 0 {
		w := heap.Pop(&q).(*waiter)
		got = append(got, [2]int64{w.key, int64(w.seq)})
	}
	assert.Equal(t, [][2]int64{{1, 4}, {1, 9}, {5, 1}, {5, 3}, {10, 2}}, got, "priority first, then arrival")

	// A retry re-enters with its old place: ahead of later arrivals of its priority.
	retry := mk(5, 1)
	heap.Push(&q, mk(5, 7))
	heap.Push(&q, retry)
	assert.Same(t, retry, q[0])
}
