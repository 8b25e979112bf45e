package authz

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"sync"

	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolmesh/toolmesh/internal/gateway/authn"
)

// Bounds on what reaches policies.
const (
	// MaxArgumentDepth is the deepest nesting of call arguments converted into context.arguments.
	MaxArgumentDepth = 8
	// MaxArgumentValues is the largest number of argument values converted; the rest are dropped.
	MaxArgumentValues = 1024
	// maxCachedEntities bounds each entity cache; a full cache is emptied.
	maxCachedEntities = 8192
	// maxClaimValues bounds the claims copied into principal.claims.
	maxClaimValues = 64
)

// resourceKey identifies a resource entity in the cache.
type resourceKey struct {
	ref           ResourceRef
	server, route string
}

// entityCache memoises principal and resource entities, whose Cedar records are
// costly to build. Principals are keyed by pointer: the authenticator's token
// cache hands out one *authn.Principal per token.
type entityCache struct {
	mu         sync.RWMutex
	passes     map[decisionKey]*firstPass
	principals map[*authn.Principal]*principalEntry
	resources  map[resourceKey]types.Entity
	contexts   map[string]types.Record // argument-free context per route
	anonymous  *principalEntry
	intern     map[types.EntityUID]int32
}

// principalEntry is a principal's entity with the interned ids of itself and of
// its groups, which are all its ancestors; -1 and absent mean "named by no policy".
type principalEntry struct {
	entity   types.Entity
	id       int32
	groupIDs []int32
}

func (c *entityCache) init(intern map[types.EntityUID]int32) {
	c.intern = intern
	c.principals = map[*authn.Principal]*principalEntry{}
	c.resources = map[resourceKey]types.Entity{}
	c.contexts = map[string]types.Record{}
	c.passes = map[decisionKey]*firstPass{}
	c.anonymous = c.principalEntry(authn.Anonymous())
}

// decisionKey identifies the first pass of a decision: Cedar is deterministic,
// so policies that do not read the arguments decide the same way every time.
type decisionKey struct {
	principal *principalEntry
	action    string
	resource  resourceKey
}

// firstPass returns the cached first pass for key, or nil.
func (c *entityCache) firstPass(key decisionKey) *firstPass {
	c.mu.RLock()
	fp := c.passes[key]
	c.mu.RUnlock()
	return fp
}

// storeFirstPass caches a first pass.
func (c *entityCache) storeFirstPass(key decisionKey, fp *firstPass) {
	c.mu.Lock()
	if len(c.passes) >= maxCachedEntities {
		clear(c.passes)
	}
	c.passes[key] = fp
	c.mu.Unlock()
}

// principal returns the entity of p, building and caching it on first use.
func (c *entityCache) principal(p *authn.Principal) *principalEntry {
	if p == nil || p.Anonymous {
		return c.anonymous
	}
	c.mu.RLock()
	ent, ok := c.principals[p]
	c.mu.RUnlock()
	if ok {
		return ent
	}
	ent = c.principalEntry(p)
	c.mu.Lock()
	if len(c.principals) >= maxCachedEntities {
		clear(c.principals)
	}
	c.principals[p] = ent
	c.mu.Unlock()
	return ent
}

// resource returns the entity of the request's resource.
func (c *entityCache) resource(req Request, uid types.EntityUID) types.Entity {
	if req.Resource.Kind == "" {
		return types.Entity{UID: uid, Attributes: types.NewRecord(types.RecordMap{"name": types.String(req.Route)})}
	}
	key := resourceKey{ref: req.Resource, server: req.Server, route: req.Route}
	c.mu.RLock()
	ent, ok := c.resources[key]
	c.mu.RUnlock()
	if ok {
		return ent
	}
	ent = resourceEntity(req, uid)
	c.mu.Lock()
	if len(c.resources) >= maxCachedEntities {
		clear(c.resources)
	}
	c.resources[key] = ent
	c.mu.Unlock()
	return ent
}

// principalEntry builds User::"<sub>" (or Anonymous::"anonymous") with its groups as parents.
func (c *entityCache) principalEntry(p *authn.Principal) *principalEntry {
	typ := types.EntityType(TypeUser)
	if p.Anonymous {
		typ = TypeAnonymous
	}
	groups := make([]types.Value, 0, len(p.Groups))
	parents := make([]types.EntityUID, 0, len(p.Groups))
	for _, g := range p.Groups {
		groups = append(groups, types.String(g))
		parents = append(parents, types.NewEntityUID(TypeGroup, types.String(g)))
	}
	attrs := types.RecordMap{
		"subject":   types.String(p.Subject),
		"username":  types.String(p.Username),
		"issuer":    types.String(p.Issuer),
		"anonymous": types.Boolean(p.Anonymous),
		"groups":    types.NewSet(groups...),
		"claims":    claimsRecord(p.Claims),
	}
	if email, ok := p.Claims["email"].(string); ok {
		attrs["email"] = types.String(email)
	}
	pe := &principalEntry{
		entity: types.Entity{
			UID:        types.NewEntityUID(typ, types.String(p.Subject)),
			Parents:    types.NewEntityUIDSet(parents...),
			Attributes: types.NewRecord(attrs),
		},
		id: -1,
	}
	if id, ok := c.intern[pe.entity.UID]; ok {
		pe.id = id
	}
	for _, g := range parents {
		if id, ok := c.intern[g]; ok {
			pe.groupIDs = append(pe.groupIDs, id)
		}
	}
	return pe
}

// claimsRecord copies the top-level claims into a record, bounded in depth and size.
func claimsRecord(claims map[string]any) types.Record {
	budget := maxClaimValues
	v, _ := toValue(claims, 2, &budget)
	if r, ok := v.(types.Record); ok {
		return r
	}
	return types.NewRecord(nil)
}

// resourceEntity builds Tool::"<name>" (or Resource::, Prompt::) in Server::"<server>" and Route::"<route>".
func resourceEntity(req Request, uid types.EntityUID) types.Entity {
	r := req.Resource
	parents := []types.EntityUID{types.NewEntityUID(TypeRoute, types.String(req.Route))}
	if req.Server != "" {
		parents = append(parents, types.NewEntityUID(TypeServer, types.String(req.Server)))
	}
	return types.Entity{
		UID:     uid,
		Parents: types.NewEntityUIDSet(parents...),
		Attributes: types.NewRecord(types.RecordMap{
			"name":        types.String(r.Name),
			"kind":        types.String(r.Kind),
			"server":      types.String(req.Server),
			"route":       types.String(req.Route),
			"readOnly":    types.Boolean(r.ReadOnly),
			"destructive": types.Boolean(r.Destructive),
			"idempotent":  types.Boolean(r.Idempotent),
			"openWorld":   types.Boolean(r.OpenWorld),
		}),
	}
}

// argNeed says which call arguments policies read.
type argNeed struct {
	all  bool     // the whole arguments record (or argumentsTruncated)
	keys []string // these top-level keys
}

// merge adds what another policy reads.
func (a *argNeed) merge(b argNeed) {
	a.all = a.all || b.all
	if !a.all {
		a.keys = append(a.keys, b.keys...)
	}
}

// none reports that no argument is read.
func (a argNeed) none() bool { return !a.all && len(a.keys) == 0 }

// argumentRef matches the ways a policy (in canonical Cedar text) reads one top-level argument.
var argumentRef = regexp.MustCompile(`context\.arguments(?:\.([A-Za-z_][A-Za-z0-9_]*)|\s+has\s+([A-Za-z_][A-Za-z0-9_]*)|\s+has\s+"([^"\\]*)"|\["([^"\\]*)"\])`)

// argumentsRead returns which call arguments a policy's canonical text reads:
// the keys named in context.arguments.k, context.arguments["k"] and
// context.arguments has k, or all of them when "arguments" appears in any other
// way (the whole record, argumentsTruncated, an escaped key, a string literal).
func argumentsRead(text string) argNeed {
	total := strings.Count(text, "arguments")
	if total == 0 {
		return argNeed{}
	}
	matches := argumentRef.FindAllStringSubmatch(text, -1)
	if len(matches) != total {
		return argNeed{all: true}
	}
	var need argNeed
	for _, m := range matches {
		for _, g := range m[1:] {
			if g != "" {
				need.keys = append(need.keys, g)
			}
		}
	}
	return need
}

// context builds the request context: the route, and the call arguments the
// candidate policies read. Arguments no policy reads are not converted.
func (e *Engine) context(req Request, need argNeed) types.Record {
	if need.none() || len(req.Arguments) == 0 {
		return e.routeContext(req.Route)
	}
	budget := MaxArgumentValues
	if need.all {
		v, complete := toValue(req.Arguments, MaxArgumentDepth, &budget)
		args, ok := v.(types.Record)
		if !ok {
			args = types.NewRecord(nil)
		}
		return contextRecord(req, args, !complete)
	}
	rm := make(types.RecordMap, len(need.keys))
	for _, k := range need.keys {
		v, ok := req.Arguments[k]
		if _, done := rm[types.String(k)]; !ok || done {
			continue
		}
		if cv, _ := toValue(v, MaxArgumentDepth-1, &budget); cv != nil {
			rm[types.String(k)] = cv
		}
	}
	return contextRecord(req, types.NewRecord(rm), false)
}

// routeContext returns the cached context of a call without arguments.
func (e *Engine) routeContext(route string) types.Record {
	e.cache.mu.RLock()
	rec, ok := e.cache.contexts[route]
	e.cache.mu.RUnlock()
	if ok {
		return rec
	}
	rec = contextRecord(Request{Route: route}, types.NewRecord(nil), false)
	e.cache.mu.Lock()
	if len(e.cache.contexts) >= maxCachedEntities {
		clear(e.cache.contexts)
	}
	e.cache.contexts[route] = rec
	e.cache.mu.Unlock()
	return rec
}

// contextRecord assembles the context record: route and arguments, plus
// argumentsTruncated (true) only when arguments were cut to the bounds.
func contextRecord(req Request, args types.Record, truncated bool) types.Record {
	m := types.RecordMap{
		"route":     types.String(req.Route),
		"arguments": args,
	}
	if truncated {
		m["argumentsTruncated"] = types.True
	}
	return types.NewRecord(m)
}

// toValue converts decoded JSON into a Cedar value. Arrays become sets, null
// and values nested deeper than depth or beyond the budget are dropped;
// complete is false when anything was dropped.
func toValue(v any, depth int, budget *int) (types.Value, bool) {
	if *budget <= 0 {
		return nil, false
	}
	*budget--
	switch t := v.(type) {
	case nil:
		return nil, true
	case string:
		return types.String(t), true
	case bool:
		return types.Boolean(t), true
	case float64:
		return number(t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return types.Long(i), true
		}
		f, err := t.Float64()
		if err != nil {
			return nil, false
		}
		return number(f)
	case int:
		return types.Long(t), true
	case int64:
		return types.Long(t), true
	case map[string]any:
		return toRecord(t, depth, budget)
	case []any:
		return toSet(t, depth, budget)
	default:
		return nil, false
	}
}

// toRecord converts a JSON object.
func toRecord(m map[string]any, depth int, budget *int) (types.Value, bool) {
	if depth <= 0 {
		return nil, false
	}
	complete := true
	rm := make(types.RecordMap, len(m))
	for k, e := range m {
		cv, ok := toValue(e, depth-1, budget)
		complete = complete && ok
		if cv != nil {
			rm[types.String(k)] = cv
		}
	}
	return types.NewRecord(rm), complete
}

// toSet converts a JSON array.
func toSet(a []any, depth int, budget *int) (types.Value, bool) {
	if depth <= 0 {
		return nil, false
	}
	complete := true
	vals := make([]types.Value, 0, len(a))
	for _, e := range a {
		cv, ok := toValue(e, depth-1, budget)
		complete = complete && ok
		if cv != nil {
			vals = append(vals, cv)
		}
	}
	return types.NewSet(vals...), complete
}

// number converts a JSON number: integral values within ±2^53 become Long,
// others Decimal; values a Decimal cannot hold are dropped.
func number(f float64) (types.Value, bool) {
	if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return types.Long(int64(f)), true
	}
	d, err := types.NewDecimalFromFloat(f)
	if err != nil {
		return nil, false
	}
	return d, true
}
