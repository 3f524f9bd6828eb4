package groq

// Names the tests outside the package use, which users do not need.

// CacheKey is the cache key of r sent to chatURL.
var CacheKey = keyOf
