package authz

import (
	"fmt"

	"github.com/toolmesh/toolmesh/internal/gateway/authn"
)

// Mode says whether an Engine's denials are enforced.
type Mode string

const (
	// Enforce denies requests the policies do not allow.
	Enforce Mode = "Enforce"
	// Audit allows every request but marks those the policies would have denied.
	Audit Mode = "Audit"
)

// Entity types of the model.
const (
	// TypeUser is the entity type of an authenticated principal.
	TypeUser = "User"
	// TypeAnonymous is the entity type of the anonymous principal.
	TypeAnonymous = "Anonymous"
	// TypeGroup is the entity type of a principal's groups.
	TypeGroup = "Group"
	// TypeAction is the entity type of actions, named by MCP method.
	TypeAction = "Action"
	// TypeServer is the entity type of a backend server, parent of its tools, resources and prompts.
	TypeServer = "Server"
	// TypeRoute is the entity type of a route, parent of everything reached through it.
	TypeRoute = "Route"
)

// Resource kinds, which are also entity types.
const (
	// KindTool is a tool, the target of tools/call.
	KindTool = "Tool"
	// KindResource is a resource, the target of resources/read and resources/subscribe.
	KindResource = "Resource"
	// KindPrompt is a prompt, the target of prompts/get.
	KindPrompt = "Prompt"
)

// ResourceRef names the target of a request and carries its annotations.
// A zero Kind means the request has no target: the route itself is the resource.
type ResourceRef struct {
	// Kind is KindTool, KindResource, KindPrompt, or empty.
	Kind string
	// Name is the exposed name (tool or prompt name, or resource URI).
	Name string
	// ReadOnly is the tool's readOnlyHint annotation.
	ReadOnly bool
	// Destructive is the tool's destructiveHint annotation.
	Destructive bool
	// Idempotent is the tool's idempotentHint annotation.
	Idempotent bool
	// OpenWorld is the tool's openWorldHint annotation.
	OpenWorld bool
}

// Request is one authorization question.
type Request struct {
	// Principal is the caller; nil is treated as the anonymous principal.
	Principal *authn.Principal
	// Action is the MCP method, e.g. "tools/call".
	Action string
	// Route is the route's name.
	Route string
	// Server is the name of the backend serving the resource.
	Server string
	// Resource is the target of the request.
	Resource ResourceRef
	// Arguments are the call's arguments as decoded JSON; they reach policies as context.arguments.
	Arguments map[string]any
}

// Decision is the outcome of Decide.
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Audited reports that the policies denied the request but the engine is in Audit mode.
	Audited bool
	// Reasons lists ids of policies that determined the decision: satisfied or
	// failing forbids of a denial, or satisfied permits of an allowance. It may
	// name a sufficient subset of them (policies that could not change the outcome
	// are not evaluated), and is empty for a denial because no permit applies.
	Reasons []string
	// Errors lists the ids of the evaluated policies that failed to evaluate. A
	// forbid policy that fails to evaluate denies (fail closed).
	Errors []string
}

// Error codes a gateway returns for an authorization denial, stable across releases.
const (
	// JSONRPCForbidden is the JSON-RPC error code of a request denied by policy.
	// It is not -32003, which go-sdk clients read as "connection closing".
	JSONRPCForbidden = -32010
)

// Source is one named Cedar policy document.
type Source struct {
	// Name identifies the document in errors and default policy ids, e.g. "gateway team-a/gw policies[0]".
	Name string
	// Text is the Cedar policy text; it may hold several policies.
	Text string
}

// CompileError reports a policy document that failed to compile.
type CompileError struct {
	// Source is the name of the failing document.
	Source string
	// Err is the parser's error, which includes the line and column.
	Err error
}

// Error names the document and the parse failure.
func (e *CompileError) Error() string {
	return fmt.Sprintf("compile policy %s: %v", e.Source, e.Err)
}

// Unwrap returns the parser's error.
func (e *CompileError) Unwrap() error { return e.Err }

// UseAction returns the action whose permission makes an item visible in the
// answer to a list method: tools/call for tools/list, resources/read for
// resources/list and resources/templates/list, prompts/get for prompts/list.
func UseAction(listMethod string) (string, bool) {
	switch listMethod {
	case "tools/list":
		return "tools/call", true
	case "resources/list", "resources/templates/list":
		return "resources/read", true
	case "prompts/list":
		return "prompts/get", true
	default:
		return "", false
	}
}
