package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// callTool authorizes and forwards tools/call to the backend exposing the tool.
func (c *call) callTool(w http.ResponseWriter) {
	var p struct {
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	}
	if err := json.Unmarshal(c.msg.Params, &p); err != nil || p.Name == "" {
		c.fail(w, CodeInvalidParams, "tools/call needs params.name", nil, "invalid_params")
		return
	}
	c.tool = p.Name
	e, err := c.lookup("tools/list", p.Name)
	if err != nil {
		c.tool = ""
		if errors.Is(err, errNotFound) {
			c.fail(w, CodeInvalidParams, fmt.Sprintf("unknown tool %q", p.Name), nil, "unknown_tool")
			return
		}
		c.failBackend(w, err)
		return
	}
	if !c.admit(w, p.Name) {
		return
	}
	if c.route.sem != nil {
		defer func() { <-c.route.sem }()
	}
	d := c.authorize("tools/call", e.b, c.resourceFor("Tool", p.Name, e), p.Arguments, true)
	if !d.allowed {
		c.fail(w, CodeForbidden, "forbidden by policy", map[string]any{"reasons": d.reasons}, "denied")
		return
	}
	sse := newSSEWriter(w)
	if c.needsConfirmation(p.Name, e) {
		if !c.confirm(w, sse, p.Name) {
			return
		}
	}
	body := c.body
	if e.name != p.Name {
		if body, err = rewriteParamsName(c.msg, "name", e.name); err != nil {
			c.fail(w, CodeInvalidParams, err.Error(), nil, "invalid_params")
			return
		}
	}
	c.relayTo(w, sse, e.b, body, "tools/call", e.name, p.Name)
}

// admit applies the route's rate limit and concurrency cap; on refusal it answers and returns false.
func (c *call) admit(w http.ResponseWriter, tool string) bool {
	if l := c.route.limiter; l != nil {
		if ok, wait := l.allow(c.caller.key, tool); !ok {
			c.s.metrics.rateLimited.WithLabelValues(c.route.name).Inc()
			ms := wait.Milliseconds() + 1
			w.Header().Set("Retry-After", strconv.FormatInt((ms+999)/1000, 10))
			c.fail(w, CodeRateLimited, "rate limit exceeded", map[string]any{"retryAfterMs": ms}, "rate_limited")
			return false
		}
	}
	if c.route.sem != nil {
		select {
		case c.route.sem <- struct{}{}:
		default:
			c.fail(w, CodeTooManyCalls, "too many concurrent calls on this route", nil, "concurrency_limited")
			return false
		}
	}
	return true
}

// getPrompt authorizes and forwards prompts/get.
func (c *call) getPrompt(w http.ResponseWriter) {
	name := paramsName("prompts/get", c.msg.Params)
	e, err := c.lookup("prompts/list", name)
	if err != nil {
		if errors.Is(err, errNotFound) {
			c.fail(w, CodeInvalidParams, fmt.Sprintf("unknown prompt %q", name), nil, "unknown_prompt")
			return
		}
		c.failBackend(w, err)
		return
	}
	if !c.admit(w, "prompt:"+name) {
		return
	}
	if c.route.sem != nil {
		defer func() { <-c.route.sem }()
	}
	var p struct {
		Arguments map[string]any `json:"arguments"`
	}
	_ = json.Unmarshal(c.msg.Params, &p)
	if d := c.authorize("prompts/get", e.b, c.resourceFor("Prompt", name, e), p.Arguments, true); !d.allowed {
		c.fail(w, CodeForbidden, "forbidden by policy", map[string]any{"reasons": d.reasons}, "denied")
		return
	}
	body := c.body
	if e.name != name {
		if body, err = rewriteParamsName(c.msg, "name", e.name); err != nil {
			c.fail(w, CodeInvalidParams, err.Error(), nil, "invalid_params")
			return
		}
	}
	c.relayTo(w, newSSEWriter(w), e.b, body, "prompts/get", e.name, name)
}

// resource authorizes and forwards resources/read, subscribe and unsubscribe.
func (c *call) resource(w http.ResponseWriter) {
	uri := paramsName(c.msg.Method, c.msg.Params)
	b := c.route.backends[0]
	var e entry
	if len(c.route.backends) > 1 {
		found, err := c.lookup("resources/list", uri)
		if err != nil && !errors.Is(err, errNotFound) {
			c.failBackend(w, err)
			return
		}
		if err == nil {
			b, e = found.b, found
		} else if b = c.templateBackend(uri); b == nil {
			c.fail(w, -32002, "resource not found", map[string]string{"uri": uri}, "unknown_resource")
			return
		}
	}
	e.b = b
	if d := c.authorize("resources/read", b, c.resourceFor("Resource", uri, e), nil, true); !d.allowed {
		c.fail(w, CodeForbidden, "forbidden by policy", map[string]any{"reasons": d.reasons}, "denied")
		return
	}
	c.relayTo(w, newSSEWriter(w), b, c.body, c.msg.Method, uri, "")
}

// templateBackend finds the backend whose resource template prefix matches uri.
func (c *call) templateBackend(uri string) *backend {
	cat := c.route.catalog.Load()
	if cat == nil || cat.items["resources/templates/list"] == nil {
		ctx, cancel := c.fanoutTimeout()
		defer cancel()
		var err error
		if cat, _, err = c.refresh(ctx, "resources/templates/list"); err != nil {
			return nil
		}
	}
	for _, tpl := range cat.order["resources/templates/list"] {
		prefix, _, _ := strings.Cut(tpl, "{")
		if prefix != "" && strings.HasPrefix(uri, prefix) {
			return cat.items["resources/templates/list"][tpl].b
		}
	}
	return nil
}

// forwardTo sends the call to one backend and relays its answer.
func (c *call) forwardTo(w http.ResponseWriter, b *backend, body []byte, method, name, tool string) {
	c.relayTo(w, newSSEWriter(w), b, body, method, name, tool)
}

// relayTo sends body to backend b and streams the backend's answer to the client, rewriting the ids
// of server-to-client requests on multi-backend routes. It enforces the route timeout.
func (c *call) relayTo(w http.ResponseWriter, sse *sseWriter, b *backend, body []byte, method, name, tool string) {
	bs, ok := c.backendSession(b)
	if !ok {
		c.fail(w, CodeBackendUnavailable, fmt.Sprintf("backend %s is not part of this session", b.cfg.Name), nil, "backend_unavailable")
		return
	}
	ctx, cancel := c.timeout(tool)
	defer cancel()
	resp, err := c.send(ctx, b, bs, body, method, name)
	if err != nil {
		c.backendFailed(w, sse, ctx, b, bs, err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusNotFound && bs.sessionID != "":
		http.Error(w, "Not Found: backend session expired", http.StatusNotFound)
		c.finish("session_expired")
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		c.relayError(w, sse, b, resp)
	case isEventStream(resp):
		c.relayStream(w, sse, ctx, b, bs, resp)
	default:
		c.relayJSON(w, sse, ctx, b, bs, resp)
	}
}

func (c *call) relayJSON(w http.ResponseWriter, sse *sseWriter, ctx context.Context, b *backend, bs backendSession, resp *http.Response) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBackendMessage))
	if err != nil {
		c.backendFailed(w, sse, ctx, b, bs, err)
		return
	}
	c.deliver(w, sse, data, outcomeOf(data))
}

// deliver writes the final response, as an event when a stream is open and as JSON otherwise.
func (c *call) deliver(w http.ResponseWriter, sse *sseWriter, data []byte, outcome string) {
	if c.confirmed != "" {
		data = c.wrapConfirmed(data)
	}
	if sse.started || (c.eventID != "" && c.sseOK) {
		_ = sse.sendID(c.eventID, data)
	} else {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
	}
	c.finish(outcome)
}

func (c *call) relayStream(w http.ResponseWriter, sse *sseWriter, ctx context.Context, b *backend, bs backendSession, resp *http.Response) {
	sr := newSSEReader(resp.Body, maxBackendMessage)
	defer sr.release()
	resumable := false
	for {
		ev, err := sr.next()
		if errors.Is(err, io.EOF) && resumable && sse.started {
			// The backend closed a resumable stream before answering: end the client's stream
			// too, so the client resumes with GET and Last-Event-ID, which reaches this backend.
			c.finish("stream_closed")
			return
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("backend stream ended without a response")
			}
			c.backendFailed(w, sse, ctx, b, bs, err)
			return
		}
		done, primed := c.relayEvent(w, sse, b, ev)
		if done {
			return
		}
		resumable = resumable || primed
	}
}

// relayEvent passes one backend event to the client. It reports whether the call is finished,
// and whether the event was a priming event (the backend can replay the stream).
func (c *call) relayEvent(w http.ResponseWriter, sse *sseWriter, b *backend, ev *sseEvent) (done, primed bool) {
	id := ""
	if ev.id != "" && c.sseOK {
		id = clientEventID(b.idx, ev.id)
	}
	m, err := parseMessage(ev.data)
	if err != nil {
		if (id != "" || ev.retry != "") && len(ev.data) == 0 && c.sseOK {
			_ = sse.sendEvent(id, ev.retry, nil)
			return false, id != ""
		}
		return false, false
	}
	if m.isResponse() && bytes.Equal(m.ID, c.msg.ID) {
		c.eventID = id
		c.deliver(w, sse, ev.data, outcomeOf(ev.data))
		return true, false
	}
	if !c.sseOK {
		return false, false
	}
	c.onBackendNote(m)
	data := ev.data
	if m.isRequest() && len(c.route.backends) > 1 {
		data = rewriteID(m, b.idx)
	}
	if err := sse.sendID(id, data); err != nil {
		c.finish("client_gone")
		return true, false
	}
	return false, false
}

// relayError turns a backend HTTP error into a JSON-RPC error for the client.
func (c *call) relayError(w http.ResponseWriter, sse *sseWriter, b *backend, resp *http.Response) {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if m, err := parseMessage(data); err == nil && m.Error != nil {
		if resp.StatusCode == http.StatusBadRequest && !sse.started {
			writeJSON(w, http.StatusBadRequest, &message{JSONRPC: "2.0", ID: c.msg.ID, Error: m.Error})
			c.finish("error")
			return
		}
		out, _ := json.Marshal(&message{JSONRPC: "2.0", ID: c.msg.ID, Error: m.Error})
		c.deliver(w, sse, out, "error")
		return
	}
	c.s.metrics.backendErrors.WithLabelValues(c.route.name, b.cfg.Name).Inc()
	out, _ := json.Marshal(errorResponse(c.msg.ID, CodeBackendUnavailable,
		fmt.Sprintf("backend %s answered HTTP %d", b.cfg.Name, resp.StatusCode), nil))
	c.deliver(w, sse, out, "backend_error")
}

// backendFailed answers a call whose backend failed or timed out; on timeout the backend is told
// to cancel the request.
func (c *call) backendFailed(w http.ResponseWriter, sse *sseWriter, ctx context.Context, b *backend, bs backendSession, err error) {
	if c.req.Context().Err() != nil {
		c.finish("client_gone")
		return
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		go c.cancelBackend(b, bs)
		out, _ := json.Marshal(errorResponse(c.msg.ID, CodeTimeout, "backend call timed out", nil))
		c.deliver(w, sse, out, "timeout")
		return
	}
	c.s.metrics.backendErrors.WithLabelValues(c.route.name, b.cfg.Name).Inc()
	c.s.log.Info("Backend call failed", "route", c.route.name, "backend", b.cfg.Name, "error", err)
	out, _ := json.Marshal(errorResponse(c.msg.ID, CodeBackendUnavailable, fmt.Sprintf("backend %s is unavailable", b.cfg.Name), nil))
	c.deliver(w, sse, out, "backend_unavailable")
}

// cancelBackend sends notifications/cancelled for the call's request id to the backend.
func (c *call) cancelBackend(b *backend, bs backendSession) {
	params, _ := json.Marshal(map[string]any{"requestId": c.msg.ID, "reason": "gateway timeout"})
	body, _ := json.Marshal(&message{JSONRPC: "2.0", Method: "notifications/cancelled", Params: params})
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	resp, err := c.send(ctx, b, bs, body, "", "")
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}

// outcomeOf classifies a final response for metrics and audit.
func outcomeOf(data []byte) string {
	var m struct {
		Error  *rpcError `json:"error"`
		Result struct {
			IsError bool `json:"isError"`
		} `json:"result"`
	}
	if json.Unmarshal(data, &m) != nil {
		return "invalid_response"
	}
	if m.Error != nil || m.Result.IsError {
		return "error"
	}
	return "ok"
}

// rewriteID prefixes the id of a backend's request to the client with the backend index, so the
// client's answer can be routed back.
func rewriteID(m *message, idx int) []byte {
	out := *m
	out.ID, _ = json.Marshal(fmt.Sprintf("tm:%d:%s", idx, m.ID))
	b, _ := json.Marshal(&out)
	return b
}

// parseRewrittenID reverses rewriteID.
func parseRewrittenID(id json.RawMessage) (int, json.RawMessage, bool) {
	var s string
	if json.Unmarshal(id, &s) != nil || !strings.HasPrefix(s, "tm:") {
		return 0, nil, false
	}
	idxs, raw, ok := strings.Cut(s[3:], ":")
	if !ok {
		return 0, nil, false
	}
	idx, err := strconv.Atoi(idxs)
	if err != nil || !json.Valid([]byte(raw)) {
		return 0, nil, false
	}
	return idx, json.RawMessage(raw), true
}

// complete authorizes and routes completion/complete by its reference: a prompt by exposed name
// (rewritten to the backend's own) or a resource by URI or template.
func (c *call) complete(w http.ResponseWriter) {
	var p struct {
		Ref struct {
			Type string `json:"type"`
			Name string `json:"name"`
			URI  string `json:"uri"`
		} `json:"ref"`
	}
	_ = json.Unmarshal(c.msg.Params, &p)
	body := c.body
	var e entry
	var res resourceRef
	switch p.Ref.Type {
	case "ref/prompt":
		found, err := c.lookup("prompts/list", p.Ref.Name)
		if err != nil {
			c.fail(w, CodeInvalidParams, fmt.Sprintf("unknown prompt %q", p.Ref.Name), nil, "unknown_prompt")
			return
		}
		if body, err = rewriteRef(c.msg, "name", found.name); err != nil {
			c.fail(w, CodeInvalidParams, err.Error(), nil, "invalid_params")
			return
		}
		e, res = found, c.resourceFor("Prompt", p.Ref.Name, found)
	case "ref/resource":
		e.b = c.resourceBackend(p.Ref.URI)
		if e.b == nil {
			c.fail(w, -32002, "resource not found", map[string]string{"uri": p.Ref.URI}, "unknown_resource")
			return
		}
		res = c.resourceFor("Resource", p.Ref.URI, e)
	default:
		c.fail(w, CodeInvalidParams, "completion/complete needs a ref/prompt or ref/resource", nil, "invalid_params")
		return
	}
	if d := c.authorize(c.msg.Method, e.b, res, nil, true); !d.allowed {
		c.fail(w, CodeForbidden, "forbidden by policy", map[string]any{"reasons": d.reasons}, "denied")
		return
	}
	c.forwardTo(w, e.b, body, c.msg.Method, "", "")
}

// resourceBackend finds the backend serving a resource URI: from the catalog, by template, or the
// only backend.
func (c *call) resourceBackend(uri string) *backend {
	if len(c.route.backends) == 1 {
		return c.route.backends[0]
	}
	if e, err := c.lookup("resources/list", uri); err == nil {
		return e.b
	}
	return c.templateBackend(uri)
}

// rewriteRef returns the message with params.ref.<field> replaced.
func rewriteRef(m *message, field, value string) ([]byte, error) {
	var params map[string]json.RawMessage
	if err := json.Unmarshal(m.Params, &params); err != nil {
		return nil, fmt.Errorf("decode params: %w", err)
	}
	var ref map[string]json.RawMessage
	if err := json.Unmarshal(params["ref"], &ref); err != nil {
		return nil, fmt.Errorf("decode params.ref: %w", err)
	}
	ref[field], _ = json.Marshal(value)
	params["ref"], _ = json.Marshal(ref)
	out := *m
	out.Params, _ = json.Marshal(params)
	b, err := json.Marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return b, nil
}
