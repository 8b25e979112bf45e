package validation

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var seq atomic.Int64

// celCase is one object submitted to the API server and the messages its rejection must contain.
// An empty wantErrors means the object must be accepted.
type celCase struct {
	name       string
	kind       string
	spec       string
	wantErrors []string
	objName    string // defaults to a fresh cel-N
}

const (
	okServer  = "image: example.local/server:v1\n"
	okGateway = "authentication:\n  anonymous: Allow\n"
	okRoute   = "parentRefs: [{name: gw}]\npath: /mcp/x\nbackends: [{name: s}]\n"
)

func TestCELRules(t *testing.T) {
	for _, tc := range serverCases() {
		t.Run("MCPServer/"+tc.name, func(t *testing.T) { check(t, tc) })
	}
	for _, tc := range clusterServerCases() {
		t.Run("ClusterMCPServer/"+tc.name, func(t *testing.T) { check(t, tc) })
	}
	for _, tc := range gatewayCases() {
		t.Run("MCPGateway/"+tc.name, func(t *testing.T) { check(t, tc) })
	}
	for _, tc := range routeCases() {
		t.Run("MCPRoute/"+tc.name, func(t *testing.T) { check(t, tc) })
	}
}

func serverCases() []celCase {
	k := "MCPServer"
	return []celCase{
		{name: "image only is valid", kind: k, spec: okServer},
		{name: "remote only is valid", kind: k, spec: "remote: {url: 'https://mcp.example.com/mcp'}\n"},
		{name: "neither image nor remote", kind: k, spec: "transport: {type: sse}\n",
			wantErrors: []string{"exactly one of image or remote must be set"}},
		{name: "both image and remote", kind: k, spec: okServer + "remote: {url: 'https://mcp.example.com/mcp'}\n",
			wantErrors: []string{"exactly one of image or remote must be set"}},
		{name: "remote with workload fields", kind: k, spec: "remote: {url: 'https://mcp.example.com/mcp'}\nargs: [--x]\n",
			wantErrors: []string{"command, args, env, envFrom, deployment and network apply only to servers with an image"}},
		{name: "stdio with command is valid", kind: k, spec: okServer + "command: [server]\ntransport: {type: stdio}\n"},
		{name: "stdio without command", kind: k, spec: okServer + "transport: {type: stdio}\n",
			wantErrors: []string{"transport type stdio requires command"}},
		{name: "remote over stdio", kind: k, spec: "remote: {url: 'https://mcp.example.com/mcp'}\ntransport: {type: stdio}\n",
			wantErrors: []string{"a remote server cannot use the stdio transport"}},
		{name: "remote url not http", kind: k, spec: "remote: {url: 'ftp://mcp.example.com/mcp'}\n",
			wantErrors: []string{"url must be an absolute http or https URL"}},
		{name: "transport path with dot-dot", kind: k, spec: okServer + "transport: {path: /mcp/../admin}\n",
			wantErrors: []string{"path must be a clean absolute path"}},
		{name: "transport path clean is valid", kind: k, spec: okServer + "transport: {path: /v1/mcp}\n"},
		{name: "stdio idle timeout too short", kind: k, spec: okServer + "command: [s]\ntransport: {type: stdio, stdio: {idleTimeout: 1s}}\n",
			wantErrors: []string{"idleTimeout must be between 10s and 24h"}},
		{name: "egress cidr valid", kind: k, spec: okServer + "network: {egress: [{cidr: 10.0.0.0/8, ports: [{port: 443}]}]}\n"},
		{name: "egress cidr invalid", kind: k, spec: okServer + "network: {egress: [{cidr: 10.0.0.300/8}]}\n",
			wantErrors: []string{"cidr must be a valid IPv4 or IPv6 CIDR"}},
		{name: "discovery interval too short", kind: k, spec: okServer + "discovery: {interval: 5s}\n",
			wantErrors: []string{"interval must be between 30s and 24h"}},
		{name: "pod labels of the user's own are valid", kind: k, spec: okServer + "deployment: {podLabels: {team: ml}}\n"},
		{name: "discovery interval in range is valid", kind: k, spec: okServer + "discovery: {interval: 1m}\n"},
		{name: "pod labels with reserved prefix", kind: k, spec: okServer + "deployment: {podLabels: {app.kubernetes.io/name: x}}\n",
			wantErrors: []string{"podLabels may not use the app.kubernetes.io/ or toolmesh.io/ prefixes"}},
		{name: "name with a dot", kind: k, spec: okServer, objName: "files.v1",
			wantErrors: []string{"metadata.name must be a DNS label of at most 58 characters"}},
		{name: "name longer than 58", kind: k, spec: okServer, objName: strings.Repeat("a", 59),
			wantErrors: []string{"metadata.name must be a DNS label of at most 58 characters"}},
		{name: "name of 58 is valid", kind: k, spec: okServer, objName: strings.Repeat("b", 58)},
		{name: "projected token is valid", kind: k, spec: okServer + "deployment: {projectedTokens: [{audience: agents, mountPath: /var/run/secrets/agents}]}\n"},
		{name: "projected token path not clean", kind: k, spec: okServer + "deployment: {projectedTokens: [{audience: agents, mountPath: /var/../etc}]}\n",
			wantErrors: []string{"mountPath must be a clean absolute directory path"}},
		{name: "projected token under tmp", kind: k, spec: okServer + "deployment: {projectedTokens: [{audience: agents, mountPath: /tmp/token}]}\n",
			wantErrors: []string{"mountPath must not be under /tmp or /toolmesh"}},
		{name: "targetNamespace on MCPServer", kind: k, spec: okServer + "targetNamespace: tools\n",
			wantErrors: []string{"targetNamespace is only valid on ClusterMCPServer"}},
		{name: "allowedNamespaces on MCPServer", kind: k, spec: okServer + "allowedNamespaces: {matchLabels: {team: a}}\n",
			wantErrors: []string{"allowedNamespaces is only valid on ClusterMCPServer"}},
	}
}

func clusterServerCases() []celCase {
	k := "ClusterMCPServer"
	return []celCase{
		{name: "targetNamespace and allowedNamespaces are valid", kind: k,
			spec: okServer + "targetNamespace: tools\nallowedNamespaces: {matchLabels: {team: a}}\n"},
		{name: "name rule applies", kind: k, spec: okServer, objName: "9lives",
			wantErrors: []string{"metadata.name must be a DNS label"}},
		{name: "shared spec rules apply", kind: k, spec: "targetNamespace: tools\n",
			wantErrors: []string{"exactly one of image or remote must be set"}},
	}
}

func gatewayCases() []celCase {
	k := "MCPGateway"
	return []celCase{
		{name: "explicit anonymous Allow is valid", kind: k, spec: okGateway},
		{name: "no provider and anonymous defaulted to Deny", kind: k, spec: "authentication: {}\n",
			wantErrors: []string{"a gateway with no OIDC provider must set anonymous: Allow explicitly"}},
		{name: "missing authentication", kind: k, spec: "service: {port: 8080}\n",
			wantErrors: []string{"spec.authentication: Required value"}},
		{name: "oidc provider is valid", kind: k,
			spec: "authentication:\n  oidc: [{issuer: 'https://issuer.example.com', audiences: [toolmesh]}]\n"},
		{name: "oidc issuer over plain http", kind: k,
			spec:       "authentication:\n  oidc: [{issuer: 'http://issuer.example.com', audiences: [toolmesh]}]\n",
			wantErrors: []string{"issuer must be an https URL"}},
		{name: "oidc jwksURI is valid", kind: k,
			spec: "authentication:\n  oidc: [{issuer: 'https://issuer.example.com', audiences: [a], jwksURI: 'https://issuer.example.com/keys'}]\n"},
		{name: "oidc jwksURI not a URL", kind: k,
			spec:       "authentication:\n  oidc: [{issuer: 'https://issuer.example.com', audiences: [a], jwksURI: 'not a url'}]\n",
			wantErrors: []string{"jwksURI must be an http or https URL"}},
		{name: "policy both inline and configMap", kind: k,
			spec:       okGateway + "authorization: {policies: [{inline: 'permit(principal, action, resource);', configMapRef: {name: p, key: k}}]}\n",
			wantErrors: []string{"exactly one of inline or configMapRef must be set"}},
		{name: "policy inline is valid", kind: k,
			spec: okGateway + "authorization: {policies: [{inline: 'permit(principal, action, resource);'}], mode: Audit}\n"},
		{name: "selector without from Selector", kind: k,
			spec:       okGateway + "allowedRoutes: {namespaces: {from: All, selector: {matchLabels: {a: b}}}}\n",
			wantErrors: []string{"selector must be set when, and only when, from is Selector"}},
		{name: "from Selector without selector", kind: k,
			spec:       okGateway + "allowedRoutes: {namespaces: {from: Selector}}\n",
			wantErrors: []string{"selector must be set when, and only when, from is Selector"}},
		{name: "from Selector with selector is valid", kind: k,
			spec: okGateway + "allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {a: b}}}}\n"},
	}
}

func routeCases() []celCase {
	k := "MCPRoute"
	route := func(path string) string {
		return "parentRefs: [{name: gw}]\nbackends: [{name: s}]\npath: '" + path + "'\n"
	}
	return []celCase{
		{name: "valid route", kind: k, spec: okRoute},
		{name: "relative path", kind: k, spec: route("mcp/x"), wantErrors: []string{"path must be absolute"}},
		{name: "query in path", kind: k, spec: route("/mcp?x=1"), wantErrors: []string{"path must not contain a query"}},
		{name: "fragment in path", kind: k, spec: route("/mcp#x"), wantErrors: []string{"path must not contain a query ('?') or a fragment ('#')"}},
		{name: "empty segment", kind: k, spec: route("/mcp//x"), wantErrors: []string{"path must not contain empty segments"}},
		{name: "dot-dot segment", kind: k, spec: route("/mcp/../admin"), wantErrors: []string{"path must not contain '.' or '..' segments"}},
		{name: "percent-encoding", kind: k, spec: route("/mcp/%2e%2e"), wantErrors: []string{"path may only contain letters, digits and -._~/"}},
		{name: "trailing slash", kind: k, spec: route("/mcp/"), wantErrors: []string{"path must not end with '/'"}},
		{name: "reserved prefix", kind: k, spec: route("/.well-known/x"), wantErrors: []string{"path must not be under /.well-known"}},
		{name: "duplicate backend", kind: k,
			spec:       "parentRefs: [{name: gw}]\npath: /mcp\nbackends: [{name: s}, {name: s, toolPrefix: b_}]\n",
			wantErrors: []string{"a server may appear only once in backends"}},
		{name: "same name different kinds is valid", kind: k,
			spec: "parentRefs: [{name: gw}]\npath: /mcp\nbackends: [{name: s}, {name: s, kind: ClusterMCPServer, toolPrefix: c_}]\n"},
		{name: "rate limit interval too short", kind: k,
			spec:       okRoute + "rateLimit: {perPrincipal: {requests: 10, interval: 100ms}}\n",
			wantErrors: []string{"interval must be between 1s and 24h"}},
		{name: "tool timeout zero", kind: k,
			spec:       okRoute + "timeouts: {perTool: [{tool: t, timeout: 0s}]}\n",
			wantErrors: []string{"timeout must be positive and at most 1h"}},
		{name: "request timeout too long", kind: k,
			spec:       okRoute + "timeouts: {request: 2h}\n",
			wantErrors: []string{"request must be positive and at most 1h"}},
		{name: "secret header without its settings", kind: k,
			spec:       okRoute + "backendAuth: {type: SecretHeader}\n",
			wantErrors: []string{"secretHeader must be set when, and only when, type is SecretHeader"}},
		{name: "secret header is valid", kind: k,
			spec: okRoute + "backendAuth: {type: SecretHeader, secretHeader: {secretRef: {name: s, key: token}}}\n"},
		{name: "service account token is valid", kind: k,
			spec: okRoute + "backendAuth: {type: ServiceAccountToken, serviceAccountToken: {audience: backend}}\n"},
		{name: "rate limit and timeouts in range are valid", kind: k,
			spec: okRoute + "rateLimit: {perPrincipal: {requests: 10, interval: 1m}, perTool: [{tool: t, requests: 1}]}\ntimeouts: {request: 10s, perTool: [{tool: t, timeout: 5m}]}\n"},
		{name: "service account settings on another type", kind: k,
			spec:       okRoute + "backendAuth: {type: Passthrough, serviceAccountToken: {audience: a}}\n",
			wantErrors: []string{"serviceAccountToken may only be set when type is ServiceAccountToken"}},
	}
}

func check(t *testing.T, tc celCase) {
	t.Helper()
	obj := &unstructured.Unstructured{}
	var spec map[string]any
	if err := yaml.Unmarshal([]byte(tc.spec), &spec); err != nil {
		t.Fatalf("bad test spec: %v", err)
	}
	obj.SetAPIVersion("toolmesh.io/v1alpha1")
	obj.SetKind(tc.kind)
	obj.SetName(fmt.Sprintf("cel-%d", seq.Add(1)))
	if tc.objName != "" {
		obj.SetName(tc.objName)
	}
	if tc.kind != "ClusterMCPServer" {
		obj.SetNamespace("default")
	}
	obj.Object["spec"] = spec

	err := env.Client.Create(context.Background(), obj)
	if len(tc.wantErrors) == 0 {
		if err != nil {
			t.Fatalf("want the object accepted, got: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want the object rejected with %q, it was accepted", tc.wantErrors)
	}
	for _, want := range tc.wantErrors {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}
