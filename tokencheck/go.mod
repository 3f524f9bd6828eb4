module github.com/groqkit/groq/tokencheck

go 1.26.0

require (
	github.com/groqkit/groq v0.0.0
	github.com/tiktoken-go/tokenizer v0.10.0
)

require (
	github.com/dlclark/regexp2/v2 v2.5.1 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)

replace github.com/groqkit/groq => ../
