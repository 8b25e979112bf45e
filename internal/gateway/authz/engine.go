package authz

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
	xast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// idAnnotation is the policy annotation that names a policy.
const idAnnotation = "id"

// policy is one compiled policy: its scope, matched in Go, and its conditions, evaluated by Cedar.
type policy struct {
	id         cedar.PolicyID
	conditions *cedar.Policy // the policy with an unconstrained scope
	principal  scope
	resource   scope
	forbid     bool
	args       argNeed        // the call arguments the conditions read
	actions    []types.String // the actions named by the action scope
	anyAction  bool           // the action scope is unconstrained
}

// newPolicy prepares one parsed policy for evaluation.
func newPolicy(id cedar.PolicyID, p *cedar.Policy) *policy {
	tree := (*xast.Policy)(p.AST())
	pol := &policy{
		id:         id,
		conditions: conditionsOnly(p),
		principal:  newScope(tree.Principal),
		resource:   newScope(tree.Resource),
		forbid:     p.Effect() == cedar.Forbid,
		args:       argumentsRead(string(p.MarshalCedar())),
	}
	pol.actions, pol.anyAction = actionScope(tree)
	return pol
}

// bucket holds the policies that may apply to one action, split by the entity
// their resource scope is anchored to.
type bucket struct {
	unanchored []*policy
	byAnchor   map[types.EntityUID][]*policy
}

// Engine decides requests against a policy set compiled once per config load.
// It is safe for concurrent use.
type Engine struct {
	mode     Mode
	count    int
	byID     map[cedar.PolicyID]*policy
	byAction map[types.String]*bucket
	wildcard *bucket // policies whose action scope is unconstrained
	intern   map[types.EntityUID]int32
	cache    entityCache
	stats    counters
	// noPassCache disables the first-pass cache; benchmarks use it to measure cold decisions.
	noPassCache bool
}

// counters are the engine's decision counts.
type counters struct {
	allowed, denied, audited, errored atomic.Uint64
}

// Stats are an engine's decision counts since it was compiled.
type Stats struct {
	// Allowed counts requests the policies allowed.
	Allowed uint64
	// Denied counts requests denied in Enforce mode.
	Denied uint64
	// Audited counts requests the policies denied but Audit mode allowed.
	Audited uint64
	// Errored counts decisions in which at least one policy failed to evaluate.
	Errored uint64
}

// Compile parses Cedar policy documents, one per element of policies, named
// "policies[i]" in errors. An empty set of policies allows every request.
func Compile(policies []string, mode Mode) (*Engine, error) {
	sources := make([]Source, len(policies))
	for i, text := range policies {
		sources[i] = Source{Name: fmt.Sprintf("policies[%d]", i), Text: text}
	}
	return CompileSources(sources, mode)
}

// CompileSources parses named Cedar policy documents. A policy's id is its
// @id("...") annotation, or "<source name>/<n>" for the n-th policy of a document.
// A failing document is reported as a *CompileError naming it.
func CompileSources(sources []Source, mode Mode) (*Engine, error) {
	switch mode {
	case Enforce, Audit:
	case "":
		mode = Enforce
	default:
		return nil, fmt.Errorf("compile policies: mode %q is neither %s nor %s", mode, Enforce, Audit)
	}
	e := &Engine{mode: mode, byID: map[cedar.PolicyID]*policy{}}
	var all []*policy
	for _, src := range sources {
		list, err := cedar.NewPolicyListFromBytes(src.Name, []byte(src.Text))
		if err != nil {
			return nil, &CompileError{Source: src.Name, Err: err}
		}
		for n, p := range list {
			id := cedar.PolicyID(fmt.Sprintf("%s/%d", src.Name, n))
			if v, ok := p.Annotations()[idAnnotation]; ok {
				id = cedar.PolicyID(v)
			}
			if _, dup := e.byID[id]; dup {
				return nil, &CompileError{Source: src.Name, Err: fmt.Errorf("policy id %q is used twice", id)}
			}
			pol := newPolicy(id, p)
			e.byID[id] = pol
			all = append(all, pol)
		}
	}
	e.count = len(all)
	e.index(all)
	e.internPrincipals(all)
	e.cache.init(e.intern)
	return e, nil
}

// internPrincipals numbers the entities named in principal scopes so that
// matching a principal is a comparison of integers.
func (e *Engine) internPrincipals(all []*policy) {
	e.intern = map[types.EntityUID]int32{}
	for _, pol := range all {
		if pol.principal.kind == scopeAll || pol.principal.kind == scopeIs {
			continue
		}
		id, ok := e.intern[pol.principal.uid]
		if !ok {
			id = int32(len(e.intern))
			e.intern[pol.principal.uid] = id
		}
		pol.principal.id = id
	}
}

// index builds the per-action buckets. Actions have no parents in this model,
// so "action in A" matches exactly A, and a policy naming only other actions
// can never apply to a request for a given action.
func (e *Engine) index(all []*policy) {
	e.wildcard = &bucket{byAnchor: map[types.EntityUID][]*policy{}}
	e.byAction = map[types.String]*bucket{}
	named := map[types.String][]*policy{}
	var wildcard []*policy
	for _, pol := range all {
		if pol.anyAction {
			wildcard = append(wildcard, pol)
			e.wildcard.add(pol)
			continue
		}
		for _, a := range pol.actions {
			named[a] = append(named[a], pol)
		}
	}
	for a, pols := range named {
		b := &bucket{byAnchor: map[types.EntityUID][]*policy{}}
		for _, pol := range slices.Concat(wildcard, pols) {
			b.add(pol)
		}
		e.byAction[a] = b
	}
}

// actionScope returns the action names a policy's action scope admits, or
// anyAction=true for an unconstrained scope.
func actionScope(tree *xast.Policy) (names []types.String, anyAction bool) {
	var uids []types.EntityUID
	switch s := tree.Action.(type) {
	case xast.ScopeTypeEq:
		uids = []types.EntityUID{s.Entity}
	case xast.ScopeTypeIn:
		uids = []types.EntityUID{s.Entity}
	case xast.ScopeTypeInSet:
		uids = s.Entities
	default:
		return nil, true
	}
	for _, u := range uids {
		if u.Type == TypeAction {
			names = append(names, u.ID)
		}
	}
	return names, false
}

// add files a policy under the entity its resource scope is anchored to.
func (b *bucket) add(pol *policy) {
	anchor, ok := pol.resource.anchor()
	if !ok {
		b.unanchored = append(b.unanchored, pol)
		return
	}
	b.byAnchor[anchor] = append(b.byAnchor[anchor], pol)
}

// Mode returns the engine's mode.
func (e *Engine) Mode() Mode { return e.mode }

// Len returns the number of compiled policies.
func (e *Engine) Len() int { return e.count }

// Stats returns the engine's decision counts.
func (e *Engine) Stats() Stats {
	return Stats{
		Allowed: e.stats.allowed.Load(),
		Denied:  e.stats.denied.Load(),
		Audited: e.stats.audited.Load(),
		Errored: e.stats.errored.Load(),
	}
}

// Decide authorizes one request. A nil Engine or an empty policy set allows
// everything; otherwise a request is allowed when a permit policy is satisfied
// and no forbid policy is satisfied or fails to evaluate.
func (e *Engine) Decide(req Request) Decision {
	if e == nil || e.count == 0 {
		return Decision{Allowed: true}
	}
	d := e.evaluate(req)
	if len(d.Errors) > 0 {
		e.stats.errored.Add(1)
	}
	return e.applyMode(d)
}

// applyMode counts a decision and turns a denial into an audited allowance in Audit mode.
func (e *Engine) applyMode(d Decision) Decision {
	switch {
	case d.Allowed:
		e.stats.allowed.Add(1)
	case e.mode == Audit:
		e.stats.audited.Add(1)
		d.Allowed, d.Audited = true, true
	default:
		e.stats.denied.Add(1)
	}
	return d
}

// Allows reports whether the policies allow req, ignoring Audit mode and
// without counting it; it is meant for filtering lists.
func (e *Engine) Allows(req Request) bool {
	if e == nil || e.count == 0 {
		return true
	}
	return e.evaluate(req).Allowed
}

// Filter returns the items of a list answer the caller may use: those for which
// the request req, with its Resource set to ref(item), is allowed. Set
// req.Action to the use action (see UseAction). In Audit mode nothing is hidden.
func Filter[T any](e *Engine, req Request, items []T, ref func(T) ResourceRef) []T {
	if e == nil || e.count == 0 || e.mode == Audit {
		return items
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		req.Resource = ref(it)
		if e.Allows(req) {
			out = append(out, it)
		}
	}
	return out
}

// resourceUID returns the entity the request targets: the resource, or the route when there is none.
func resourceUID(req Request) types.EntityUID {
	if req.Resource.Kind == "" {
		return types.NewEntityUID(TypeRoute, types.String(req.Route))
	}
	return types.NewEntityUID(types.EntityType(req.Resource.Kind), types.String(req.Resource.Name))
}

// requestEntities is the entity store of one request: the principal and the resource.
// Groups, servers and routes need no entries: they have no attributes or parents.
type requestEntities struct {
	principal, resource types.Entity
}

// Get implements types.EntityGetter.
func (r *requestEntities) Get(uid types.EntityUID) (types.Entity, bool) {
	switch uid {
	case r.principal.UID:
		return r.principal, true
	case r.resource.UID:
		return r.resource, true
	default:
		return types.Entity{}, false
	}
}
