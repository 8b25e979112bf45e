package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// legacySuffix is appended to a route path to serve the HTTP+SSE transport of the 2024-11-05
// revision: GET opens the event stream, POST ?sessionid=… delivers client messages.
const legacySuffix = "/sse"

// legacySession is one HTTP+SSE client. It lives in this replica's memory (the transport ties a
// client to the stream it opened), and runs its messages through the streamable pipeline under an
// inner sealed session.
type legacySession struct {
	id        string
	principal string
	listener  string
	route     string
	out       chan []byte
	ctx       context.Context
	ready     chan struct{} // closed once the inner session exists

	mu    sync.Mutex
	inner string // the sealed streamable session id, once initialized
}

// legacySessions holds the open HTTP+SSE sessions of this replica.
type legacySessions struct {
	mu sync.Mutex
	m  map[string]*legacySession
}

func (l *legacySessions) get(id string) *legacySession {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[id]
}

func (l *legacySessions) put(s *legacySession) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*legacySession{}
	}
	l.m[s.id] = s
}

func (l *legacySessions) remove(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, id)
}

// serveLegacy handles GET and POST on a route's legacy endpoint.
func (c *call) serveLegacy(w http.ResponseWriter, listener string) {
	if c.req.Method == http.MethodGet {
		c.openLegacy(w, listener)
		return
	}
	if c.req.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	ls := c.s.legacy.get(c.req.URL.Query().Get("sessionid"))
	if ls == nil || ls.route != c.route.name {
		http.Error(w, "Not Found: unknown session", http.StatusNotFound)
		return
	}
	if ls.principal != c.caller.key {
		http.Error(w, "Forbidden: session belongs to another principal", http.StatusForbidden)
		return
	}
	if mt, _, _ := mime.ParseMediaType(c.req.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, c.req.Body, c.route.cfg.Policies.Limits.MaxRequestBytes))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	m, err := parseMessage(body)
	if err != nil {
		http.Error(w, "Bad Request: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	if m.Method == "server/discover" {
		// The HTTP+SSE transport belongs to the session-based revisions: refusing discovery makes
		// clients fall back to initialize.
		data, _ := json.Marshal(errorResponse(m.ID, CodeMethodNotFound, "server/discover is not available on the HTTP+SSE transport", nil))
		go (&captureWriter{ls: ls}).push(data)
		return
	}
	go func() {
		if m.Method != "initialize" {
			select {
			case <-ls.ready:
			case <-ls.ctx.Done():
				return
			}
		}
		c.s.runInner(ls, c.innerRequest(ls, body))
	}()
}

// openLegacy opens the event stream of a new HTTP+SSE session and announces its endpoint.
func (c *call) openLegacy(w http.ResponseWriter, listener string) {
	if !acceptsSSE(c.req) {
		http.Error(w, "Accept must contain text/event-stream", http.StatusBadRequest)
		return
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	ls := &legacySession{id: hex.EncodeToString(rnd[:]), principal: c.caller.key, listener: listener,
		route: c.route.name, out: make(chan []byte, 64), ctx: c.req.Context(), ready: make(chan struct{})}
	c.s.legacy.put(ls)
	defer c.s.legacy.remove(ls.id)
	c.s.metrics.streams.Inc()
	defer c.s.metrics.streams.Dec()
	sse := newSSEWriter(w)
	sse.start(http.StatusOK)
	endpoint := c.route.cfg.Path + legacySuffix + "?sessionid=" + ls.id
	if _, err := io.WriteString(w, "event: endpoint\ndata: "+endpoint+"\n\n"); err != nil {
		return
	}
	_ = sse.rc.Flush()
	for {
		select {
		case <-c.req.Context().Done():
			return
		case data := <-ls.out:
			if err := sse.send(data); err != nil {
				return
			}
		}
	}
}

// innerRequest builds the streamable request that carries a legacy client's message.
func (c *call) innerRequest(ls *legacySession, body []byte) *http.Request {
	r, _ := http.NewRequestWithContext(ls.ctx, http.MethodPost, c.route.cfg.Path, bytes.NewReader(body))
	r.Host = c.req.Host
	r.RemoteAddr = c.req.RemoteAddr
	for _, h := range []string{"Authorization", "Traceparent"} {
		if v := c.req.Header.Get(h); v != "" {
			r.Header.Set(h, v)
		}
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	ls.mu.Lock()
	if ls.inner != "" {
		r.Header.Set(headerSessionID, ls.inner)
	}
	ls.mu.Unlock()
	return r
}

// runInner serves an inner request and queues every message it produces on the legacy stream.
func (s *Server) runInner(ls *legacySession, r *http.Request) {
	cw := &captureWriter{header: http.Header{}, ls: ls}
	s.serve(cw, r, ls.listener)
	cw.finish()
	if sid := cw.header.Get(headerSessionID); sid != "" {
		ls.mu.Lock()
		first := ls.inner == ""
		ls.inner = sid
		ls.mu.Unlock()
		if first {
			close(ls.ready)
			go s.legacyStream(ls, r)
		}
	}
}

// legacyStream relays the inner session's standalone stream (server notifications) to the client.
func (s *Server) legacyStream(ls *legacySession, init *http.Request) {
	r, _ := http.NewRequestWithContext(ls.ctx, http.MethodGet, init.URL.Path, nil)
	r.Host = init.Host
	r.Header = init.Header.Clone()
	r.Header.Del("Content-Type")
	r.Header.Set("Accept", "text/event-stream")
	ls.mu.Lock()
	r.Header.Set(headerSessionID, ls.inner)
	ls.mu.Unlock()
	cw := &captureWriter{header: http.Header{}, ls: ls}
	s.serve(cw, r, ls.listener)
}

// captureWriter is the ResponseWriter of an inner request: it turns the JSON or event-stream
// answer into messages on the legacy stream.
type captureWriter struct {
	header http.Header
	status int
	ls     *legacySession
	buf    bytes.Buffer
}

func (w *captureWriter) Header() http.Header { return w.header }
func (w *captureWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.buf.Write(b)
	if strings.HasPrefix(w.header.Get("Content-Type"), "text/event-stream") {
		w.drainEvents()
	}
	return len(b), nil
}

// Flush implements http.Flusher.
func (w *captureWriter) Flush() {}

func (w *captureWriter) drainEvents() {
	for {
		i := bytes.Index(w.buf.Bytes(), []byte("\n\n"))
		if i < 0 {
			return
		}
		block := append([]byte(nil), w.buf.Next(i+2)...)
		sr := newSSEReader(bytes.NewReader(block), maxBackendMessage)
		ev, err := sr.next()
		if err == nil && len(ev.data) > 0 {
			w.push(ev.data)
		}
		sr.release()
	}
}

func (w *captureWriter) finish() {
	if strings.HasPrefix(w.header.Get("Content-Type"), "application/json") && w.buf.Len() > 0 {
		w.push(bytes.TrimSpace(w.buf.Bytes()))
	}
}

func (w *captureWriter) push(data []byte) {
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case w.ls.out <- append([]byte(nil), data...):
	case <-w.ls.ctx.Done():
	case <-t.C:
	}
}
