//go:build race

package gateway

// raceBuild: the race detector slows copying bytes tenfold; tests that move
// hundreds of megabytes move fewer.
const raceBuild = true
