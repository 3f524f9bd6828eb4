package groqotel

import (
	"strconv"

	"github.com/groqkit/groq"
)

// errorType is the error.type attribute: groq.ErrorType, or the HTTP status of an
// attempt whose error the core does not class.
func errorType(err error, status int) string {
	t := groq.ErrorType(err)
	if t == "_OTHER" && status > 0 {
		return strconv.Itoa(status)
	}
	return t
}
