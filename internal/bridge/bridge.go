package bridge

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// SessionHeader is the streamable HTTP session header.
const SessionHeader = "Mcp-Session-Id"

// Options configure a Bridge.
type Options struct {
	// Command is the stdio server's argv, started once per MCP session.
	Command []string
	// Env is the child's environment; nil inherits the bridge's.
	Env []string
	// MaxSessions caps the child processes running at once. Defaults to 16.
	MaxSessions int
	// IdleTimeout ends a session (and its child) after this long without a request or an open
	// stream. Defaults to 10 minutes.
	IdleTimeout time.Duration
	// MaxBodyBytes caps a request body. Defaults to 4 MiB.
	MaxBodyBytes int64
	// Stderr receives the children's standard error. Defaults to discarding it.
	Stderr io.Writer
	// Logger logs session starts and ends. Defaults to slog.Default().
	Logger *slog.Logger
}

// Bridge is an http.Handler that speaks MCP's streamable HTTP transport to clients and
// newline-delimited JSON-RPC over stdio to one child process per session.
type Bridge struct {
	opts Options
	now  func() time.Time

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
}

// New returns a Bridge. Call Close to end every session.
func New(opts Options) (*Bridge, error) {
	if len(opts.Command) == 0 {
		return nil, errors.New("bridge: a command is required")
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 16
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Bridge{opts: opts, now: time.Now, sessions: map[string]*session{}}, nil
}

// ServeHTTP implements the streamable HTTP transport: POST carries client messages, GET opens the
// session's server-to-client stream, DELETE ends the session.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		b.servePost(w, r)
	case http.MethodGet:
		b.serveStream(w, r)
	case http.MethodDelete:
		s, ok := b.lookup(w, r)
		if ok {
			b.end(s, "deleted by the client")
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// message is the part of a JSON-RPC message the bridge routes by.
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
}

func (m message) isRequest() bool { return m.Method != "" && len(m.ID) > 0 }

func (b *Bridge) servePost(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.opts.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, nil, -32600, "request body too large")
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		writeError(w, http.StatusBadRequest, nil, -32600, "JSON-RPC batches are not supported")
		return
	}
	var msg message
	if err := json.Unmarshal(body, &msg); err != nil {
		writeError(w, http.StatusBadRequest, nil, -32700, "parse error: the body is not a JSON-RPC message")
		return
	}
	// The child reads one message per line: re-encode so embedded newlines cannot split it.
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		writeError(w, http.StatusBadRequest, nil, -32700, "parse error: the body is not a JSON-RPC message")
		return
	}

	var s *session
	if msg.Method == "initialize" && r.Header.Get(SessionHeader) == "" {
		if s, err = b.start(false); err != nil {
			code := http.StatusServiceUnavailable
			if !errors.Is(err, errTooManySessions) {
				code = http.StatusBadGateway
			}
			writeError(w, code, msg.ID, -32603, err.Error())
			return
		}
	} else {
		var ok bool
		if s, ok = b.lookup(w, r); !ok {
			return
		}
	}
	s.touch(b.now())

	if !msg.isRequest() {
		if err := s.send(compact.Bytes()); err != nil {
			writeError(w, http.StatusBadGateway, nil, -32603, err.Error())
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	resp, err := s.call(r.Context(), msg.ID, compact.Bytes())
	if err != nil {
		if msg.Method == "initialize" {
			b.end(s, "initialize failed")
		}
		writeError(w, http.StatusBadGateway, msg.ID, -32603, err.Error())
		return
	}
	s.touch(b.now())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(SessionHeader, s.id)
	_, _ = w.Write(resp)
}

// serveStream relays the child's requests and notifications as server-sent events.
func (b *Bridge) serveStream(w http.ResponseWriter, r *http.Request) {
	s, ok := b.lookup(w, r)
	if !ok {
		return
	}
	if !s.openStream() {
		http.Error(w, "a stream is already open for this session", http.StatusConflict)
		return
	}
	defer s.closeStream(b.now())
	pumpEvents(w, r, s, "")
}

// pumpEvents streams the session's outbound messages as server-sent events until the client or
// the child goes away. A non-empty first is sent first, as a complete event.
func pumpEvents(w http.ResponseWriter, r *http.Request, s *session, first string) {
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, first); err != nil {
		return
	}
	flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case m := <-s.outbound:
			if _, err := fmt.Fprintf(w, "event: message\ndata: %s\n\n", m); err != nil {
				return
			}
			flush()
		}
	}
}

// lookup finds the request's session or answers 400 (no header) or 404 (unknown or ended: the
// client must initialize again).
func (b *Bridge) lookup(w http.ResponseWriter, r *http.Request) (*session, bool) {
	id := r.Header.Get(SessionHeader)
	return b.lookupID(w, id)
}

func (b *Bridge) lookupID(w http.ResponseWriter, id string) (*session, bool) {
	if id == "" {
		writeError(w, http.StatusBadRequest, nil, -32600, "missing "+SessionHeader+" header")
		return nil, false
	}
	b.mu.Lock()
	s := b.sessions[id]
	b.mu.Unlock()
	if s == nil {
		writeError(w, http.StatusNotFound, nil, -32001, "session not found")
		return nil, false
	}
	return s, true
}

var errTooManySessions = errors.New("too many sessions: try again later")

// start launches a child for a new session.
func (b *Bridge) start(legacy bool) (*session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("the bridge is shutting down")
	}
	if len(b.sessions) >= b.opts.MaxSessions {
		return nil, errTooManySessions
	}
	id, err := newSessionID()
	if err != nil {
		return nil, err
	}
	s, err := startSession(id, b.opts, b.now(), legacy)
	if err != nil {
		return nil, err
	}
	b.sessions[id] = s
	b.opts.Logger.Info("Started session", "session", id, "pid", s.cmd.Process.Pid, "sessions", len(b.sessions))
	go func() {
		<-s.done
		b.forget(s)
	}()
	return s, nil
}

func (b *Bridge) forget(s *session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
		b.opts.Logger.Info("Ended session", "session", s.id, "sessions", len(b.sessions))
	}
}

func (b *Bridge) end(s *session, why string) {
	b.opts.Logger.Info("Ending session", "session", s.id, "reason", why)
	s.stop()
	b.forget(s)
}

// Sessions returns the number of live sessions.
func (b *Bridge) Sessions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

// Reap ends the sessions idle for longer than the idle timeout.
func (b *Bridge) Reap() {
	cutoff := b.now().Add(-b.opts.IdleTimeout)
	b.mu.Lock()
	var idle []*session
	for _, s := range b.sessions {
		if s.idleSince(cutoff) {
			idle = append(idle, s)
		}
	}
	b.mu.Unlock()
	for _, s := range idle {
		b.end(s, "idle timeout")
	}
}

// RunReaper calls Reap periodically until ctx is done.
func (b *Bridge) RunReaper(ctx context.Context) {
	t := time.NewTicker(min(b.opts.IdleTimeout/4, 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.Reap()
		}
	}
}

// Close ends every session and refuses new ones.
func (b *Bridge) Close() {
	b.mu.Lock()
	b.closed = true
	all := make([]*session, 0, len(b.sessions))
	for _, s := range b.sessions {
		all = append(all, s)
	}
	b.mu.Unlock()
	for _, s := range all {
		b.end(s, "bridge shutting down")
	}
}

func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func writeError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": code, "message": msg},
	})
}
