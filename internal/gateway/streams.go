package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// forwardNotification sends a client notification to every backend of the session.
func (c *call) forwardNotification(w http.ResponseWriter) {
	ctx, cancel := context.WithTimeout(c.req.Context(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, b := range c.route.backends {
		bs, ok := c.backendSession(b)
		if !ok {
			continue
		}
		wg.Go(func() {
			resp, err := c.send(ctx, b, bs, c.body, "", "")
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
		})
	}
	wg.Wait()
	w.WriteHeader(http.StatusAccepted)
}

// forwardResponse routes a client's answer to a server-initiated request back to its origin.
func (c *call) forwardResponse(w http.ResponseWriter) {
	if c.s.pending.deliver(c.msg) {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	b := c.route.backends[0]
	body := c.body
	if idx, id, ok := parseRewrittenID(c.msg.ID); ok && len(c.route.backends) > 1 {
		if idx >= len(c.route.backends) {
			http.Error(w, "Bad Request: unknown response id", http.StatusBadRequest)
			return
		}
		b = c.route.backends[idx]
		out := *c.msg
		out.ID = id
		body, _ = json.Marshal(&out)
	}
	bs, ok := c.backendSession(b)
	if !ok {
		http.Error(w, "Not Found: backend is not part of this session", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(c.req.Context(), 10*time.Second)
	defer cancel()
	resp, err := c.send(ctx, b, bs, body, "", "")
	if err != nil {
		http.Error(w, "Bad Gateway", http.StatusBadGateway)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	w.WriteHeader(http.StatusAccepted)
}

// serveGet opens the standalone stream of a session: the merged GET streams of its backends.
func (c *call) serveGet(w http.ResponseWriter) {
	if !acceptsSSE(c.req) {
		http.Error(w, "Accept must contain text/event-stream for GET requests", http.StatusBadRequest)
		return
	}
	if c.req.Header.Get(headerSessionID) == "" {
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "Method Not Allowed: GET needs a session", http.StatusMethodNotAllowed)
		return
	}
	if !c.openSession(w) {
		return
	}
	resume := c.req.Header.Get("Last-Event-ID")
	idx, backendID, ok := parseEventID(resume)
	if resume != "" && (!ok || idx >= len(c.route.backends)) {
		http.Error(w, "Bad Request: unknown Last-Event-ID", http.StatusBadRequest)
		return
	}
	reqs := map[*backend]*http.Request{}
	for _, b := range c.route.backends {
		bs, ok := c.backendSession(b)
		if !ok || bs.sessionID == "" || (resume != "" && b.idx != idx) {
			continue
		}
		req, err := http.NewRequestWithContext(backendContext(c.req.Context(), b), http.MethodGet, bs.endpoint, nil)
		if err != nil {
			continue
		}
		req.Host = b.host
		req.Header.Set("Accept", "text/event-stream")
		if resume != "" {
			req.Header.Set("Last-Event-ID", backendID)
		}
		c.backendHeaders(req.Header, bs)
		if err := c.route.cred.apply(req.Header, c.caller); err != nil {
			continue
		}
		reqs[b] = req
	}
	c.s.metrics.streams.Inc()
	defer c.s.metrics.streams.Dec()
	c.mergeStreams(w, reqs)
}

// mergeStreams relays the events of several backend streams into one client stream until the
// client leaves or every backend stream ends.
func (c *call) mergeStreams(w http.ResponseWriter, reqs map[*backend]*http.Request) {
	sse := newSSEWriter(w)
	var mu sync.Mutex
	mu.Lock()
	sse.start(http.StatusOK)
	_ = sse.rc.Flush()
	mu.Unlock()
	var wg sync.WaitGroup
	for b, req := range reqs {
		wg.Go(func() {
			resp, err := c.s.client.Do(req)
			if err != nil {
				return
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != http.StatusOK || !isEventStream(resp) {
				return
			}
			sr := newSSEReader(resp.Body, maxBackendMessage)
			defer sr.release()
			for {
				ev, err := sr.next()
				if err != nil {
					return
				}
				id := ""
				if ev.id != "" {
					id = clientEventID(b.idx, ev.id)
				}
				m, err := parseMessage(ev.data)
				if err != nil {
					continue
				}
				c.onBackendNote(m)
				data := ev.data
				if m.isRequest() && len(c.route.backends) > 1 {
					data = rewriteID(m, b.idx)
				}
				mu.Lock()
				err = sse.sendID(id, data)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(reqs) == 0 {
		<-c.req.Context().Done()
	}
}

// listen serves subscriptions/listen (stateless revision): one backend is relayed directly,
// several are merged into one stream.
func (c *call) listen(w http.ResponseWriter) {
	if len(c.route.backends) == 1 {
		b := c.route.backends[0]
		bs, _ := c.backendSession(b)
		resp, err := c.send(c.req.Context(), b, bs, c.body, c.msg.Method, "")
		if err != nil {
			c.fail(w, CodeBackendUnavailable, "backend is unavailable", nil, "backend_unavailable")
			return
		}
		defer func() { _ = resp.Body.Close() }()
		for k, v := range resp.Header {
			if k == "Content-Type" || k == "Cache-Control" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		rc := http.NewResponseController(w)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				_ = rc.Flush()
			}
			if err != nil {
				return
			}
		}
	}
	reqs := map[*backend]*http.Request{}
	for _, b := range c.route.backends {
		bs, _ := c.backendSession(b)
		req, err := http.NewRequestWithContext(backendContext(c.req.Context(), b), http.MethodPost, bs.endpoint, bytesReader(c.body))
		if err != nil {
			continue
		}
		req.Host = b.host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set(headerMethod, c.msg.Method)
		c.backendHeaders(req.Header, bs)
		if err := c.route.cred.apply(req.Header, c.caller); err != nil {
			continue
		}
		reqs[b] = req
	}
	c.mergeStreams(w, reqs)
}

// serveDelete ends a session with every backend.
func (c *call) serveDelete(w http.ResponseWriter) {
	if c.req.Header.Get(headerSessionID) == "" {
		http.Error(w, "Bad Request: DELETE needs an Mcp-Session-Id", http.StatusBadRequest)
		return
	}
	if !c.openSession(w) {
		return
	}
	ctx, cancel := context.WithTimeout(c.req.Context(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, b := range c.route.backends {
		bs, ok := c.backendSession(b)
		if !ok || bs.sessionID == "" {
			continue
		}
		wg.Go(func() {
			req, err := http.NewRequestWithContext(backendContext(ctx, b), http.MethodDelete, bs.endpoint, nil)
			if err != nil {
				return
			}
			req.Host = b.host
			c.backendHeaders(req.Header, bs)
			if c.route.cred.apply(req.Header, c.caller) != nil {
				return
			}
			if resp, err := c.s.client.Do(req); err == nil {
				_ = resp.Body.Close()
			}
		})
	}
	wg.Wait()
	c.s.metrics.sessionsClosed.Inc()
	w.WriteHeader(http.StatusNoContent)
}

// pendingRequests tracks requests the gateway itself sent to clients (confirmations).
type pendingRequests struct {
	mu      sync.Mutex
	waiters map[string]chan *message
}

func (p *pendingRequests) init() { p.waiters = map[string]chan *message{} }

func (p *pendingRequests) add(id string) chan *message {
	ch := make(chan *message, 1)
	p.mu.Lock()
	p.waiters[id] = ch
	p.mu.Unlock()
	return ch
}

func (p *pendingRequests) remove(id string) {
	p.mu.Lock()
	delete(p.waiters, id)
	p.mu.Unlock()
}

// deliver hands a client's response to the waiting gateway request, if there is one.
func (p *pendingRequests) deliver(m *message) bool {
	var id string
	if json.Unmarshal(m.ID, &id) != nil {
		return false
	}
	p.mu.Lock()
	ch, ok := p.waiters[id]
	delete(p.waiters, id)
	p.mu.Unlock()
	if ok {
		ch <- m
	}
	return ok
}
