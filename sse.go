package groq

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxEventBytes bounds one server-sent event (a chunk of Groq's is a few hundred
// bytes; a large tool call's arguments come in many): a longer line or event is
// an error, read no further, so that a broken or hostile upstream cannot take the
// heap.
const maxEventBytes = 4 << 20

// errEventTooLarge is an event or line longer than maxEventBytes.
var errEventTooLarge = fmt.Errorf("groq: a stream event is longer than %d bytes", maxEventBytes)

// sseReader reads data-only server-sent events. A line is read in as many pieces
// as it takes, up to maxEventBytes.
type sseReader struct {
	r    *bufio.Reader
	data []byte // the event being assembled
	line []byte
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 16<<10)}
}

// errIncompleteEvent is returned when the stream ends inside an event.
var errIncompleteEvent = errors.New("groq: stream ended inside an event")

// next returns the data of the next event: the "data" lines of one event joined by
// "\n". Comments (":…"), other fields (event, id, retry) and empty events are
// skipped. At the end of the stream it returns io.EOF, or errIncompleteEvent when
// the stream stopped inside an event. The returned slice is valid until the next
// call.
func (s *sseReader) next() ([]byte, error) {
	s.data = s.data[:0]
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && (hasData || len(line) > 0) {
				return nil, errIncompleteEvent
			}
			return nil, err
		}
		if len(line) == 0 { // end of an event
			if hasData {
				return s.data, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(field) != "data" {
			continue
		}
		if len(s.data)+1+len(value) > maxEventBytes {
			return nil, errEventTooLarge
		}
		if hasData {
			s.data = append(s.data, '\n')
		}
		s.data = append(s.data, value...)
		hasData = true
	}
}

// readLine reads one line without its ending (\n, \r\n or a lone \r before \n).
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(s.line)+len(chunk) > maxEventBytes+2 { // the line's ending may follow
			return nil, errEventTooLarge
		}
		s.line = append(s.line, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if len(s.line) > 0 && err == io.EOF {
				return s.line, io.EOF
			}
			return s.line, err
		}
		line := s.line[:len(s.line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return line, nil
	}
}
