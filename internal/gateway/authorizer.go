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

// layeredAuthorizer requires every layer to allow: the gateway's policies, then the route's. A
// route can only narrow what its gateway allows — neither its permits nor its Audit mode can
// widen the gateway's Enforce — so a team that owns a route cannot undo the platform's policy.
type layeredAuthorizer []*cedarAuthorizer

func (l layeredAuthorizer) decide(c *caller, action, route, server string, res resourceRef, args map[string]any) decision {
	var out decision
	for _, layer := range l {
		d := layer.decide(c, action, route, server, res, args)
		out.audited = out.audited || d.audited
		out.reasons = append(out.reasons, d.reasons...)
		if !d.allowed {
			out.allowed = false
			return out
		}
		out.allowed = true
	}
	return out
}

// buildAuthorizer compiles the gateway's and the route's policies, each with its own mode, into
// layers that must all allow; nil when neither has policies (every call is allowed).
func buildAuthorizer(gw, rt ir.Authorization) (authorizer, error) {
	var layers layeredAuthorizer
	for _, l := range []struct {
		az   ir.Authorization
		what string
	}{{gw, "authorization.policies"}, {rt, "the route's authorization.policies"}} {
		if len(l.az.Policies) == 0 {
			continue
		}
		sources := make([]authz.Source, 0, len(l.az.Policies))
		for i, p := range l.az.Policies {
			sources = append(sources, authz.Source{Name: fmt.Sprintf("%s[%d]", l.what, i), Text: p})
		}
		mode := authz.Enforce
		if l.az.Mode == ir.AuthorizationAudit {
			mode = authz.Audit
		}
		e, err := authz.CompileSources(sources, mode)
		if err != nil {
			return nil, fmt.Errorf("compile authorization policies: %w", err)
		}
		layers = append(layers, &cedarAuthorizer{e: e})
	}
	if len(layers) == 0 {
		return nil, nil
	}
	return layers, nil
}
