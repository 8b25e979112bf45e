package gateway

import (
	"fmt"

	"github.com/toolmesh/toolmesh/internal/gateway/authn"
	"github.com/toolmesh/toolmesh/internal/gateway/authz"
	"github.com/toolmesh/toolmesh/internal/ir"
)

// anonymousPrincipal is shared by every anonymous call, so the engine's entity cache (keyed by
// principal) holds one entry for all of them.
var anonymousPrincipal = authn.Anonymous()

// cedarAuthorizer adapts authz.Engine.
type cedarAuthorizer struct{ e *authz.Engine }

func (a *cedarAuthorizer) decide(c *caller, action, route, server string, res resourceRef, args map[string]any) decision {
	p, _ := c.native.(*authn.Principal)
	if p == nil {
		p = anonymousPrincipal
	}
	d := a.e.Decide(authz.Request{
		Principal: p,
		Action:    action,
		Route:     route,
		Server:    server,
		Resource: authz.ResourceRef{Kind: res.kind, Name: res.name, ReadOnly: res.readOnly,
			Destructive: res.destructive, Idempotent: res.idempotent, OpenWorld: res.openWorld},
		Arguments: args,
	})
	return decision{allowed: d.Allowed, audited: d.Audited, reasons: d.Reasons}
}

// buildAuthorizer compiles the gateway's and the route's policies into one engine; nil when there
// are none (every call is allowed). The route's mode wins over the gateway's.
func buildAuthorizer(gw, rt ir.Authorization) (authorizer, error) {
	var sources []authz.Source
	for i, p := range gw.Policies {
		sources = append(sources, authz.Source{Name: fmt.Sprintf("authorization.policies[%d]", i), Text: p})
	}
	for i, p := range rt.Policies {
		sources = append(sources, authz.Source{Name: fmt.Sprintf("authorization.policies[%d] of the route", i), Text: p})
	}
	if len(sources) == 0 {
		return nil, nil
	}
	mode := authz.Enforce
	if m := rt.Mode; m == ir.AuthorizationAudit || (m == "" && gw.Mode == ir.AuthorizationAudit) {
		mode = authz.Audit
	}
	e, err := authz.CompileSources(sources, mode)
	if err != nil {
		return nil, fmt.Errorf("compile authorization policies: %w", err)
	}
	return &cedarAuthorizer{e: e}, nil
}
