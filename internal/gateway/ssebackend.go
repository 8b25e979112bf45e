package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/toolmesh/toolmesh/internal/ir"
)

// sseBackendKey marks a backend request's context: the request goes to a backend that speaks the
// HTTP+SSE transport, and sseTransport answers it from a go-sdk SSE client connection.
type sseBackendKey struct{}

// sseIdle is how long an SSE backend connection may go unused before it is closed.
const sseIdle = 30 * time.Minute

// sseTransport is the gateway's RoundTripper. Requests to streamable-HTTP backends pass through to
// base; requests to HTTP+SSE backends are translated: a session is one go-sdk SSE client connection
// held by this replica (so such sessions need replica affinity), POSTs write a message and wait
// for its response on the stream, GET streams the backend's own requests and notifications, and
// DELETE closes the connection.
type sseTransport struct {
	base   http.RoundTripper
	client *http.Client
	mu     sync.Mutex
	conns  map[string]*sseConn
	reaper sync.Once
}

// sseConn is one client session's connection to an HTTP+SSE backend.
type sseConn struct {
	conn     mcp.Connection
	lastUsed atomic.Int64
	done     chan struct{}

	mu        sync.Mutex
	waiters   map[string]chan []byte
	listeners map[chan []byte]struct{}
}

func newSSETransport(base http.RoundTripper) *sseTransport {
	return &sseTransport{base: base, client: &http.Client{Transport: base}, conns: map[string]*sseConn{}}
}

// RoundTrip implements http.RoundTripper.
func (t *sseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, ok := req.Context().Value(sseBackendKey{}).(bool); !ok {
		return t.base.RoundTrip(req)
	}
	endpoint := req.URL.String()
	sid := req.Header.Get(headerSessionID)
	switch req.Method {
	case http.MethodPost:
		return t.post(req, endpoint, sid)
	case http.MethodGet:
		return t.stream(req, sid), nil
	case http.MethodDelete:
		if c := t.take(sid); c != nil {
			_ = c.conn.Close()
		}
		return synthetic(req, http.StatusNoContent, "", nil, nil), nil
	}
	return synthetic(req, http.StatusMethodNotAllowed, "", nil, nil), nil
}

func (t *sseTransport) post(req *http.Request, endpoint, sid string) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	m, err := parseMessage(body)
	if err != nil {
		return nil, err
	}
	sid, c, refusal, err := t.session(req, endpoint, sid, m)
	if refusal != nil || err != nil {
		return refusal, err
	}
	c.lastUsed.Store(time.Now().UnixNano())
	msg, err := jsonrpc.DecodeMessage(body)
	if err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	var wait chan []byte
	if r, ok := msg.(*jsonrpc.Request); ok && r.IsCall() {
		key := idKey(r.ID)
		wait = c.wait(key)
		defer c.unwait(key)
	}
	if err := c.conn.Write(req.Context(), msg); err != nil {
		t.drop(sid, c)
		return nil, fmt.Errorf("write to sse backend: %w", err)
	}
	if wait == nil {
		return synthetic(req, http.StatusAccepted, "", nil, nil), nil
	}
	select {
	case data := <-wait:
		h := http.Header{}
		h.Set(headerSessionID, sid)
		return synthetic(req, http.StatusOK, "application/json", data, h), nil
	case <-c.done:
		return nil, errors.New("sse backend closed the stream")
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
}

// session finds the connection of a request, opening one for initialize; otherwise it returns the
// answer that refuses the request.
func (t *sseTransport) session(req *http.Request, endpoint, sid string, m *message) (string, *sseConn, *http.Response, error) {
	switch {
	case sid == "" && m.Method == "initialize":
		sid, c, err := t.open(req.Context(), endpoint)
		return sid, c, nil, err
	case sid == "":
		// The HTTP+SSE transport has no stateless mode: refuse what needs one.
		data, _ := json.Marshal(errorResponse(m.ID, CodeMethodNotFound, "this backend speaks the HTTP+SSE transport only", nil))
		return "", nil, synthetic(req, http.StatusOK, "application/json", data, nil), nil
	}
	c := t.get(sid)
	if c == nil {
		return "", nil, synthetic(req, http.StatusNotFound, "text/plain", []byte("unknown session"), nil), nil
	}
	return sid, c, nil, nil
}

// open connects a new session to the backend.
func (t *sseTransport) open(ctx context.Context, endpoint string) (string, *sseConn, error) {
	tr := &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: t.client}
	conn, err := tr.Connect(context.WithoutCancel(ctx))
	if err != nil {
		return "", nil, fmt.Errorf("connect to sse backend: %w", err)
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	sid := "sse-" + hex.EncodeToString(rnd[:])
	c := &sseConn{conn: conn, done: make(chan struct{}), waiters: map[string]chan []byte{}, listeners: map[chan []byte]struct{}{}}
	c.lastUsed.Store(time.Now().UnixNano())
	t.mu.Lock()
	t.conns[sid] = c
	t.mu.Unlock()
	go t.read(sid, c)
	t.reaper.Do(func() { go t.reap() })
	return sid, c, nil
}

// read dispatches the backend's messages: responses to their waiting call, everything else to
// the session's listening streams.
func (t *sseTransport) read(sid string, c *sseConn) {
	defer t.drop(sid, c)
	for {
		msg, err := c.conn.Read(context.Background())
		if err != nil {
			return
		}
		data, err := jsonrpc.EncodeMessage(msg)
		if err != nil {
			continue
		}
		if resp, ok := msg.(*jsonrpc.Response); ok {
			c.mu.Lock()
			ch := c.waiters[idKey(resp.ID)]
			c.mu.Unlock()
			if ch != nil {
				ch <- data
			}
			continue
		}
		c.mu.Lock()
		for l := range c.listeners {
			select {
			case l <- data:
			default:
			}
		}
		c.mu.Unlock()
	}
}

// stream serves a GET: the backend's requests and notifications as an event stream.
func (t *sseTransport) stream(req *http.Request, sid string) *http.Response {
	c := t.get(sid)
	if c == nil {
		return synthetic(req, http.StatusNotFound, "text/plain", []byte("unknown session"), nil)
	}
	ch := make(chan []byte, 64)
	c.mu.Lock()
	c.listeners[ch] = struct{}{}
	c.mu.Unlock()
	pr, pw := io.Pipe()
	go func() {
		defer func() {
			c.mu.Lock()
			delete(c.listeners, ch)
			c.mu.Unlock()
			_ = pw.Close()
		}()
		for {
			select {
			case data := <-ch:
				if _, err := pw.Write([]byte("event: message\ndata: " + string(data) + "\n\n")); err != nil {
					return
				}
			case <-c.done:
				return
			case <-req.Context().Done():
				return
			}
		}
	}()
	resp := synthetic(req, http.StatusOK, "text/event-stream", nil, nil)
	resp.Body = pr
	return resp
}

// idKey is the canonical text of a JSON-RPC id.
func idKey(id jsonrpc.ID) string {
	b, _ := json.Marshal(id.Raw())
	return string(b)
}

func (c *sseConn) wait(id string) chan []byte {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.waiters[id] = ch
	c.mu.Unlock()
	return ch
}

func (c *sseConn) unwait(id string) {
	c.mu.Lock()
	delete(c.waiters, id)
	c.mu.Unlock()
}

func (t *sseTransport) get(sid string) *sseConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[sid]
}

func (t *sseTransport) take(sid string) *sseConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conns[sid]
	delete(t.conns, sid)
	return c
}

// drop forgets a connection whose stream ended and wakes its waiters.
func (t *sseTransport) drop(sid string, c *sseConn) {
	t.mu.Lock()
	if t.conns[sid] == c {
		delete(t.conns, sid)
	}
	t.mu.Unlock()
	c.mu.Lock()
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	c.mu.Unlock()
	_ = c.conn.Close()
}

// reap closes connections left idle, for sessions that were never deleted.
func (t *sseTransport) reap() {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for range tick.C {
		cutoff := time.Now().Add(-sseIdle).UnixNano()
		t.mu.Lock()
		var idle []*sseConn
		for sid, c := range t.conns {
			if c.lastUsed.Load() < cutoff {
				idle = append(idle, c)
				delete(t.conns, sid)
			}
		}
		t.mu.Unlock()
		for _, c := range idle {
			_ = c.conn.Close()
		}
	}
}

// synthetic builds the HTTP answer of a translated request.
func synthetic(req *http.Request, status int, contentType string, body []byte, h http.Header) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: req}
}

// backendContext marks ctx for an HTTP+SSE backend, so the transport translates the request.
func backendContext(ctx context.Context, b *backend) context.Context {
	if b.cfg.Transport != ir.TransportSSE {
		return ctx
	}
	return context.WithValue(ctx, sseBackendKey{}, true)
}
