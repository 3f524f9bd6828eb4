// Package batchapi holds the facts of Groq's Batch API that the client and the
// groq command share: the chat endpoint a batch line names, and the completion
// windows Groq takes.
package batchapi

import "fmt"

// ChatEndpoint is the url of a batch line (and the endpoint of a batch) of chat
// calls.
const ChatEndpoint = "/v1/chat/completions"

// CheckWindow says why w is not a completion window Groq takes (nil when it is): a
// whole number of hours ("24h" … "168h") or days ("1d" … "7d"), from 24 hours to
// 7 days.
func CheckWindow(w string) error {
	var n int
	var unit string
	if _, err := fmt.Sscanf(w, "%d%s", &n, &unit); err != nil || fmt.Sprintf("%d%s", n, unit) != w {
		return fmt.Errorf("%q is not a number of hours or days (24h … 7d)", w)
	}
	hours := n
	switch unit {
	case "h":
	case "d":
		hours = n * 24
	default:
		return fmt.Errorf("%q: the unit is h or d", w)
	}
	if hours < 24 || hours > 7*24 {
		return fmt.Errorf("%q is outside 24h … 7d", w)
	}
	return nil
}
