package authz

import (
	"iter"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

// verdict is what a set of policies said about one request.
type verdict struct {
	forbids []string // satisfied forbids, and forbids that failed to evaluate
	permits []string // satisfied permits (unknown once a forbid is satisfied)
	errors  []string // policies that failed to evaluate
}

// merge combines the verdicts of two disjoint policy sets.
func (v verdict) merge(o verdict) verdict {
	return verdict{
		forbids: append(v.forbids[:len(v.forbids):len(v.forbids)], o.forbids...),
		permits: append(v.permits[:len(v.permits):len(v.permits)], o.permits...),
		errors:  append(v.errors[:len(v.errors):len(v.errors)], o.errors...),
	}
}

// decision applies Cedar's rules, failing closed: any satisfied or failing
// forbid denies; otherwise a satisfied permit allows; otherwise deny. The
// slices are shared with the decision cache, so they are copied.
func (v verdict) decision() Decision {
	d := Decision{Errors: clone(v.errors)}
	switch {
	case len(v.forbids) > 0:
		d.Reasons = clone(v.forbids)
	case len(v.permits) > 0:
		d.Allowed, d.Reasons = true, clone(v.permits)
	}
	return d
}

func clone(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

// firstPass is the cached part of a decision: the verdict of the candidate
// policies that do not read the call's arguments, and the candidates that do.
type firstPass struct {
	verdict
	argReaders []*policy
	argNeed    argNeed
	argForbids bool // some argument reader is a forbid
}

// final reports whether the first pass decides the request whatever the
// argument readers say: a forbid already applies, there are no argument
// readers, or a permit applies and no argument reader can forbid.
func (f *firstPass) final() bool {
	return len(f.forbids) > 0 || len(f.argReaders) == 0 || (len(f.permits) > 0 && !f.argForbids)
}

// evaluate decides req by the policies alone, ignoring the mode.
//
// Only candidates (policies whose scopes match) reach Cedar, in two passes: the
// policies that do not read the call's arguments are decided on cached
// entities, and that pass is cached per principal, action and resource; the
// policies that read arguments run only when they can still change the
// outcome, and only then are the arguments converted. The decision is exactly
// Cedar's over the whole set (TestIndexMatchesCedar); Reasons may then name a
// sufficient subset of the deciding policies.
func (e *Engine) evaluate(req Request) Decision {
	res := resourceUID(req)
	pe := e.cache.principal(req.Principal)
	key := decisionKey{principal: pe, action: req.Action, resource: resourceKey{ref: req.Resource, server: req.Server, route: req.Route}}
	var fp *firstPass
	if !e.noPassCache {
		fp = e.cache.firstPass(key)
	}
	var ents *requestEntities
	if fp == nil {
		free, readers := e.candidates(req, res, pe)
		fp = &firstPass{argReaders: readers}
		for _, pol := range readers {
			fp.argNeed.merge(pol.args)
			fp.argForbids = fp.argForbids || pol.forbid
		}
		if len(free) > 0 {
			ents = e.entities(req, res, pe)
			fp.verdict = e.run(free, ents, e.request(req, res, pe, e.routeContext(req.Route)))
		}
		if !e.noPassCache {
			e.cache.storeFirstPass(key, fp)
		}
	}
	if fp.final() {
		return fp.decision()
	}
	if ents == nil {
		ents = e.entities(req, res, pe)
	}
	second := e.run(fp.argReaders, ents, e.request(req, res, pe, e.context(req, fp.argNeed)))
	return fp.merge(second).decision()
}

// entities returns the entity store of a request.
func (e *Engine) entities(req Request, res types.EntityUID, pe *principalEntry) *requestEntities {
	return &requestEntities{principal: pe.entity, resource: e.cache.resource(req, res)}
}

// request builds the Cedar request.
func (e *Engine) request(req Request, res types.EntityUID, pe *principalEntry, ctx types.Record) cedar.Request {
	return cedar.Request{
		Principal: pe.entity.UID,
		Action:    types.NewEntityUID(TypeAction, types.String(req.Action)),
		Resource:  res,
		Context:   ctx,
	}
}

// run evaluates policies with cedar.Authorize and reads its diagnostic.
func (e *Engine) run(list []*policy, ents *requestEntities, creq cedar.Request) verdict {
	decision, diag := cedar.Authorize(policyList(list), ents, creq)
	var v verdict
	for _, pe := range diag.Errors {
		v.errors = append(v.errors, string(pe.PolicyID))
		if e.byID[pe.PolicyID].forbid {
			v.forbids = append(v.forbids, string(pe.PolicyID))
		}
	}
	for _, r := range diag.Reasons {
		if decision == cedar.Allow {
			v.permits = append(v.permits, string(r.PolicyID))
		} else {
			v.forbids = append(v.forbids, string(r.PolicyID))
		}
	}
	return v
}

// policyList implements cedar.PolicyIterator over candidate policies, yielding
// their conditions: their scopes have already been matched.
type policyList []*policy

// All yields each policy's conditions under its id.
func (l policyList) All() iter.Seq2[cedar.PolicyID, *cedar.Policy] {
	return func(yield func(cedar.PolicyID, *cedar.Policy) bool) {
		for _, pol := range l {
			if !yield(pol.id, pol.conditions) {
				return
			}
		}
	}
}

// candidates returns the policies whose principal, action and resource scopes
// match the request, split into those that do not read the call's arguments
// and those that do. The action and the resource anchor narrow the search
// through the index; the scopes are then matched exactly.
func (e *Engine) candidates(req Request, res types.EntityUID, pe *principalEntry) (free, argReaders []*policy) {
	b, ok := e.byAction[types.String(req.Action)]
	if !ok {
		b = e.wildcard
	}
	add := func(list []*policy, atResource, atAncestor bool) {
		for _, pol := range list {
			if !pol.principal.matchesPrincipal(pe) || !pol.resource.matchesResource(res.Type, atResource, atAncestor) {
				continue
			}
			if pol.args.none() {
				free = append(free, pol)
			} else {
				argReaders = append(argReaders, pol)
			}
		}
	}
	add(b.unanchored, false, false)
	add(b.byAnchor[res], true, false)
	if req.Resource.Kind != "" {
		add(b.byAnchor[types.NewEntityUID(TypeRoute, types.String(req.Route))], false, true)
		if req.Server != "" {
			add(b.byAnchor[types.NewEntityUID(TypeServer, types.String(req.Server))], false, true)
		}
	}
	return free, argReaders
}
