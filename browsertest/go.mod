module github.com/groqkit/groq/browsertest

go 1.26.0

require (
	github.com/chromedp/chromedp v0.23.1
	github.com/groqkit/groq v0.0.0
)

require (
	github.com/chromedp/cdproto v0.160.1 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)

replace github.com/groqkit/groq => ../
