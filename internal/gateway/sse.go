package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	id   string
	data []byte
}

// sseReader reads server-sent events from a stream.
type sseReader struct {
	r   *bufio.Reader
	max int
}

func newSSEReader(r io.Reader, maxEvent int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 16<<10), max: maxEvent}
}

// next returns the next event with data, or io.EOF at the end of the stream.
func (s *sseReader) next() (*sseEvent, error) {
	ev := &sseEvent{}
	var data bytes.Buffer
	hasData := false
	for {
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("server-sent event line too long")
		}
		if err != nil && len(line) == 0 {
			if errors.Is(err, io.EOF) && hasData {
				ev.data = data.Bytes()
				return ev, nil
			}
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("read event stream: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if hasData {
				ev.data = data.Bytes()
				return ev, nil
			}
			ev = &sseEvent{}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
			if data.Len() > s.max {
				return nil, fmt.Errorf("server-sent event exceeds %d bytes", s.max)
			}
		case "event":
			ev.name = string(value)
		case "id":
			ev.id = string(value)
		}
	}
}

// sseWriter writes server-sent events to a client, flushing each one.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

func (s *sseWriter) start(status int) {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(status)
}

// send writes one message event and flushes it.
func (s *sseWriter) send(data []byte) error {
	s.start(http.StatusOK)
	buf := make([]byte, 0, len(data)+24)
	buf = append(buf, "event: message\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush event: %w", err)
	}
	return nil
}
