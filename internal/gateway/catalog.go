package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxListPages bounds how many pages the gateway follows per backend when merging a list.
const maxListPages = 100

// Conflict is an exposed name offered by two backends of a route; the later backend's item is hidden.
type Conflict struct {
	// Route is the route name.
	Route string `json:"route"`
	// Kind is Tool, Prompt or Resource.
	Kind string `json:"kind"`
	// Name is the exposed name (or URI).
	Name string `json:"name"`
	// Backend is the backend whose item is exposed.
	Backend string `json:"backend"`
	// HiddenBackend is the backend whose item is hidden.
	HiddenBackend string `json:"hiddenBackend"`
}

type listSpec struct {
	key       string // result field holding the items
	kind      string // Tool, Prompt or Resource
	action    string // action authorized to see an item
	nameField string
	prefixed  bool
}

var listSpecs = map[string]listSpec{
	"tools/list":               {key: "tools", kind: "Tool", action: "tools/call", nameField: "name", prefixed: true},
	"prompts/list":             {key: "prompts", kind: "Prompt", action: "prompts/get", nameField: "name", prefixed: true},
	"resources/list":           {key: "resources", kind: "Resource", action: "resources/read", nameField: "uri"},
	"resources/templates/list": {key: "resourceTemplates", kind: "Resource", action: "resources/read", nameField: "uriTemplate"},
}

// toolAnnotations are the MCP tool hints the gateway uses for policy.
type toolAnnotations struct {
	ReadOnlyHint    *bool `json:"readOnlyHint"`
	DestructiveHint *bool `json:"destructiveHint"`
	IdempotentHint  *bool `json:"idempotentHint"`
	OpenWorldHint   *bool `json:"openWorldHint"`
}

func isTrue(b *bool) bool { return b != nil && *b }

// entry is one exposed item and where it comes from.
type entry struct {
	b    *backend
	name string // the backend's own name
	ann  toolAnnotations
	raw  json.RawMessage // the item as exposed to clients
}

// catalog is what a route's backends offer, learned from list calls.
type catalog struct {
	fetched   map[string]time.Time
	items     map[string]map[string]entry // list method -> exposed name -> entry
	order     map[string][]string
	conflicts map[string][]Conflict
}

func (cat *catalog) clone() *catalog {
	n := &catalog{fetched: map[string]time.Time{}, items: map[string]map[string]entry{},
		order: map[string][]string{}, conflicts: map[string][]Conflict{}}
	if cat == nil {
		return n
	}
	for k, v := range cat.fetched {
		n.fetched[k] = v
	}
	for k, v := range cat.items {
		n.items[k] = v
	}
	for k, v := range cat.order {
		n.order[k] = v
	}
	for k, v := range cat.conflicts {
		n.conflicts[k] = v
	}
	return n
}

// Conflicts lists every naming conflict in the route's catalog.
func (cat *catalog) allConflicts() []Conflict {
	if cat == nil {
		return nil
	}
	var out []Conflict
	for _, k := range sortedKeys(cat.conflicts) {
		out = append(out, cat.conflicts[k]...)
	}
	return out
}

// list answers a */list request with the merged, filtered items of every backend.
func (c *call) list(w http.ResponseWriter) {
	ctx, cancel := c.fanoutTimeout()
	defer cancel()
	cat, extra, err := c.refresh(ctx, c.msg.Method)
	if err != nil {
		c.failBackend(w, err)
		return
	}
	spec := listSpecs[c.msg.Method]
	items := make([]json.RawMessage, 0, len(cat.order[c.msg.Method]))
	for _, name := range cat.order[c.msg.Method] {
		e := cat.items[c.msg.Method][name]
		if d := c.authorize(spec.action, e.b, c.resourceFor(spec.kind, name, e), nil, false); d.allowed {
			items = append(items, e.raw)
		}
	}
	if extra == nil {
		extra = map[string]json.RawMessage{}
	}
	items, next, ok := page(items, c.msg.Params)
	if !ok {
		c.fail(w, CodeInvalidParams, "invalid cursor", nil, "invalid_params")
		return
	}
	if next != "" {
		extra["nextCursor"], _ = json.Marshal(next)
	}
	extra[spec.key], _ = json.Marshal(items)
	b, _ := json.Marshal(extra)
	c.writeResult(w, b)
}

// listPageSize is the number of items per page of a merged list.
var listPageSize = 500

// page cuts the merged items at the client's cursor (an opaque offset) and returns the cursor of
// the next page, if any.
func page(items []json.RawMessage, params json.RawMessage) ([]json.RawMessage, string, bool) {
	var p struct {
		Cursor string `json:"cursor"`
	}
	_ = json.Unmarshal(params, &p)
	start := 0
	if p.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil || !strings.HasPrefix(string(b), "tm:") {
			return nil, "", false
		}
		if start, err = strconv.Atoi(string(b[3:])); err != nil || start < 0 || start > len(items) {
			return nil, "", false
		}
	}
	end := min(start+listPageSize, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("tm:" + strconv.Itoa(end)))
	}
	return items[start:end], next, true
}

func (c *call) resourceFor(kind, exposed string, e entry) resourceRef {
	return resourceRef{kind: kind, name: exposed, server: e.b.cfg.Name,
		readOnly: isTrue(e.ann.ReadOnlyHint), destructive: isTrue(e.ann.DestructiveHint),
		idempotent: isTrue(e.ann.IdempotentHint), openWorld: isTrue(e.ann.OpenWorldHint)}
}

// refresh lists method on every backend, merges the items into the route catalog and returns it,
// with the extra result fields of the first answering backend.
func (c *call) refresh(ctx context.Context, method string) (*catalog, map[string]json.RawMessage, error) {
	spec := listSpecs[method]
	type page struct {
		items []json.RawMessage
		extra map[string]json.RawMessage
		err   error
	}
	pages := make([]page, len(c.route.backends))
	done := make(chan struct{}, len(c.route.backends))
	for i, b := range c.route.backends {
		go func() {
			items, extra, err := c.listAll(ctx, b, method, spec.key)
			pages[i] = page{items, extra, err}
			done <- struct{}{}
		}()
	}
	for range c.route.backends {
		<-done
	}
	var (
		extra     map[string]json.RawMessage
		firstErr  error
		answered  int
		items     = map[string]entry{}
		order     []string
		conflicts []Conflict
	)
	for i, b := range c.route.backends {
		p := pages[i]
		if errors.Is(p.err, errSessionGone) {
			return nil, nil, p.err
		}
		if p.err != nil {
			c.s.log.Info("Backend failed to list", "route", c.route.name, "backend", b.cfg.Name, "method", method, "error", p.err)
			firstErr = cmpErr(firstErr, p.err)
			continue
		}
		answered++
		if extra == nil {
			extra = p.extra
		}
		for _, raw := range p.items {
			e, exposed, ok := exposeItem(spec, b, raw)
			if !ok {
				continue
			}
			if prev, dup := items[exposed]; dup {
				conflicts = append(conflicts, Conflict{Route: c.route.name, Kind: spec.kind, Name: exposed,
					Backend: prev.b.cfg.Name, HiddenBackend: b.cfg.Name})
				continue
			}
			items[exposed] = e
			order = append(order, exposed)
		}
	}
	if answered == 0 {
		return nil, nil, fmt.Errorf("no backend answered %s: %w", method, firstErr)
	}
	for {
		old := c.route.catalog.Load()
		n := old.clone()
		n.items[method], n.order[method], n.conflicts[method] = items, order, conflicts
		n.fetched[method] = time.Now()
		if c.route.catalog.CompareAndSwap(old, n) {
			c.s.metrics.conflicts.WithLabelValues(c.route.name).Set(float64(len(n.allConflicts())))
			for _, cf := range conflicts {
				c.s.log.Info("Hid conflicting name", "route", cf.Route, "kind", cf.Kind, "name", cf.Name, "backend", cf.Backend, "hiddenBackend", cf.HiddenBackend)
			}
			delete(extra, "nextCursor")
			return n, extra, nil
		}
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// exposeItem applies a backend's filters and prefix to one listed item.
func exposeItem(spec listSpec, b *backend, raw json.RawMessage) (entry, string, bool) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return entry{}, "", false
	}
	var name string
	if err := json.Unmarshal(fields[spec.nameField], &name); err != nil || name == "" {
		return entry{}, "", false
	}
	e := entry{b: b, name: name, raw: raw}
	if spec.kind == "Tool" {
		if !b.exposes(name) {
			return entry{}, "", false
		}
		if a, ok := fields["annotations"]; ok {
			_ = json.Unmarshal(a, &e.ann)
		}
	}
	exposed := name
	if spec.prefixed && b.prefix != "" {
		exposed = b.prefix + name
		fields[spec.nameField], _ = json.Marshal(exposed)
		e.raw, _ = json.Marshal(fields)
	}
	return e, exposed, true
}

// listAll follows a backend's pagination for method and returns all items.
func (c *call) listAll(ctx context.Context, b *backend, method, key string) ([]json.RawMessage, map[string]json.RawMessage, error) {
	bs, ok := c.backendSession(b)
	if !ok {
		return nil, nil, fmt.Errorf("backend %s has no session", b.cfg.Name)
	}
	params := map[string]json.RawMessage{}
	if c.msg.Method == method && len(c.msg.Params) > 0 {
		_ = json.Unmarshal(c.msg.Params, &params)
	} else if meta := c.requestMeta(); meta != nil {
		params["_meta"] = meta
	}
	delete(params, "cursor")
	var all []json.RawMessage
	var first map[string]json.RawMessage
	for range maxListPages {
		p, _ := json.Marshal(params)
		body, _ := json.Marshal(&message{JSONRPC: "2.0", ID: c.msg.ID, Method: method, Params: p})
		r := c.exchange(ctx, b, bs, body, method, "")
		if r.err != nil {
			return nil, nil, r.err
		}
		if r.msg.Error != nil {
			return nil, nil, fmt.Errorf("backend %s: %w", b.cfg.Name, r.msg.Error)
		}
		var res map[string]json.RawMessage
		if err := json.Unmarshal(r.msg.Result, &res); err != nil {
			return nil, nil, fmt.Errorf("backend %s: decode %s result: %w", b.cfg.Name, method, err)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(res[key], &items); err != nil && res[key] != nil {
			return nil, nil, fmt.Errorf("backend %s: decode %s: %w", b.cfg.Name, key, err)
		}
		all = append(all, items...)
		if first == nil {
			first = res
			delete(first, key)
		}
		var next string
		_ = json.Unmarshal(res["nextCursor"], &next)
		if next == "" {
			return all, first, nil
		}
		params["cursor"], _ = json.Marshal(next)
	}
	return nil, nil, errors.New("backend " + b.cfg.Name + " returned too many pages")
}

// requestMeta returns the client's params._meta, which the stateless revision requires on every request.
func (c *call) requestMeta() json.RawMessage {
	var p struct {
		Meta json.RawMessage `json:"_meta"`
	}
	_ = json.Unmarshal(c.msg.Params, &p)
	return p.Meta
}

// lookup finds an exposed name in the catalog, refreshing it once when it is unknown.
func (c *call) lookup(method, exposed string) (entry, error) {
	cat := c.route.catalog.Load()
	if cat != nil {
		if e, ok := cat.items[method][exposed]; ok {
			return e, nil
		}
		if time.Since(cat.fetched[method]) < time.Second {
			return entry{}, errNotFound
		}
	}
	ctx, cancel := c.fanoutTimeout()
	defer cancel()
	cat, _, err := c.refresh(ctx, method)
	if err != nil {
		return entry{}, err
	}
	if e, ok := cat.items[method][exposed]; ok {
		return e, nil
	}
	return entry{}, errNotFound
}

var errNotFound = errors.New("not found")
