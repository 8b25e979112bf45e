package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"

	"github.com/toolmesh/toolmesh/internal/gateway/authn"
)

// examplePolicies are the policies of the OEP, one document each.
var examplePolicies = []string{
	`@id("admins-all")
permit (principal in Group::"admins", action, resource);`,
	`@id("viewers-read-only")
permit (principal in Group::"viewers", action == Action::"tools/call", resource is Tool)
when { resource.readOnly };`,
	`@id("no-destructive-except-admins")
forbid (principal, action == Action::"tools/call", resource is Tool)
when { resource.destructive }
unless { principal in Group::"admins" };`,
	`@id("team-a-route")
permit (principal in Group::"team-a", action, resource in Route::"team-a/gpu");`,
	`@id("gpu-server-readers")
permit (principal in Group::"gpu-users", action in [Action::"resources/read", Action::"prompts/get"], resource in Server::"gpu");`,
	`@id("sre-logs-in-own-namespaces")
permit (principal in Group::"sre", action == Action::"tools/call", resource == Tool::"pod_logs")
when { context.arguments has namespace && ["team-a", "team-b"].contains(context.arguments.namespace) };`,
	`@id("email-domain")
permit (principal, action == Action::"prompts/get", resource is Prompt)
when { principal has email && principal.email like "*@example.test" };`,
}

func user(sub string, groups ...string) *authn.Principal {
	return &authn.Principal{
		Subject: sub, Issuer: "https://idp.example.test", Username: sub, Groups: groups,
		Claims: map[string]any{"sub": sub, "email": sub + "@example.test", "department": "research"},
	}
}

var (
	readOnlyTool    = ResourceRef{Kind: KindTool, Name: "gpu_list", ReadOnly: true}
	writeTool       = ResourceRef{Kind: KindTool, Name: "gpu_set_clocks"}
	destructiveTool = ResourceRef{Kind: KindTool, Name: "gpu_reset", Destructive: true}
	logsTool        = ResourceRef{Kind: KindTool, Name: "pod_logs", ReadOnly: true}
)

func call(p *authn.Principal, route, server string, res ResourceRef, args map[string]any) Request {
	action := "tools/call"
	switch res.Kind {
	case KindResource:
		action = "resources/read"
	case KindPrompt:
		action = "prompts/get"
	}
	return Request{Principal: p, Action: action, Route: route, Server: server, Resource: res, Arguments: args}
}

func TestDecideExamplePolicies(t *testing.T) {
	e, err := Compile(examplePolicies, Enforce)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	deep := map[string]any{"namespace": "team-a"}
	for range 10000 {
		deep = map[string]any{"nested": deep, "namespace": "team-a"}
	}
	tests := []struct {
		name        string
		req         Request
		wantAllowed bool
		wantReasons []string
	}{
		{"viewer calls a read-only tool", call(user("vic", "viewers"), "ops", "gpu", readOnlyTool, nil), true, []string{"viewers-read-only"}},
		{"viewer calls a writing tool", call(user("vic", "viewers"), "ops", "gpu", writeTool, nil), false, nil},
		{"viewer may not read resources", call(user("vic", "viewers"), "ops", "gpu", ResourceRef{Kind: KindResource, Name: "gpu://node-1"}, nil), false, nil},
		{"admin calls a destructive tool", call(user("ada", "admins"), "ops", "gpu", destructiveTool, nil), true, []string{"admins-all"}},
		{"team-a member on its route", call(user("tom", "team-a"), "team-a/gpu", "gpu", writeTool, nil), true, []string{"team-a-route"}},
		{"team-a member on another route", call(user("tom", "team-a"), "team-b/gpu", "gpu", writeTool, nil), false, nil},
		{"team-a member calls a destructive tool on its route", call(user("tom", "team-a"), "team-a/gpu", "gpu", destructiveTool, nil), false, []string{"no-destructive-except-admins"}},
		{"team-a route-level request", Request{Principal: user("tom", "team-a"), Action: "completion/complete", Route: "team-a/gpu"}, true, []string{"team-a-route"}},
		{"gpu user reads a gpu resource", call(user("gus", "gpu-users"), "ops", "gpu", ResourceRef{Kind: KindResource, Name: "gpu://node-1"}, nil), true, []string{"gpu-server-readers"}},
		{"gpu user reads another server's resource", call(user("gus", "gpu-users"), "ops", "docs", ResourceRef{Kind: KindResource, Name: "doc://a"}, nil), false, nil},
		{"gpu user calls a gpu tool", call(user("gus", "gpu-users"), "ops", "gpu", readOnlyTool, nil), false, nil},
		{"sre reads logs in team-a", call(user("sam", "sre"), "ops", "k8s", logsTool, map[string]any{"namespace": "team-a", "tail": 100.0}), true, []string{"sre-logs-in-own-namespaces"}},
		{"sre reads logs in kube-system", call(user("sam", "sre"), "ops", "k8s", logsTool, map[string]any{"namespace": "kube-system"}), false, nil},
		{"sre reads logs without a namespace", call(user("sam", "sre"), "ops", "k8s", logsTool, nil), false, nil},
		{"sre with 10000-deep arguments", call(user("sam", "sre"), "ops", "k8s", logsTool, deep), true, []string{"sre-logs-in-own-namespaces"}},
		{"anyone with a matching email gets a prompt", call(user("pat"), "ops", "docs", ResourceRef{Kind: KindPrompt, Name: "summarize"}, nil), true, []string{"email-domain"}},
		{"anonymous gets nothing", call(nil, "ops", "gpu", readOnlyTool, nil), false, nil},
		{"anonymous principal gets nothing", call(authn.Anonymous(), "ops", "docs", ResourceRef{Kind: KindPrompt, Name: "summarize"}, nil), false, nil},
		{"unknown action", Request{Principal: user("vic", "viewers"), Action: "tools/destroy", Route: "ops", Server: "gpu", Resource: readOnlyTool}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Decide(tt.req)
			if d.Allowed != tt.wantAllowed || d.Audited {
				t.Fatalf("Decide = %+v, want allowed=%v", d, tt.wantAllowed)
			}
			if !slices.Equal(d.Reasons, tt.wantReasons) {
				t.Errorf("reasons = %v, want %v", d.Reasons, tt.wantReasons)
			}
			if len(d.Errors) != 0 {
				t.Errorf("errors = %v", d.Errors)
			}
		})
	}
}

func TestDecideModesAndDefaults(t *testing.T) {
	viewerWrite := call(user("vic", "viewers"), "ops", "gpu", writeTool, nil)
	viewerRead := call(user("vic", "viewers"), "ops", "gpu", readOnlyTool, nil)
	permitAll := `@id("all") permit (principal, action, resource);`
	erroringForbid := `@id("needs-has") forbid (principal, action, resource) when { context.arguments.danger == true };`
	tests := []struct {
		name      string
		policies  []string
		mode      Mode
		req       Request
		want      Decision
		wantStats Stats
	}{
		{"no policies allow everything", nil, Enforce, viewerWrite, Decision{Allowed: true}, Stats{}},
		{"enforce denies", examplePolicies, Enforce, viewerWrite, Decision{}, Stats{Denied: 1}},
		{"audit allows and marks a would-be denial", examplePolicies, Audit, viewerWrite, Decision{Allowed: true, Audited: true}, Stats{Audited: 1}},
		{"audit allows an allowed request unmarked", examplePolicies, Audit, viewerRead, Decision{Allowed: true, Reasons: []string{"viewers-read-only"}}, Stats{Allowed: 1}},
		{"a forbid that fails to evaluate denies", []string{permitAll, erroringForbid}, Enforce, viewerWrite, Decision{Reasons: []string{"needs-has"}, Errors: []string{"needs-has"}}, Stats{Denied: 1, Errored: 1}},
		{"a forbid that evaluates false does not deny", []string{permitAll, erroringForbid}, Enforce, call(user("vic"), "ops", "gpu", writeTool, map[string]any{"danger": false}), Decision{Allowed: true, Reasons: []string{"all"}}, Stats{Allowed: 1}},
		{"a permit that fails to evaluate does not allow", []string{`@id("p") permit (principal, action, resource) when { context.arguments.x == 1 };`}, Enforce, viewerWrite, Decision{Errors: []string{"p"}}, Stats{Denied: 1, Errored: 1}},
		{"default ids name the document", []string{"permit (principal, action, resource) when { false };\npermit (principal, action, resource);"}, Enforce, viewerWrite, Decision{Allowed: true, Reasons: []string{"policies[0]/1"}}, Stats{Allowed: 1}},
		{"every satisfied permit is a reason", []string{"permit (principal, action, resource);\npermit (principal, action, resource);"}, Enforce, viewerWrite, Decision{Allowed: true, Reasons: []string{"policies[0]/0", "policies[0]/1"}}, Stats{Allowed: 1}},
		{"forbids are decided before permits", []string{permitAll, `@id("f") forbid (principal, action, resource);`}, Enforce, viewerWrite, Decision{Reasons: []string{"f"}}, Stats{Denied: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(tt.policies, tt.mode)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			d := e.Decide(tt.req)
			slices.Sort(d.Reasons)
			if fmt.Sprint(d) != fmt.Sprint(tt.want) {
				t.Errorf("Decide = %+v, want %+v", d, tt.want)
			}
			if e.Stats() != tt.wantStats {
				t.Errorf("stats = %+v, want %+v", e.Stats(), tt.wantStats)
			}
		})
	}
	t.Run("a nil engine allows", func(t *testing.T) {
		var e *Engine
		if d := e.Decide(viewerWrite); !d.Allowed {
			t.Fatal("nil engine denied")
		}
	})
}

func TestFilter(t *testing.T) {
	tools := []ResourceRef{readOnlyTool, writeTool, destructiveTool, logsTool}
	name := func(r ResourceRef) ResourceRef { return r }
	names := func(rs []ResourceRef) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		return out
	}
	action, ok := UseAction("tools/list")
	if !ok || action != "tools/call" {
		t.Fatalf("UseAction(tools/list) = %q, %v", action, ok)
	}
	tests := []struct {
		name     string
		policies []string
		mode     Mode
		p        *authn.Principal
		route    string
		want     []string
	}{
		{"viewers see read-only tools", examplePolicies, Enforce, user("vic", "viewers"), "ops", []string{"gpu_list", "pod_logs"}},
		{"admins see everything", examplePolicies, Enforce, user("ada", "admins"), "ops", []string{"gpu_list", "gpu_set_clocks", "gpu_reset", "pod_logs"}},
		{"team-a sees all but destructive on its route", examplePolicies, Enforce, user("tom", "team-a"), "team-a/gpu", []string{"gpu_list", "gpu_set_clocks", "pod_logs"}},
		{"strangers see nothing", examplePolicies, Enforce, user("eve"), "ops", nil},
		{"audit mode hides nothing", examplePolicies, Audit, user("eve"), "ops", []string{"gpu_list", "gpu_set_clocks", "gpu_reset", "pod_logs"}},
		{"no policies hide nothing", nil, Enforce, user("eve"), "ops", []string{"gpu_list", "gpu_set_clocks", "gpu_reset", "pod_logs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Compile(tt.policies, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			got := Filter(e, Request{Principal: tt.p, Action: action, Route: tt.route, Server: "gpu"}, tools, name)
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("visible = %v, want %v", names(got), tt.want)
			}
			if e.Stats() != (Stats{}) {
				t.Errorf("filtering counted decisions: %+v", e.Stats())
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		mode     Mode
		want     []string
	}{
		{"syntax error names the document", []string{examplePolicies[0], "permit (principal, action resource);"}, Enforce, []string{"policies[1]"}},
		{"unknown effect", []string{"allow (principal, action, resource);"}, Enforce, []string{"policies[0]"}},
		{"duplicate id", []string{examplePolicies[0], examplePolicies[0]}, Enforce, []string{"policies[1]", `"admins-all" is used twice`}},
		{"bad mode", nil, "Permissive", []string{"Permissive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.policies, tt.mode)
			if err == nil {
				t.Fatal("Compile succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var ce *CompileError
			if tt.mode == Enforce && !errors.As(err, &ce) {
				t.Errorf("error is not a *CompileError: %v", err)
			}
		})
	}
}

// TestIndexMatchesCedar checks that deciding over the per-action, per-resource
// index gives exactly the decision of cedar.Authorize over the whole policy set.
func TestIndexMatchesCedar(t *testing.T) {
	policies := append(slices.Clone(examplePolicies), benchPolicies(60)...)
	policies = append(policies,
		`@id("in-set") permit (principal, action in [Action::"tools/call", Action::"prompts/get"], resource == Tool::"tool7");`,
		`@id("is-in") permit (principal in Group::"g3", action, resource is Tool in Server::"srv2");`,
		`@id("other-type-action") permit (principal, action == Foo::"tools/call", resource);`,
		`@id("forbid-route") forbid (principal in Group::"g5", action, resource in Route::"r1");`,
		`@id("user-eq") permit (principal == User::"u1", action == Action::"resources/read", resource);`,
		`@id("user-is") permit (principal is User, action == Action::"prompts/get", resource is Prompt);`,
		`@id("user-is-in") forbid (principal is User in Group::"g1", action in Action::"tools/call", resource == Tool::"tool4");`,
		`@id("anon-is") permit (principal is Anonymous, action, resource is Resource in Route::"team-a/gpu");`,
		`@id("server-eq") permit (principal, action, resource == Server::"srv2");`,
		`@id("route-eq") permit (principal in Group::"g1", action == Action::"completion/complete", resource == Route::"r1");`,
		`@id("tool-in-itself") permit (principal in Group::"g3", action, resource in Tool::"tool5");`,
		`@id("group-eq") permit (principal == Group::"g1", action, resource);`,
		`@id("args-whole") forbid (principal in Group::"g5", action, resource) when { context.arguments == {"namespace": "team-a"} };`,
		`@id("args-truncated") forbid (principal in Group::"g1", action, resource == Tool::"tool9") when { context has argumentsTruncated };`,
		`@id("args-quoted") permit (principal in Group::"g1", action, resource == Tool::"tool10") when { context.arguments has "extra" && context.arguments["limit"] == 5 };`,
		`@id("cond-in") permit (principal, action, resource) when { principal in Group::"g5" && resource in Server::"gpu" && context.route == "r1" };`,
	)
	e, err := Compile(policies, Enforce)
	if err != nil {
		t.Fatal(err)
	}
	full := cedar.NewPolicySet()
	for i, text := range policies {
		list, err := cedar.NewPolicyListFromBytes(fmt.Sprint(i), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		for n, p := range list {
			id := cedar.PolicyID(fmt.Sprintf("policies[%d]/%d", i, n))
			if v, ok := p.Annotations()[idAnnotation]; ok {
				id = cedar.PolicyID(v)
			}
			full.Add(id, p)
		}
	}
	principals := []*authn.Principal{nil, user("u0"), user("u1", "g1", "g3"), user("u2", "g5", "viewers"), user("u3", "admins"), user("u4", "sre", "team-a")}
	actions := []string{"tools/call", "resources/read", "prompts/get", "completion/complete", "tools/destroy"}
	var resources []ResourceRef
	for i := range 12 {
		resources = append(resources,
			ResourceRef{Kind: KindTool, Name: fmt.Sprintf("tool%d", i), ReadOnly: i%2 == 0, Destructive: i%3 == 0},
			ResourceRef{Kind: KindResource, Name: fmt.Sprintf("res%d", i)})
	}
	resources = append(resources, ResourceRef{}, logsTool, ResourceRef{Kind: KindPrompt, Name: "p"})
	checked, allowed := 0, 0
	// The same principal, action and resource meet different arguments, twice
	// over, so a cached first pass is reused with arguments it was not computed for.
	argVariants := []map[string]any{
		{"namespace": "team-a"},
		{"namespace": "kube-system", "limit": 5.0, "extra": map[string]any{"deep": []any{1.0, 2.0}}},
		nil,
		{"namespace": "team-a"},
		{"limit": 5.0, "extra": "x"},
	}
	for _, p := range principals {
		for _, a := range actions {
			for _, r := range resources {
				for _, route := range []string{"r1", "team-a/gpu"} {
					for _, srv := range []string{"srv2", "gpu", ""} {
						for _, args := range argVariants {
							req := Request{Principal: p, Action: a, Route: route, Server: srv, Resource: r, Arguments: args}
							got := e.Decide(req)
							res := resourceUID(req)
							ents := &requestEntities{principal: e.cache.principal(p).entity, resource: e.cache.resource(req, res)}
							dec, diag := cedar.Authorize(full, ents, cedar.Request{
								Principal: ents.principal.UID, Action: types.NewEntityUID(TypeAction, types.String(a)),
								Resource: res, Context: e.context(req, argNeed{all: true}),
							})
							wantAllowed, decisive := reference(dec, diag, e)
							subset := len(got.Reasons) > 0 == (len(decisive) > 0)
							for _, r := range got.Reasons {
								subset = subset && slices.Contains(decisive, r)
							}
							if got.Allowed != wantAllowed || !subset {
								t.Fatalf("%+v: indexed %+v, full set allowed=%v reasons=%v", req, got, wantAllowed, decisive)
							}
							checked++
							if got.Allowed {
								allowed++
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d requests decided identically, %d of them allowed", checked, allowed)
	if allowed == 0 || allowed == checked {
		t.Errorf("the grid is degenerate: %d of %d allowed", allowed, checked)
	}
}

// reference interprets cedar.Authorize over the full set the way Decide must:
// denied when a forbid is satisfied or fails to evaluate, else allowed when a
// permit is satisfied. decisive lists the reasons Decide may give (it must give
// at least one of them, and none other).
func reference(dec cedar.Decision, diag cedar.Diagnostic, e *Engine) (allowed bool, decisive []string) {
	var forbids, permits []string
	for _, pe := range diag.Errors {
		if e.byID[pe.PolicyID].forbid {
			forbids = append(forbids, string(pe.PolicyID))
		}
	}
	for _, r := range diag.Reasons {
		if e.byID[r.PolicyID].forbid {
			forbids = append(forbids, string(r.PolicyID))
		} else {
			permits = append(permits, string(r.PolicyID))
		}
	}
	if len(forbids) > 0 {
		return false, forbids
	}
	if dec != cedar.Allow {
		return false, nil
	}
	return true, permits
}

func TestArgumentsRead(t *testing.T) {
	tests := []struct {
		name string
		when string
		want argNeed
	}{
		{"no arguments", `resource.readOnly`, argNeed{}},
		{"dotted key", `context.arguments.namespace == "a"`, argNeed{keys: []string{"namespace"}}},
		{"has and nested", `context.arguments has limit && context.arguments.limit.max < 3`, argNeed{keys: []string{"limit", "limit"}}},
		{"quoted keys", `context.arguments has "my key" && context["arguments"]["my-key"] == 1`, argNeed{keys: []string{"my key", "my-key"}}},
		{"whole record", `context.arguments == {}`, argNeed{all: true}},
		{"truncation flag", `context has argumentsTruncated`, argNeed{all: true}},
		{"context has arguments", `context has arguments`, argNeed{all: true}},
		{"escaped key", `context.arguments["a\"b"] == 1`, argNeed{all: true}},
		{"word in a string", `resource.name == "arguments"`, argNeed{all: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := cedar.NewPolicyListFromBytes("t", []byte("permit (principal, action, resource) when { "+tt.when+" };"))
			if err != nil {
				t.Fatal(err)
			}
			got := argumentsRead(string(list[0].MarshalCedar()))
			if got.all != tt.want.all || !slices.Equal(got.keys, tt.want.keys) {
				t.Errorf("argumentsRead = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestArgumentConversion(t *testing.T) {
	dec, err := types.NewDecimalFromFloat(1.5)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		args         map[string]any
		wantComplete bool
		want         types.Value
	}{
		{"scalars, null dropped", map[string]any{"s": "x", "b": true, "i": 3.0, "f": 1.5, "n": nil}, true,
			types.NewRecord(types.RecordMap{"s": types.String("x"), "b": types.True, "i": types.Long(3), "f": dec})},
		{"arrays become sets", map[string]any{"a": []any{"x", "x", 1.0}}, true,
			types.NewRecord(types.RecordMap{"a": types.NewSet(types.Long(1), types.String("x"))})},
		{"too deep is cut", nest(MaxArgumentDepth + 2), false, nil},
		{"too many values are cut", map[string]any{"a": make([]any, MaxArgumentValues+10)}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			budget := MaxArgumentValues
			v, complete := toValue(tt.args, MaxArgumentDepth, &budget)
			if complete != tt.wantComplete {
				t.Errorf("complete = %v, want %v", complete, tt.wantComplete)
			}
			if tt.want != nil && !v.Equal(tt.want) {
				t.Errorf("converted = %s, want %s", v.MarshalCedar(), tt.want.MarshalCedar())
			}
		})
	}
}

func nest(depth int) map[string]any {
	m := map[string]any{"leaf": "x"}
	for range depth {
		m = map[string]any{"n": m}
	}
	return m
}

// benchPolicies returns n policies of realistic shapes: per-tool grants to
// groups, per-server grants, annotation conditions, argument conditions and forbids.
func benchPolicies(n int) []string {
	out := make([]string, 0, n)
	for i := range n {
		var p string
		switch i % 5 {
		case 0:
			p = fmt.Sprintf(`permit (principal in Group::"g%d", action == Action::"tools/call", resource == Tool::"tool%d");`, i%7, i)
		case 1:
			p = fmt.Sprintf(`permit (principal in Group::"g%d", action in [Action::"resources/read", Action::"tools/call"], resource in Server::"srv%d");`, i%7, i%4)
		case 2:
			p = fmt.Sprintf(`permit (principal in Group::"g%d", action == Action::"tools/call", resource is Tool) when { resource.readOnly && context.route == "r%d" };`, i%7, i%3)
		case 3:
			p = fmt.Sprintf(`permit (principal, action == Action::"tools/call", resource == Tool::"tool%d") when { context.arguments has limit && context.arguments.limit < %d };`, i, i+10)
		default:
			p = fmt.Sprintf(`forbid (principal in Group::"g%d", action, resource) when { resource has destructive && resource.destructive && !(principal.username like "admin-*") };`, i%7)
		}
		out = append(out, fmt.Sprintf("@id(\"bench-%d\")\n%s", i, p))
	}
	return out
}

// TestConcurrentDecide shares one engine between goroutines, as the gateway
// does; run with -race it checks the caches.
func TestConcurrentDecide(t *testing.T) {
	e, err := Compile(append(slices.Clone(examplePolicies), benchPolicies(40)...), Enforce)
	if err != nil {
		t.Fatal(err)
	}
	users := []*authn.Principal{user("vic", "viewers"), user("ada", "admins"), user("sam", "sre"), nil}
	want := make([]bool, len(users))
	for i, u := range users {
		want[i] = e.Decide(call(u, "ops", "k8s", logsTool, map[string]any{"namespace": "team-a"})).Allowed
	}
	done := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := range 500 {
				u := (w + i) % len(users)
				d := e.Decide(call(users[u], "ops", "k8s", logsTool, map[string]any{"namespace": "team-a"}))
				if d.Allowed != want[u] {
					done <- fmt.Errorf("user %d: allowed=%v, want %v", u, d.Allowed, want[u])
					return
				}
				Filter(e, Request{Principal: users[u], Action: "tools/call", Route: "ops", Server: "gpu"},
					[]ResourceRef{readOnlyTool, writeTool, destructiveTool}, func(r ResourceRef) ResourceRef { return r })
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
