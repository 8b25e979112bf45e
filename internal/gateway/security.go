package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/toolmesh/toolmesh/internal/gateway/authn"
	"github.com/toolmesh/toolmesh/internal/gateway/session"
	"github.com/toolmesh/toolmesh/internal/ir"
)

// errSessionForeign marks a session id presented by a principal it was not issued to.
var errSessionForeign = session.ErrWrongPrincipal

// oidcAuthenticator adapts authn.Authenticator.
type oidcAuthenticator struct{ a *authn.Authenticator }

func (o *oidcAuthenticator) authenticate(ctx context.Context, bearer string) (*caller, error) {
	p, err := o.a.Authenticate(ctx, bearer)
	if err != nil {
		return nil, err
	}
	return &caller{key: p.ID(), subject: p.Subject, username: p.Username, groups: p.Groups,
		claims: p.Claims, token: p.Token, anonymous: p.Anonymous, native: p}, nil
}

func (s *Server) buildAuthenticator(ctx context.Context, a ir.Authentication, prev authenticator) (authenticator, error) {
	if len(a.OIDC) == 0 {
		return nil, nil
	}
	if prev != nil {
		return prev, nil
	}
	var pcs []authn.ProviderConfig
	for i, p := range a.OIDC {
		pc := authn.ProviderConfig{Issuer: p.Issuer, Audiences: p.Audiences, JWKSURI: p.JWKSURI,
			UsernameClaim: p.UsernameClaim, GroupsClaim: p.GroupsClaim, Algorithms: p.Algorithms}
		switch {
		case p.CABundlePEM != "":
			pc.CABundlePEM = []byte(p.CABundlePEM)
		case p.CABundleFile != "":
			b, err := os.ReadFile(p.CABundleFile)
			if err != nil {
				return nil, fmt.Errorf("authentication.oidc[%d].caBundleFile: %w", i, err)
			}
			pc.CABundlePEM = b
		}
		pcs = append(pcs, pc)
	}
	au, err := authn.NewAuthenticator(ctx, pcs, authn.Options{})
	if err != nil {
		return nil, fmt.Errorf("authentication: %w", err)
	}
	return &oidcAuthenticator{a: au}, nil
}

func sameAuthentication(a, b ir.Authentication) bool { return reflect.DeepEqual(a.OIDC, b.OIDC) }

func sameBackends(a, b []ir.Backend) bool { return reflect.DeepEqual(a, b) }

func reasonLabel(err error) string {
	if r := authn.ReasonOf(err); r != "" {
		return string(r)
	}
	return "other"
}

// sessionKeys returns the session keys: the Options override, the keys of the configured file,
// or the process's random key. The file holds one key (raw, at least 32 bytes, or base64 of
// them), or several base64 keys one per line: the first seals new sessions and the others still
// open existing ones, so a key can be rotated without ending sessions.
func (s *Server) sessionKeys(cfg ir.Session) ([][]byte, error) {
	if s.opts.SessionKey != nil {
		return [][]byte{s.opts.SessionKey}, nil
	}
	if cfg.KeyFile == "" {
		return [][]byte{s.randomKey}, nil
	}
	raw, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("session.keyFile: %w", err)
	}
	trimmed := bytes.TrimSpace(raw)
	var keys [][]byte
	for _, line := range strings.Fields(string(trimmed)) {
		dec, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(dec) < session.MinKeyBytes {
			keys = nil
			break
		}
		keys = append(keys, dec)
	}
	if len(keys) > 0 {
		return keys, nil
	}
	if len(trimmed) < session.MinKeyBytes {
		return nil, fmt.Errorf("session.keyFile: key must have at least %d bytes", session.MinKeyBytes)
	}
	return [][]byte{trimmed}, nil
}

// clientKey is a reserved backends entry (backend names are DNS labels) that records what the
// client declared at initialize, for example whether it can answer elicitation requests.
const clientKey = "~client"

// aeadSealer adapts session.Sealer.
type aeadSealer struct{ s *session.Sealer }

func newSealer(keys [][]byte) (sealer, error) {
	s, err := session.NewSealer(keys[0], keys[1:]...)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return &aeadSealer{s: s}, nil
}

func (a *aeadSealer) seal(st *sessionState) (string, error) {
	out := session.State{Principal: st.principal, Route: st.route, ProtocolVersion: st.protocolVersion,
		Expires: st.expires, Backends: map[string]session.BackendSession{}}
	for k, v := range st.backends {
		out.Backends[k] = session.BackendSession{SessionID: v.sessionID, Endpoint: v.endpoint}
	}
	if st.elicit {
		out.Backends[clientKey] = session.BackendSession{SessionID: "elicitation"}
	}
	tok, err := a.s.Seal(out)
	if err != nil {
		return "", fmt.Errorf("seal session: %w", err)
	}
	return tok, nil
}

func (a *aeadSealer) open(token, principal string) (*sessionState, error) {
	st, err := a.s.Open(token, principal)
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	out := &sessionState{principal: st.Principal, route: st.Route, protocolVersion: st.ProtocolVersion,
		expires: st.Expires, backends: map[string]backendSession{}}
	for k, v := range st.Backends {
		if k == clientKey {
			out.elicit = strings.Contains(v.SessionID, "elicitation")
			continue
		}
		out.backends[k] = backendSession{sessionID: v.SessionID, endpoint: v.Endpoint}
	}
	return out, nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
