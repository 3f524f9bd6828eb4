package groq

import (
	"fmt"
	"testing"
)

// TestFairQueueTags: one caller's tags are consecutive; another's first tag is
// one past the virtual time; callers behind the virtual time are forgotten past
// maxFlows, and their next tag is the same as if remembered.
func TestFairQueueTags(t *testing.T) {
	var f fairQueue
	for i := uint64(1); i <= 5; i++ {
		if got := f.tag("script", 5); got != i {
			t.Fatalf("tag(script) = %d; want %d", got, i)
		}
	}
	f.admitted(&waiter{priority: 5, tag: 2})
	if got := f.tag("person", 5); got != 3 {
		t.Fatalf("tag(person) = %d; want 3 (one past the virtual time 2)", got)
	}
	if got := f.tag("person", 4); got != 1 {
		t.Fatalf("tag(person, priority 4) = %d; want 1: each priority has its own time", got)
	}
	for i := range maxFlows + 10 {
		f.tag(string(rune('a'+i%26))+string(rune(i)), 7)
	}
	f.admitted(&waiter{priority: 7, tag: 1 << 40}) // every caller at 7 is now behind the virtual time
	for i := 0; len(f.last) > 100; i++ {
		if i > 2*maxFlows+100 {
			t.Fatalf("%d callers remembered after %d more; want those behind the virtual time forgotten", len(f.last), i)
		}
		tag := f.tag(fmt.Sprint("new-", i), 7) // a new caller, admitted at once
		f.admitted(&waiter{priority: 7, tag: tag})
	}
	if got := f.tag("script", 5); got != 6 {
		t.Fatalf("tag(script) = %d; want 6", got)
	}
}
