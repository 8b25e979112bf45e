package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"strings"
)

const (
	headerProtocolVersion = "Mcp-Protocol-Version"
	headerSessionID       = "Mcp-Session-Id"
	headerMethod          = "Mcp-Method"
	headerName            = "Mcp-Name"
	headerParamPrefix     = "Mcp-Param-"

	// stateless is the first protocol revision without sessions, where Mcp-Method and Mcp-Name are required.
	stateless = "2026-07-28"

	maxBackendMessage = 16 << 20
)

func canonicalHeader(h string) string { return textproto.CanonicalMIMEHeaderKey(h) }

// errBackendStatus is a non-success HTTP answer from a backend.
type errBackendStatus struct {
	status int
	body   []byte
}

func (e *errBackendStatus) Error() string {
	return fmt.Sprintf("backend answered HTTP %d: %s", e.status, strings.TrimSpace(string(e.body)))
}

// send posts one JSON-RPC message to a backend on behalf of the call.
func (c *call) send(ctx context.Context, b *backend, bs backendSession, body []byte, method, name string) (*http.Response, error) {
	endpoint := bs.endpoint
	if endpoint == "" {
		endpoint = b.url
	}
	req, err := http.NewRequestWithContext(backendContext(ctx, b), http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build backend request: %w", err)
	}
	req.Host = b.host
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["Accept"] = []string{"application/json, text/event-stream"}
	c.backendHeaders(h, bs)
	if c.version >= stateless && method != "" {
		h[headerMethod] = []string{method}
		if name != "" {
			h[headerName] = []string{name}
		}
	}
	if method == "tools/call" {
		for k, v := range c.req.Header {
			if strings.HasPrefix(k, headerParamPrefix) {
				h[k] = v
			}
		}
	}
	if err := c.route.cred.apply(h, c.caller); err != nil {
		return nil, err
	}
	resp, err := c.s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", b.cfg.Name, err)
	}
	return resp, nil
}

func (c *call) backendHeaders(h http.Header, bs backendSession) {
	if c.version != "" {
		h[headerProtocolVersion] = []string{c.version}
	}
	if bs.sessionID != "" {
		h[headerSessionID] = []string{bs.sessionID}
	}
	c.injectTrace(h)
}

func isEventStream(resp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt == "text/event-stream"
}

// readFinal reads a backend answer to the request with the given id and returns the response
// message. Notifications on the way are handed to onNote when it is not nil.
func readFinal(resp *http.Response, id json.RawMessage, onNote func(*message)) (*message, error) {
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return nil, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if m, err := parseMessage(b); err == nil && m.Error != nil {
			return m, nil
		}
		return nil, &errBackendStatus{status: resp.StatusCode, body: b}
	case isEventStream(resp):
		return readFinalEvent(resp.Body, id, onNote)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBackendMessage+1))
	if err != nil {
		return nil, fmt.Errorf("read backend response: %w", err)
	}
	if len(b) > maxBackendMessage {
		return nil, errors.New("backend response too large")
	}
	return parseMessage(b)
}

// readFinalEvent reads an event stream until the response with the given id.
func readFinalEvent(body io.Reader, id json.RawMessage, onNote func(*message)) (*message, error) {
	sr := newSSEReader(body, maxBackendMessage)
	defer sr.release()
	for {
		ev, err := sr.next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("backend stream ended without a response")
		}
		if err != nil {
			return nil, err
		}
		m, err := parseMessage(ev.data)
		if err != nil {
			continue
		}
		if m.isResponse() && bytes.Equal(m.ID, id) {
			return m, nil
		}
		if onNote != nil && m.isNotification() {
			onNote(m)
		}
	}
}
