package gateway

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// dispatch handles a client request by method.
func (c *call) dispatch(w http.ResponseWriter) {
	switch m := c.msg; m.Method {
	case "initialize":
		c.initialize(w)
	case "server/discover":
		c.discover(w)
	case "ping":
		c.writeResult(w, json.RawMessage("{}"))
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		c.list(w)
	case "tools/call":
		c.callTool(w)
	case "prompts/get":
		c.getPrompt(w)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		c.resource(w)
	case "logging/setLevel":
		c.broadcast(w)
	case "subscriptions/listen":
		c.listen(w)
	case "completion/complete":
		c.complete(w)
	default:
		if len(c.route.backends) == 1 {
			c.forwardTo(w, c.route.backends[0], c.body, m.Method, "", "")
			return
		}
		c.fail(w, CodeMethodNotFound, fmt.Sprintf("method %q is not supported on a multi-backend route", m.Method), nil, "method_not_found")
	}
}

// writeResult answers the call with a JSON-RPC result: as an event stream when the client accepts
// one (as go-sdk servers do), as JSON otherwise.
func (c *call) writeResult(w http.ResponseWriter, result json.RawMessage) {
	m := &message{JSONRPC: "2.0", ID: c.msg.ID, Result: result}
	if c.sseOK {
		if c.out == nil {
			c.out = newSSEWriter(w)
		}
		b, _ := json.Marshal(m)
		_ = c.out.send(b)
	} else {
		writeJSON(w, http.StatusOK, m)
	}
	c.finish("ok")
}

// errSessionGone means a backend no longer knows the session: the client must initialize again.
var errSessionGone = errors.New("backend session expired")

// failBackend answers a call whose backends could not serve it: 404 when a backend session is
// gone (so the client initializes again, as the spec asks), code -32013 otherwise.
func (c *call) failBackend(w http.ResponseWriter, err error) {
	if errors.Is(err, errSessionGone) {
		http.Error(w, "Not Found: backend session expired", http.StatusNotFound)
		c.finish("session_expired")
		return
	}
	c.fail(w, CodeBackendUnavailable, err.Error(), nil, "backend_unavailable")
}

// fail answers the call with a JSON-RPC error (HTTP 200, or an event when a stream is open) and
// records the outcome.
func (c *call) fail(w http.ResponseWriter, code int64, msg string, data any, outcome string) {
	if c.out != nil && c.out.started {
		b, _ := json.Marshal(errorResponse(c.msg.ID, code, msg, data))
		_ = c.out.send(b)
	} else {
		writeRPCError(w, http.StatusOK, c.msg.ID, code, msg, data)
	}
	c.finish(outcome)
}

// result is one backend's answer in a fan-out.
type result struct {
	b         *backend
	msg       *message
	sessionID string
	err       error
}

// exchange sends a request to a backend and reads its response message.
func (c *call) exchange(ctx context.Context, b *backend, bs backendSession, body []byte, method, name string) result {
	resp, err := c.send(ctx, b, bs, body, method, name)
	if err != nil {
		return result{b: b, err: err}
	}
	sid := resp.Header.Get(headerSessionID)
	if resp.StatusCode == http.StatusNotFound && bs.sessionID != "" {
		_ = resp.Body.Close()
		return result{b: b, err: fmt.Errorf("backend %s: %w", b.cfg.Name, errSessionGone)}
	}
	m, err := readFinal(resp, c.msg.ID, c.onBackendNote)
	if err == nil && m == nil {
		err = errors.New("backend accepted a request without answering it")
	}
	if err != nil {
		c.s.metrics.backendErrors.WithLabelValues(c.route.name, b.cfg.Name).Inc()
		return result{b: b, err: err}
	}
	return result{b: b, msg: m, sessionID: sid}
}

// onBackendNote reacts to notifications seen on backend streams.
func (c *call) onBackendNote(m *message) {
	if strings.HasSuffix(m.Method, "/list_changed") {
		c.route.catalog.Store(nil)
	}
}

// fanout sends a request to every backend concurrently; body builds the message for each one.
func (c *call) fanout(ctx context.Context, bs func(*backend) (backendSession, bool), body func(*backend) []byte, method string) []result {
	out := make([]result, len(c.route.backends))
	var wg sync.WaitGroup
	for i, b := range c.route.backends {
		sess, ok := bs(b)
		if !ok {
			out[i] = result{b: b, err: fmt.Errorf("backend %s has no session", b.cfg.Name)}
			continue
		}
		wg.Go(func() { out[i] = c.exchange(ctx, b, sess, body(b), method, "") })
	}
	wg.Wait()
	return out
}

func (c *call) same(*backend) []byte { return c.body }

// initialize opens a session with every backend and seals their ids into one client session.
func (c *call) initialize(w http.ResponseWriter) {
	var seedb [8]byte
	_, _ = rand.Read(seedb[:])
	seed := binary.LittleEndian.Uint64(seedb[:])
	ctx, cancel := c.fanoutTimeout()
	defer cancel()
	results := c.fanout(ctx, func(b *backend) (backendSession, bool) {
		return backendSession{endpoint: b.endpointFor(seed)}, true
	}, c.same, "initialize")
	st := &sessionState{principal: c.caller.key, route: c.route.name, backends: map[string]backendSession{},
		expires: time.Now().Add(c.rt.sessionTTL), elicit: declaresElicitation(c.msg.Params)}
	var ok []result
	for _, r := range results {
		if r.err != nil || r.msg.Error != nil {
			c.s.log.Info("Backend failed to initialize", "route", c.route.name, "backend", r.b.cfg.Name, "error", resultError(r))
			continue
		}
		ok = append(ok, r)
		st.backends[r.b.cfg.Name] = backendSession{sessionID: r.sessionID, endpoint: r.b.endpointFor(seed)}
	}
	if len(ok) == 0 {
		c.fail(w, CodeBackendUnavailable, "no backend of the route could be initialized", nil, "backend_unavailable")
		return
	}
	merged, version := c.mergeInitialize(ok)
	st.protocolVersion = version
	token, err := c.rt.sessions.seal(st)
	if err != nil {
		c.fail(w, CodeInternalError, "cannot create session", nil, "internal")
		return
	}
	c.s.metrics.sessions.Inc()
	w.Header().Set(headerSessionID, token)
	c.writeResult(w, merged)
}

func resultError(r result) string {
	if r.err != nil {
		return r.err.Error()
	}
	return r.msg.Error.Message
}

// mergeInitialize combines initialize results: the lowest protocol version, the union of
// capabilities, joined instructions, and the gateway's serverInfo when there are several backends.
func (c *call) mergeInitialize(ok []result) (json.RawMessage, string) {
	if len(c.route.backends) == 1 {
		var v struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(ok[0].msg.Result, &v)
		return ok[0].msg.Result, v.ProtocolVersion
	}
	out := map[string]any{}
	caps := map[string]any{}
	var instructions []string
	version := ""
	for _, r := range ok {
		var res struct {
			ProtocolVersion string         `json:"protocolVersion"`
			Capabilities    map[string]any `json:"capabilities"`
			Instructions    string         `json:"instructions"`
		}
		if err := json.Unmarshal(r.msg.Result, &res); err != nil {
			continue
		}
		if version == "" || res.ProtocolVersion < version {
			version = res.ProtocolVersion
		}
		mergeCaps(caps, res.Capabilities)
		if res.Instructions != "" {
			instructions = append(instructions, res.Instructions)
		}
	}
	out["protocolVersion"] = version
	out["capabilities"] = caps
	out["serverInfo"] = map[string]string{"name": c.s.opts.Name + "/" + c.route.name, "version": c.s.opts.Version}
	if len(instructions) > 0 {
		out["instructions"] = strings.Join(instructions, "\n\n")
	}
	b, _ := json.Marshal(out)
	return b, version
}

// mergeCaps ORs capability objects into dst.
func mergeCaps(dst, src map[string]any) {
	for k, v := range src {
		sv, isMap := v.(map[string]any)
		dv, hasMap := dst[k].(map[string]any)
		switch {
		case isMap && hasMap:
			mergeCaps(dv, sv)
		case isMap:
			cp := map[string]any{}
			mergeCaps(cp, sv)
			dst[k] = cp
		case v == true:
			dst[k] = true
		default:
			if _, exists := dst[k]; !exists {
				dst[k] = v
			}
		}
	}
}

// discover answers server/discover (stateless revision) with what every backend supports.
func (c *call) discover(w http.ResponseWriter) {
	if len(c.route.backends) == 1 {
		c.forwardTo(w, c.route.backends[0], c.body, "server/discover", "", "")
		return
	}
	ctx, cancel := c.fanoutTimeout()
	defer cancel()
	results := c.fanout(ctx, c.statelessSession, c.same, "server/discover")
	var versions []string
	caps := map[string]any{}
	var instructions []string
	n, failed := 0, false
	for _, r := range results {
		if r.err != nil || r.msg.Error != nil {
			failed = true
			continue
		}
		var res struct {
			SupportedVersions []string       `json:"supportedVersions"`
			Capabilities      map[string]any `json:"capabilities"`
			Instructions      string         `json:"instructions"`
		}
		if json.Unmarshal(r.msg.Result, &res) != nil {
			continue
		}
		if n == 0 {
			versions = res.SupportedVersions
		} else {
			versions = intersect(versions, res.SupportedVersions)
		}
		n++
		mergeCaps(caps, res.Capabilities)
		if res.Instructions != "" {
			instructions = append(instructions, res.Instructions)
		}
	}
	if n == 0 {
		c.fail(w, CodeBackendUnavailable, "no backend of the route answered server/discover", nil, "backend_unavailable")
		return
	}
	if failed {
		// A backend without the stateless revision (or unreachable now) can only be served in a
		// session: offer the session revisions so the client falls back to initialize.
		versions = slices.DeleteFunc(versions, func(v string) bool { return v >= stateless })
	}
	out := map[string]any{"supportedVersions": versions, "capabilities": caps,
		"_meta": map[string]any{"io.modelcontextprotocol/serverInfo": map[string]string{"name": c.s.opts.Name + "/" + c.route.name, "version": c.s.opts.Version}}}
	if len(instructions) > 0 {
		out["instructions"] = strings.Join(instructions, "\n\n")
	}
	b, _ := json.Marshal(out)
	c.writeResult(w, b)
}

func (c *call) statelessSession(b *backend) (backendSession, bool) { return c.backendSession(b) }

func intersect(a, b []string) []string {
	var out []string
	for _, v := range a {
		for _, u := range b {
			if u == v {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// broadcast forwards a request to every backend and answers with an empty result.
func (c *call) broadcast(w http.ResponseWriter) {
	ctx, cancel := c.fanoutTimeout()
	defer cancel()
	results := c.fanout(ctx, c.backendSession, c.same, c.msg.Method)
	for _, r := range results {
		if r.err == nil && r.msg.Error != nil && len(c.route.backends) == 1 {
			writeJSON(w, http.StatusOK, r.msg)
			c.finish("error")
			return
		}
	}
	c.writeResult(w, json.RawMessage("{}"))
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// declaresElicitation reports whether initialize params declare the elicitation capability.
func declaresElicitation(params json.RawMessage) bool {
	var p struct {
		Capabilities struct {
			Elicitation json.RawMessage `json:"elicitation"`
		} `json:"capabilities"`
	}
	_ = json.Unmarshal(params, &p)
	return len(p.Capabilities.Elicitation) > 0 && string(p.Capabilities.Elicitation) != "null"
}
