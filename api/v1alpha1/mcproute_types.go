package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// BackendKind is the kind of server a route backend refers to.
// +kubebuilder:validation:Enum=MCPServer;ClusterMCPServer
type BackendKind string

const (
	// BackendMCPServer refers to an MCPServer in the route's namespace.
	BackendMCPServer BackendKind = "MCPServer"
	// BackendClusterMCPServer refers to a ClusterMCPServer whose allowedNamespaces admit the route.
	BackendClusterMCPServer BackendKind = "ClusterMCPServer"
)

// RouteAuthenticationMode says whether a route requires an authenticated caller.
// +kubebuilder:validation:Enum=Required;Optional
type RouteAuthenticationMode string

const (
	// RouteAuthenticationRequired answers callers without a valid token with 401.
	RouteAuthenticationRequired RouteAuthenticationMode = "Required"
	// RouteAuthenticationOptional admits callers without a token as the anonymous principal;
	// callers with a token must still present a valid one.
	RouteAuthenticationOptional RouteAuthenticationMode = "Optional"
)

// BackendAuthType says what credentials the gateway sends to a route's backends.
// +kubebuilder:validation:Enum=None;Passthrough;SecretHeader;ServiceAccountToken
type BackendAuthType string

const (
	// BackendAuthNone sends no credentials.
	BackendAuthNone BackendAuthType = "None"
	// BackendAuthPassthrough forwards the caller's own bearer token, so the backend enforces that
	// user's permissions. An explicit opt-in: tokens are never forwarded otherwise.
	BackendAuthPassthrough BackendAuthType = "Passthrough"
	// BackendAuthSecretHeader sends a header whose value is read from a Secret.
	BackendAuthSecretHeader BackendAuthType = "SecretHeader"
	// BackendAuthServiceAccountToken sends a projected token of the gateway's ServiceAccount.
	BackendAuthServiceAccountToken BackendAuthType = "ServiceAccountToken"
)

// ConfirmationMode says which tool calls need a human's confirmation.
// +kubebuilder:validation:Enum=None;Destructive
type ConfirmationMode string

const (
	// ConfirmationNone asks for no confirmation beyond the tools listed by name.
	ConfirmationNone ConfirmationMode = "None"
	// ConfirmationDestructive asks before every call of a tool annotated destructiveHint.
	ConfirmationDestructive ConfirmationMode = "Destructive"
)

// MCPRouteSpec is the desired state of an MCPRoute.
type MCPRouteSpec struct {
	// parentRefs are the gateways that serve the route.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	ParentRefs []GatewayReference `json:"parentRefs"`

	// path of the route's MCP endpoint on its gateways, for example /mcp/gpu.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="path must be absolute (start with '/')"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="path must not contain a query ('?') or a fragment ('#')"
	// +kubebuilder:validation:XValidation:rule="!self.contains('//')",message="path must not contain empty segments ('//')"
	// +kubebuilder:validation:XValidation:rule="!self.split('/').exists(s, s == '.' || s == '..')",message="path must not contain '.' or '..' segments"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9._~/-]*$')",message="path may only contain letters, digits and -._~/ (no percent-encoding)"
	// +kubebuilder:validation:XValidation:rule="self == '/' || !self.endsWith('/')",message="path must not end with '/'"
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/.well-known') && !self.startsWith('/healthz') && !self.startsWith('/readyz') && !self.startsWith('/metrics')",message="path must not be under /.well-known, /healthz, /readyz or /metrics, which the gateway serves itself"
	Path string `json:"path"`

	// hostnames the route answers for. Empty means every hostname.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Hostnames []gatewayv1.Hostname `json:"hostnames,omitempty"`

	// backends are the servers behind the route. Several backends form one virtual server whose
	// tools, resources and prompts are merged.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.exists_one(b, a.kind == b.kind && a.name == b.name))",message="a server may appear only once in backends"
	Backends []RouteBackend `json:"backends"`

	// authentication overrides whether the route requires an authenticated caller. Defaults to
	// Required when the gateway has an OIDC provider.
	// +optional
	Authentication *RouteAuthentication `json:"authentication,omitempty"`

	// authorization holds Cedar policies that apply to this route in addition to the gateway's.
	// +optional
	Authorization *Authorization `json:"authorization,omitempty"`

	// rateLimit limits calls per principal and per tool.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// timeouts bound how long a call may take; a call past its timeout is cancelled at the backend.
	// +optional
	Timeouts *Timeouts `json:"timeouts,omitempty"`

	// limits bound request size and concurrency.
	// +optional
	Limits *Limits `json:"limits,omitempty"`

	// backendAuth says what credentials the gateway sends to the route's backends.
	// +optional
	BackendAuth *BackendAuth `json:"backendAuth,omitempty"`

	// confirmation asks the user, through MCP elicitation, before forwarding some tool calls. A
	// client that cannot elicit, or a user who declines, gets a denial.
	// +optional
	Confirmation *Confirmation `json:"confirmation,omitempty"`
}

// GatewayReference refers to an MCPGateway.
type GatewayReference struct {
	// name of the MCPGateway.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace of the MCPGateway. Defaults to the route's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
}

// RouteBackend is one server behind a route.
type RouteBackend struct {
	// kind of the server.
	// +optional
	// +kubebuilder:default=MCPServer
	Kind BackendKind `json:"kind,omitempty"`

	// name of the server. An MCPServer must be in the route's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// toolPrefix is prepended to every tool name of this backend: the exposed name is
	// toolPrefix + name. Names are never changed otherwise; on a collision the later backend's tool
	// is hidden and reported.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.-]*$`
	ToolPrefix string `json:"toolPrefix,omitempty"`

	// tools filters which of the backend's tools the route exposes.
	// +optional
	Tools *ToolFilter `json:"tools,omitempty"`
}

// ToolFilter selects tools by glob patterns (* and ?) on the backend's own tool names.
type ToolFilter struct {
	// include exposes only tools matching one of these patterns. Empty means all tools.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=128
	Include []string `json:"include,omitempty"`

	// exclude hides tools matching one of these patterns, after include.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=128
	Exclude []string `json:"exclude,omitempty"`
}

// RouteAuthentication overrides a route's authentication requirement.
type RouteAuthentication struct {
	// mode is Required or Optional.
	// +required
	Mode RouteAuthenticationMode `json:"mode"`
}

// RateLimitRule is a token bucket.
type RateLimitRule struct {
	// requests allowed per interval.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Requests int32 `json:"requests"`

	// interval over which requests are counted.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="interval must be between 1s and 24h"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// burst is the bucket size. Defaults to requests.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Burst *int32 `json:"burst,omitempty"`
}

// ToolRateLimit is a rate limit for one tool.
type ToolRateLimit struct {
	// tool is the exposed tool name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=192
	Tool string `json:"tool"`

	RateLimitRule `json:",inline"`
}

// RateLimit limits calls.
type RateLimit struct {
	// perPrincipal limits every principal's calls to the route.
	// +optional
	PerPrincipal *RateLimitRule `json:"perPrincipal,omitempty"`

	// perTool limits every principal's calls to one tool.
	// +optional
	// +listType=map
	// +listMapKey=tool
	// +kubebuilder:validation:MaxItems=64
	PerTool []ToolRateLimit `json:"perTool,omitempty"`
}

// ToolTimeout is the timeout of one tool.
type ToolTimeout struct {
	// tool is the exposed tool name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=192
	Tool string `json:"tool"`

	// timeout of the tool's calls.
	// +required
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('1h')",message="timeout must be positive and at most 1h"
	Timeout metav1.Duration `json:"timeout"`
}

// Timeouts bound how long calls take.
type Timeouts struct {
	// request is the default timeout of a request.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('1h')",message="request must be positive and at most 1h"
	Request *metav1.Duration `json:"request,omitempty"`

	// perTool overrides the timeout of some tools.
	// +optional
	// +listType=map
	// +listMapKey=tool
	// +kubebuilder:validation:MaxItems=64
	PerTool []ToolTimeout `json:"perTool,omitempty"`
}

// Limits bound request size and concurrency.
type Limits struct {
	// maxRequestBytes caps a request body; larger requests get 413.
	// +optional
	// +kubebuilder:default=1048576
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=67108864
	MaxRequestBytes *int64 `json:"maxRequestBytes,omitempty"`

	// maxConcurrentCalls caps the calls in flight on the route per gateway replica.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxConcurrentCalls *int32 `json:"maxConcurrentCalls,omitempty"`
}

// BackendAuth says what credentials the gateway sends to backends.
// +kubebuilder:validation:XValidation:rule="(self.type == 'SecretHeader') == has(self.secretHeader)",message="secretHeader must be set when, and only when, type is SecretHeader"
// +kubebuilder:validation:XValidation:rule="self.type == 'ServiceAccountToken' || !has(self.serviceAccountToken)",message="serviceAccountToken may only be set when type is ServiceAccountToken"
type BackendAuth struct {
	// type of the credentials.
	// +required
	Type BackendAuthType `json:"type"`

	// secretHeader configures type SecretHeader.
	// +optional
	SecretHeader *SecretHeaderAuth `json:"secretHeader,omitempty"`

	// serviceAccountToken configures type ServiceAccountToken.
	// +optional
	ServiceAccountToken *ServiceAccountTokenAuth `json:"serviceAccountToken,omitempty"`
}

// SecretHeaderAuth sends a header whose value is read from a Secret in the gateway's namespace.
type SecretHeaderAuth struct {
	// header name.
	// +optional
	// +kubebuilder:default=Authorization
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][-A-Za-z0-9]*$`
	Header string `json:"header,omitempty"`

	// secretRef names the Secret key holding the header's value.
	// +required
	SecretRef SecretKeyReference `json:"secretRef"`
}

// ServiceAccountTokenAuth sends a projected ServiceAccount token of the gateway.
type ServiceAccountTokenAuth struct {
	// audience of the token.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Audience string `json:"audience"`
}

// Confirmation says which tool calls need a human's confirmation.
type Confirmation struct {
	// mode Destructive asks before every call of a tool annotated destructiveHint.
	// +optional
	// +kubebuilder:default=None
	Mode ConfirmationMode `json:"mode,omitempty"`

	// tools asks before every call of these exposed tool names.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=192
	Tools []string `json:"tools,omitempty"`
}

// MCPRouteStatus is the observed state of an MCPRoute.
type MCPRouteStatus struct {
	// parents has one entry per gateway in spec.parentRefs, with its Accepted and ResolvedRefs
	// conditions.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Parents []RouteParentStatus `json:"parents,omitempty"`

	// tools are the route's exposed tools with the backend that serves each.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=4096
	Tools []RouteToolStatus `json:"tools,omitempty"`

	// conditions describe the route as a whole (for example a ToolNameConflict).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RouteParentStatus is the status of a route on one gateway.
type RouteParentStatus struct {
	// parentRef is the gateway.
	// +required
	ParentRef GatewayReference `json:"parentRef"`

	// conditions are Accepted and ResolvedRefs.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RouteToolStatus is one tool a route exposes.
type RouteToolStatus struct {
	// name is the exposed name (toolPrefix + the backend's name).
	// +required
	// +kubebuilder:validation:MaxLength=192
	Name string `json:"name"`

	// backend is the name of the server that serves the tool.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Backend string `json:"backend"`
}

// MCPRoute exposes one or more MCP servers as one endpoint on one or more gateways, with the
// policies that apply to it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mcpr,categories=toolmesh
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=`.spec.path`
// +kubebuilder:printcolumn:name="Gateways",type=string,JSONPath=`.spec.parentRefs[*].name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MCPRoute struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the route.
	// +required
	Spec MCPRouteSpec `json:"spec"`

	// status is the observed state of the route.
	// +optional
	Status MCPRouteStatus `json:"status,omitzero"`
}

// MCPRouteList is a list of MCPRoutes.
// +kubebuilder:object:root=true
type MCPRouteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MCPRoute `json:"items"`
}
