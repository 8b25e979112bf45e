package gateway

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name  string
	id    string
	retry string
	data  []byte
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

// next returns the next event with data or an id (a priming event has an id and no data), or
// io.EOF at the end of the stream.
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
			if hasData || ev.id != "" || ev.retry != "" {
				ev.data = bytes.TrimSpace(data.Bytes())
				return ev, nil
			}
			ev = &sseEvent{}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) != "data" {
			ev.set(string(field), string(value))
			continue
		}
		if hasData {
			data.WriteByte('\n')
		}
		data.Write(value)
		hasData = true
		if data.Len() > s.max {
			return nil, fmt.Errorf("server-sent event exceeds %d bytes", s.max)
		}
	}
}

// set records one non-data field of an event.
func (ev *sseEvent) set(field, value string) {
	switch field {
	case "event":
		ev.name = value
	case "id":
		ev.id = value
	case "retry":
		if _, err := strconv.Atoi(value); err == nil {
			ev.retry = value
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
func (s *sseWriter) send(data []byte) error { return s.sendID("", data) }

// sendID writes one message event with an event id (when not empty) and flushes it.
func (s *sseWriter) sendID(id string, data []byte) error { return s.sendEvent(id, "", data) }

// sendEvent writes one event with an id and a reconnection delay (each when not empty) and
// flushes it; nil data writes an event without a message (a priming event).
func (s *sseWriter) sendEvent(id, retry string, data []byte) error {
	s.start(http.StatusOK)
	buf := make([]byte, 0, len(data)+len(id)+48)
	if retry != "" {
		buf = append(buf, "retry: "...)
		buf = append(buf, retry...)
		buf = append(buf, '\n')
	}
	if id != "" {
		buf = append(buf, "id: "...)
		buf = append(buf, id...)
		buf = append(buf, '\n')
	}
	if data == nil {
		buf = append(buf, "data: "...)
	} else {
		buf = append(buf, "event: message\ndata: "...)
		buf = append(buf, data...)
	}
	buf = append(buf, "\n\n"...)
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush event: %w", err)
	}
	return nil
}

// clientEventID names a backend's event towards the client: the backend index and the backend's
// own id, so a client resuming with Last-Event-ID can be sent back to that backend.
func clientEventID(idx int, backendID string) string {
	return strconv.Itoa(idx) + "_" + base64.RawURLEncoding.EncodeToString([]byte(backendID))
}

// parseEventID reverses clientEventID.
func parseEventID(id string) (int, string, bool) {
	idxs, enc, ok := strings.Cut(id, "_")
	if !ok {
		return 0, "", false
	}
	idx, err := strconv.Atoi(idxs)
	if err != nil || idx < 0 {
		return 0, "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return 0, "", false
	}
	return idx, string(raw), true
}
