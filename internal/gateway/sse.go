package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	id   string
	data []byte
}

// sseReader reads server-sent events from a stream.
type sseReader struct {
	r    *bufio.Reader
	max  int
	line []byte
}

// readers recycles the buffers of event-stream readers: one is needed per relayed call.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

func newSSEReader(r io.Reader, maxEvent int) *sseReader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return &sseReader{r: br, max: maxEvent}
}

// release returns the reader's buffer; the reader must not be used afterwards.
func (s *sseReader) release() {
	s.r.Reset(nil)
	readers.Put(s.r)
	s.r = nil
}

// readLine returns the next line, however long, up to the event size limit.
func (s *sseReader) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	s.line = append(s.line[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		if len(s.line) > s.max {
			return nil, fmt.Errorf("server-sent event exceeds %d bytes", s.max)
		}
		line, err = s.r.ReadSlice('\n')
		s.line = append(s.line, line...)
	}
	return s.line, err
}

// next returns the next event with data, or io.EOF at the end of the stream.
func (s *sseReader) next() (*sseEvent, error) {
	ev := &sseEvent{}
	var data bytes.Buffer
	hasData := false
	for {
		line, err := s.readLine()
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
