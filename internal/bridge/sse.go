package bridge

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
)

// SSEHandler serves MCP's legacy HTTP+SSE transport for older clients: GET opens a session and
// its event stream, whose first event names the URL to POST messages to (messagePath with a
// sessionId query parameter). The session ends when its stream closes.
func (b *Bridge) SSEHandler(messagePath string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			b.serveLegacyStream(w, r, messagePath)
		case http.MethodPost:
			b.serveLegacyPost(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

func (b *Bridge) serveLegacyStream(w http.ResponseWriter, r *http.Request, messagePath string) {
	s, err := b.start(true)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer b.end(s, "stream closed")
	s.openStream()
	endpoint := messagePath + "?sessionId=" + url.QueryEscape(s.id)
	pumpEvents(w, r, s, "event: endpoint\ndata: "+endpoint+"\n\n")
}

func (b *Bridge) serveLegacyPost(w http.ResponseWriter, r *http.Request) {
	s, ok := b.lookupID(w, r.URL.Query().Get("sessionId"))
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.opts.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, nil, -32600, "request body too large")
		return
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		writeError(w, http.StatusBadRequest, nil, -32700, "parse error: the body is not a JSON-RPC message")
		return
	}
	s.touch(b.now())
	if err := s.send(compact.Bytes()); err != nil {
		writeError(w, http.StatusBadGateway, nil, -32603, err.Error())
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
