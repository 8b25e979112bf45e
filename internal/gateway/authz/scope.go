package authz

import (
	"slices"

	"github.com/cedar-policy/cedar-go"
	cedarast "github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// scopeKind is the form of a principal or resource scope.
type scopeKind uint8

const (
	scopeAll  scopeKind = iota // principal / resource
	scopeEq                    // == uid
	scopeIn                    // in uid
	scopeIs                    // is Type
	scopeIsIn                  // is Type in uid
)

// scope is a principal or resource scope, matched in Go before Cedar runs.
type scope struct {
	kind scopeKind
	typ  types.EntityType
	uid  types.EntityUID
	id   int32 // the interned uid of a principal scope
}

// newScope reads a principal or resource scope node.
func newScope(node any) scope {
	switch s := node.(type) {
	case xast.ScopeTypeEq:
		return scope{kind: scopeEq, uid: s.Entity}
	case xast.ScopeTypeIn:
		return scope{kind: scopeIn, uid: s.Entity}
	case xast.ScopeTypeIs:
		return scope{kind: scopeIs, typ: s.Type}
	case xast.ScopeTypeIsIn:
		return scope{kind: scopeIsIn, typ: s.Type, uid: s.Entity}
	default:
		return scope{kind: scopeAll}
	}
}

// anchor returns the entity a resource scope is tied to, if any.
func (s scope) anchor() (types.EntityUID, bool) {
	switch s.kind {
	case scopeEq, scopeIn, scopeIsIn:
		return s.uid, true
	default:
		return types.EntityUID{}, false
	}
}

// matchesPrincipal evaluates a principal scope exactly as Cedar would. In this
// model a principal's ancestors are exactly its groups (groups have no parents),
// so membership is a comparison of interned ids.
func (s scope) matchesPrincipal(pe *principalEntry) bool {
	switch s.kind {
	case scopeAll:
		return true
	case scopeEq:
		return pe.id == s.id
	case scopeIn:
		return pe.id == s.id || slices.Contains(pe.groupIDs, s.id)
	case scopeIs:
		return pe.entity.UID.Type == s.typ
	default:
		return pe.entity.UID.Type == s.typ && (pe.id == s.id || slices.Contains(pe.groupIDs, s.id))
	}
}

// matchesResource evaluates a resource scope exactly as Cedar would, given how
// the policy was found: through the index under the resource itself (atResource),
// under one of its ancestors (a server or a route), or unanchored (neither).
func (s scope) matchesResource(typ types.EntityType, atResource, atAncestor bool) bool {
	switch s.kind {
	case scopeAll:
		return true
	case scopeEq:
		return atResource
	case scopeIn:
		return atResource || atAncestor
	case scopeIs:
		return typ == s.typ
	default:
		return typ == s.typ && (atResource || atAncestor)
	}
}

// conditionsOnly returns a copy of p with an unconstrained scope, so that Cedar
// evaluates only its conditions; the scope is matched by scope.matches instead.
func conditionsOnly(p *cedar.Policy) *cedar.Policy {
	stripped := *(*xast.Policy)(p.AST())
	stripped.Principal = xast.ScopeTypeAll{}
	stripped.Action = xast.ScopeTypeAll{}
	stripped.Resource = xast.ScopeTypeAll{}
	return cedar.NewPolicyFromAST((*cedarast.Policy)(&stripped))
}
