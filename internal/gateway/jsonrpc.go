package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// JSON-RPC error codes the gateway answers with. They are stable: clients and dashboards may key on them.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603

	// CodeForbidden means authorization denied the call. It is not authz.JSONRPCForbidden (-32003):
	// go-sdk clients read -32003 as their internal "client is closing" error and report a closed
	// connection instead of a denial (as they do for -32001, -32004 and -32005).
	CodeForbidden = -32010
	// CodeRateLimited means the caller's rate limit is exhausted; data.retryAfterMs says when to retry.
	CodeRateLimited = -32011
	// CodeTimeout means the backend did not answer within the route's timeout.
	CodeTimeout = -32012
	// CodeBackendUnavailable means the backend serving the call could not be reached.
	CodeBackendUnavailable = -32013
	// CodeConfirmationDenied means a destructive call was not confirmed by the user.
	CodeConfirmationDenied = -32014
	// CodeTooManyCalls means the route's concurrent call limit is reached.
	CodeTooManyCalls = -32015
	// CodeHeaderMismatch means an Mcp-Method or Mcp-Name header disagrees with the body (as go-sdk).
	CodeHeaderMismatch = -32020
)

// message is one JSON-RPC 2.0 message; which fields are set says whether it is a request,
// notification or response.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("jsonrpc error %d: %s", e.Code, e.Message) }

func (m *message) isRequest() bool      { return m.Method != "" && len(m.ID) > 0 }
func (m *message) isNotification() bool { return m.Method != "" && len(m.ID) == 0 }
func (m *message) isResponse() bool     { return m.Method == "" && len(m.ID) > 0 }

var errBatch = errors.New("JSON-RPC batches are not supported")

// parseMessage decodes one JSON-RPC message and checks its shape.
func parseMessage(body []byte) (*message, error) {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 {
		return nil, errors.New("empty body")
	}
	if b[0] == '[' {
		return nil, errBatch
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse JSON-RPC message: %w", err)
	}
	if m.JSONRPC != "2.0" {
		return nil, errors.New(`jsonrpc must be "2.0"`)
	}
	if err := m.checkShape(); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkShape verifies that the message is exactly one of request, notification or response.
func (m *message) checkShape() error {
	if len(m.ID) > 0 && !validID(m.ID) {
		return errors.New("id must be a string or an integer")
	}
	switch {
	case m.Method != "" && (m.Result != nil || m.Error != nil):
		return errors.New("a message cannot carry both method and result or error")
	case m.Method == "" && len(m.ID) == 0:
		return errors.New("message has neither method nor id")
	case m.Method == "" && m.Result == nil && m.Error == nil:
		return errors.New("response has neither result nor error")
	case len(m.Params) > 0 && m.Params[0] != '{':
		return errors.New("params must be an object")
	}
	return nil
}

func validID(id json.RawMessage) bool {
	if id[0] == '"' {
		var s string
		return json.Unmarshal(id, &s) == nil
	}
	_, err := strconv.ParseInt(string(id), 10, 64)
	return err == nil
}

// checkDepth reports whether the JSON text nests objects and arrays deeper than max. It does not validate.
func checkDepth(b []byte, limit int) error {
	depth, inStr, esc := 0, false, false
	for _, c := range b {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > limit {
				return fmt.Errorf("JSON nesting exceeds %d levels", limit)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// writeRPCError answers with a JSON-RPC error and the given HTTP status.
func writeRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int64, msg string, data any) {
	e := &rpcError{Code: code, Message: msg}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	writeJSON(w, status, &message{JSONRPC: "2.0", ID: nullID(id), Error: e})
}

func nullID(id json.RawMessage) json.RawMessage {
	if len(id) == 0 {
		return json.RawMessage("null")
	}
	return id
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errorResponse builds a JSON-RPC error message for id.
func errorResponse(id json.RawMessage, code int64, msg string, data any) *message {
	e := &rpcError{Code: code, Message: msg}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	return &message{JSONRPC: "2.0", ID: nullID(id), Error: e}
}
