package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// needsConfirmation reports whether the route asks a human before calling the tool.
func (c *call) needsConfirmation(tool string, e entry) bool {
	cf := c.route.cfg.Policies.Confirmation
	if cf == nil {
		return false
	}
	return c.route.confirm[tool] || (cf.Destructive && isTrue(e.ann.DestructiveHint))
}

// confirm asks the user, through an elicitation/create request on the call's event stream, to
// confirm the call. It answers the call with a denial and returns false unless the user accepted.
func (c *call) confirm(w http.ResponseWriter, sse *sseWriter, tool string) bool {
	c.out = sse
	if c.sess == nil && c.version >= stateless {
		return c.confirmStateless(w, tool)
	}
	if !c.sseOK || c.sess == nil || !c.sess.elicit {
		c.fail(w, CodeConfirmationDenied, fmt.Sprintf("tool %q needs human confirmation and this client cannot be asked (it must accept event streams and declare the elicitation capability)", tool), nil, "confirmation_unavailable")
		return false
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	id := "tm:g:" + hex.EncodeToString(rnd[:])
	ch := c.s.pending.add(id)
	defer c.s.pending.remove(id)
	req := confirmRequest(tool, c.route.name)
	if c.version >= "2025-11-25" {
		req["mode"] = "form"
	}
	params, _ := json.Marshal(req)
	rawID, _ := json.Marshal(id)
	out, _ := json.Marshal(&message{JSONRPC: "2.0", ID: rawID, Method: "elicitation/create", Params: params})
	if err := sse.send(out); err != nil {
		c.finish("client_gone")
		return false
	}
	timer := time.NewTimer(c.route.cfg.Policies.Confirmation.Timeout.Duration)
	defer timer.Stop()
	select {
	case m := <-ch:
		if accepted(m) {
			return true
		}
		c.fail(w, CodeConfirmationDenied, "the user did not confirm the call", nil, "confirmation_declined")
	case <-timer.C:
		c.fail(w, CodeConfirmationDenied, "the user did not answer the confirmation in time", nil, "confirmation_timeout")
	case <-c.req.Context().Done():
		c.finish("client_gone")
	}
	return false
}

func accepted(m *message) bool {
	if m.Error != nil {
		return false
	}
	var r struct {
		Action  string         `json:"action"`
		Content map[string]any `json:"content"`
	}
	if json.Unmarshal(m.Result, &r) != nil {
		return false
	}
	return r.Action == "accept" && r.Content["confirm"] == true
}

func confirmRequest(tool, route string) map[string]any {
	return map[string]any{
		"message": fmt.Sprintf("Tool %q on %s is marked destructive. Allow this call?", tool, route),
		"requestedSchema": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{"type": "boolean", "title": "Allow the call", "description": "Allow the call"},
			},
			"required": []string{"confirm"},
		},
	}
}

// confirmKey names the gateway's input request in a multi round-trip exchange.
const confirmKey = "toolmesh.io/confirm"

// confirmStateless asks for confirmation with the stateless revision's multi round-trip flow:
// the first call is answered with an input_required result carrying an elicitation and a sealed
// request state bound to the principal, tool and arguments; the client's retry carries the answer.
// It returns true when the retry carries an accepted confirmation; the gateway's input response and
// request state are then removed from the call before it is forwarded.
func (c *call) confirmStateless(w http.ResponseWriter, tool string) bool {
	var p map[string]json.RawMessage
	_ = json.Unmarshal(c.msg.Params, &p)
	binding := confirmBinding(tool, p["arguments"])
	var state string
	_ = json.Unmarshal(p["requestState"], &state)
	var responses map[string]json.RawMessage
	_ = json.Unmarshal(p["inputResponses"], &responses)
	if inner, ok := c.confirmedState(state, binding); ok {
		// A retry of a confirmed call that the backend itself answered with input_required:
		// hand the backend its own state back.
		if inner == "" {
			delete(p, "requestState")
		} else {
			p["requestState"], _ = json.Marshal(inner)
		}
		c.msg.Params, _ = json.Marshal(p)
		c.body, _ = json.Marshal(c.msg)
		c.confirmed = binding
		return true
	}
	if answer, ok := responses[confirmKey]; ok && state != "" {
		st, err := c.rt.sessions.open(state, c.caller.key)
		if err != nil || st.route != c.route.name || st.backends[confirmKey].sessionID != binding {
			c.fail(w, CodeConfirmationDenied, "invalid or expired confirmation state", nil, "confirmation_invalid")
			return false
		}
		if !accepted(&message{Result: answer}) {
			c.fail(w, CodeConfirmationDenied, "the user did not confirm the call", nil, "confirmation_declined")
			return false
		}
		delete(responses, confirmKey)
		delete(p, "requestState")
		if len(responses) == 0 {
			delete(p, "inputResponses")
		} else {
			p["inputResponses"], _ = json.Marshal(responses)
		}
		c.msg.Params, _ = json.Marshal(p)
		c.body, _ = json.Marshal(c.msg)
		c.confirmed = binding
		return true
	}
	if !clientCanElicit(p["_meta"]) {
		c.fail(w, CodeConfirmationDenied, fmt.Sprintf("tool %q needs human confirmation and this client did not declare the elicitation capability", tool), nil, "confirmation_unavailable")
		return false
	}
	token, err := c.rt.sessions.seal(&sessionState{principal: c.caller.key, route: c.route.name,
		backends: map[string]backendSession{confirmKey: {sessionID: binding}},
		expires:  time.Now().Add(c.route.cfg.Policies.Confirmation.Timeout.Duration)})
	if err != nil {
		c.fail(w, CodeInternalError, "cannot create confirmation state", nil, "internal")
		return false
	}
	req := confirmRequest(tool, c.route.name)
	req["mode"] = "form"
	res, _ := json.Marshal(map[string]any{
		"resultType":    "input_required",
		"inputRequests": map[string]any{confirmKey: map[string]any{"method": "elicitation/create", "params": req}},
		"requestState":  token,
	})
	c.writeResult(w, res)
	return false
}

// confirmBinding ties a confirmation to one tool and its exact arguments.
func confirmBinding(tool string, args json.RawMessage) string {
	h := sha256.New()
	h.Write([]byte(tool))
	h.Write([]byte{0})
	h.Write(args)
	return hex.EncodeToString(h.Sum(nil))
}

// clientCanElicit reads the stateless revision's per-request client capabilities.
func clientCanElicit(meta json.RawMessage) bool {
	var m struct {
		Caps struct {
			Elicitation json.RawMessage `json:"elicitation"`
		} `json:"io.modelcontextprotocol/clientCapabilities"`
	}
	_ = json.Unmarshal(meta, &m)
	return len(m.Caps.Elicitation) > 0 && string(m.Caps.Elicitation) != "null"
}

// confirmedKey marks a confirmation state issued after the user confirmed; it carries the
// backend's own request state.
const confirmedKey = "~confirmed"

// confirmedState opens a request state issued for an already confirmed call and returns the
// backend's state it wraps.
func (c *call) confirmedState(state, binding string) (string, bool) {
	if state == "" {
		return "", false
	}
	st, err := c.rt.sessions.open(state, c.caller.key)
	if err != nil || st.route != c.route.name || st.backends[confirmKey].sessionID != binding {
		return "", false
	}
	inner, ok := st.backends[confirmedKey]
	return inner.sessionID, ok
}

// wrapConfirmed rewrites a backend's input_required answer to a confirmed call: its request state
// is sealed inside a state that records the confirmation, so the client's retry is not asked
// again. Other answers are returned unchanged.
func (c *call) wrapConfirmed(data []byte) []byte {
	var m message
	if json.Unmarshal(data, &m) != nil || len(m.Result) == 0 {
		return data
	}
	var res map[string]json.RawMessage
	if json.Unmarshal(m.Result, &res) != nil {
		return data
	}
	var kind, inner string
	_ = json.Unmarshal(res["resultType"], &kind)
	if kind != "input_required" {
		return data
	}
	_ = json.Unmarshal(res["requestState"], &inner)
	token, err := c.rt.sessions.seal(&sessionState{principal: c.caller.key, route: c.route.name,
		backends: map[string]backendSession{confirmKey: {sessionID: c.confirmed}, confirmedKey: {sessionID: inner}},
		expires:  time.Now().Add(c.route.cfg.Policies.Confirmation.Timeout.Duration)})
	if err != nil {
		return data
	}
	res["requestState"], _ = json.Marshal(token)
	m.Result, _ = json.Marshal(res)
	out, err := json.Marshal(&m)
	if err != nil {
		return data
	}
	return out
}
