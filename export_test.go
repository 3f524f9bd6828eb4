package groq

// Names the tests outside the package use, which users do not need.

// CacheKey is the cache key of r sent to chatURL.
var CacheKey = keyOf

// AudioRate is the seconds per byte the client assumes for an audio format whose
// header does not say its duration.
func (c *Client) AudioRate(format string) float64 { return c.audioRate(format) }
