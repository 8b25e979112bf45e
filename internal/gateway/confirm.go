package gateway

import (
	"crypto/rand"
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
	if !c.sseOK || c.sess == nil || !c.sess.elicit {
		c.fail(w, CodeConfirmationDenied, fmt.Sprintf("tool %q needs human confirmation and this client cannot be asked (it must accept event streams and declare the elicitation capability)", tool), nil, "confirmation_unavailable")
		return false
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	id := "tm:g:" + hex.EncodeToString(rnd[:])
	ch := c.s.pending.add(id)
	defer c.s.pending.remove(id)
	req := map[string]any{
		"message": fmt.Sprintf("Tool %q on %s is marked destructive. Allow this call?", tool, c.route.name),
		"requestedSchema": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"confirm": map[string]any{"type": "boolean", "title": "Allow the call", "description": "Allow the call"},
			},
			"required": []string{"confirm"},
		},
	}
	if c.version >= "2025-11-25" {
		req["mode"] = "form"
	}
	params, _ := json.Marshal(req)
	rawID, _ := json.Marshal(id)
	out, _ := json.Marshal(&message{JSONRPC: "2.0", ID: rawID, Method: "elicitation/create", Params: params})
	if err := sse.send(out); err != nil {
		c.finish("client_gone", "")
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
		c.finish("client_gone", "")
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
