//go:build !race

package gateway

// raceBuild: see race_test.go.
const raceBuild = false
