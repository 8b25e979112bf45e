package gateway

import (
	"context"
	"time"
)

// caller is what the gateway knows about the client making a request.
type caller struct {
	// key identifies the principal in sessions, rate limits and audit lines (issuer#subject).
	key string
	// subject and username are for audit lines.
	subject, username string
	groups            []string
	claims            map[string]any
	// token is the raw bearer; it is only ever forwarded with Passthrough backend auth.
	token     string
	anonymous bool
	// native is the authentication library's principal, handed to the authorizer.
	native any
}

// authenticator verifies bearer tokens.
type authenticator interface {
	authenticate(ctx context.Context, bearer string) (*caller, error)
}

// resourceRef names what a call touches, for authorization.
type resourceRef struct {
	kind                                         string // Tool, Resource or Prompt
	name                                         string
	server                                       string
	readOnly, destructive, idempotent, openWorld bool
}

// decision is an authorization outcome.
type decision struct {
	allowed bool
	audited bool
	reasons []string
}

// authorizer decides whether a caller may perform an action.
type authorizer interface {
	decide(c *caller, action, route, server string, res resourceRef, args map[string]any) decision
}

// backendSession is one backend's part of a client session.
type backendSession struct {
	sessionID string
	endpoint  string
}

// sessionState is what a sealed client-facing session id carries.
type sessionState struct {
	principal       string
	route           string
	backends        map[string]backendSession
	protocolVersion string
	expires         time.Time
	// elicit records that the client declared the elicitation capability at initialize.
	elicit bool
}

// sealer turns session state into an opaque client-facing id and back.
type sealer interface {
	seal(st *sessionState) (string, error)
	// open returns errSessionForeign when the id was issued to another principal.
	open(token, principal string) (*sessionState, error)
}
