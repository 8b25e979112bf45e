package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// AnonymousAccess says whether callers without a token are admitted.
// +kubebuilder:validation:Enum=Deny;Allow
type AnonymousAccess string

const (
	// AnonymousDeny answers callers without a valid token with 401.
	AnonymousDeny AnonymousAccess = "Deny"
	// AnonymousAllow admits callers without a token as the anonymous principal.
	AnonymousAllow AnonymousAccess = "Allow"
)

// AuthorizationMode says what a Cedar denial does.
// +kubebuilder:validation:Enum=Enforce;Audit
type AuthorizationMode string

const (
	// AuthorizationEnforce refuses denied calls.
	AuthorizationEnforce AuthorizationMode = "Enforce"
	// AuthorizationAudit logs and counts would-be denials and lets the calls through.
	AuthorizationAudit AuthorizationMode = "Audit"
)

// FromNamespaces says which namespaces' routes a gateway admits.
// +kubebuilder:validation:Enum=Same;All;Selector
type FromNamespaces string

const (
	// NamespacesFromSame admits routes in the gateway's namespace.
	NamespacesFromSame FromNamespaces = "Same"
	// NamespacesFromAll admits routes in every namespace.
	NamespacesFromAll FromNamespaces = "All"
	// NamespacesFromSelector admits routes in namespaces matching a label selector.
	NamespacesFromSelector FromNamespaces = "Selector"
)

// MCPGatewaySpec is the desired state of an MCPGateway.
type MCPGatewaySpec struct {
	// service configures the gateway's Service.
	// +optional
	// +kubebuilder:default={}
	Service GatewayService `json:"service,omitzero"`

	// deployment overrides how the gateway's Deployment is rendered (replicas, resources, …).
	// +optional
	Deployment *WorkloadSpec `json:"deployment,omitempty"`

	// authentication says how callers prove who they are. It is required: a gateway without an
	// OIDC provider must say anonymous: Allow, so no gateway is open by accident.
	// +required
	Authentication GatewayAuthentication `json:"authentication"`

	// authorization holds Cedar policies that apply to every route of the gateway.
	// +optional
	Authorization *Authorization `json:"authorization,omitempty"`

	// allowedRoutes says which namespaces' MCPRoutes may attach to the gateway.
	// +optional
	// +kubebuilder:default={namespaces:{from:Same}}
	AllowedRoutes AllowedRoutes `json:"allowedRoutes,omitzero"`

	// allowedOrigins are the browser origins (scheme://host[:port]) whose requests the gateway
	// serves. A request with any other Origin header is refused with 403; requests without an Origin
	// header are not affected.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`

	// expose publishes the gateway through Gateway API: the operator creates an HTTPRoute from these
	// parents to the gateway's Service.
	// +optional
	Expose *GatewayExpose `json:"expose,omitempty"`

	// sessionKeySecretRef names the key that seals MCP session state so that any replica can serve
	// any session. When absent, the operator generates a Secret named <gateway>-session-key.
	// +optional
	SessionKeySecretRef *SecretKeyReference `json:"sessionKeySecretRef,omitempty"`
}

// GatewayService configures the gateway's Service.
type GatewayService struct {
	// type of the Service.
	// +optional
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type corev1.ServiceType `json:"type,omitempty"`

	// port the Service listens on.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// annotations added to the Service (for example a cloud load balancer's settings).
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Annotations map[string]string `json:"annotations,omitempty"`
}

// GatewayAuthentication says how a gateway authenticates callers.
// +kubebuilder:validation:XValidation:rule="(has(self.oidc) && size(self.oidc) > 0) || self.anonymous == 'Allow'",message="a gateway with no OIDC provider must set anonymous: Allow explicitly; there is no silent open default"
type GatewayAuthentication struct {
	// oidc lists the token issuers the gateway trusts. Kubernetes ServiceAccount tokens are one
	// more issuer (the API server's service account issuer).
	// +optional
	// +listType=map
	// +listMapKey=issuer
	// +kubebuilder:validation:MaxItems=8
	OIDC []OIDCProvider `json:"oidc,omitempty"`

	// anonymous says whether callers without a token are admitted.
	// +optional
	// +kubebuilder:default=Deny
	Anonymous AnonymousAccess `json:"anonymous,omitempty"`
}

// OIDCProvider is one trusted token issuer.
type OIDCProvider struct {
	// issuer is the issuer URL; its discovery document is read from
	// <issuer>/.well-known/openid-configuration.
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1']))",message="issuer must be an https URL (http is accepted only for localhost)"
	Issuer string `json:"issuer"`

	// audiences the token's aud claim must contain one of (RFC 8707 resource indicators).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	Audiences []string `json:"audiences"`

	// jwksURI overrides the JWKS location from the discovery document.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https']",message="jwksURI must be an http or https URL"
	JWKSURI string `json:"jwksURI,omitempty"`

	// caBundle names a ConfigMap key holding PEM certificates that sign the issuer's TLS certificate.
	// +optional
	CABundle *ConfigMapKeyReference `json:"caBundle,omitempty"`

	// usernameClaim is the claim that names the user.
	// +optional
	// +kubebuilder:default=sub
	// +kubebuilder:validation:MaxLength=128
	UsernameClaim string `json:"usernameClaim,omitempty"`

	// groupsClaim is the claim that lists the user's groups.
	// +optional
	// +kubebuilder:default=groups
	// +kubebuilder:validation:MaxLength=128
	GroupsClaim string `json:"groupsClaim,omitempty"`
}

// Authorization is a set of Cedar policies and what a denial does.
type Authorization struct {
	// policies are Cedar policy sets, inline or from ConfigMaps. Once any policy applies to a
	// request, a request no permit matches is denied.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Policies []PolicySource `json:"policies"`

	// mode says whether denials are enforced or only audited.
	// +optional
	// +kubebuilder:default=Enforce
	Mode AuthorizationMode `json:"mode,omitempty"`
}

// PolicySource is Cedar policy text, inline or in a ConfigMap.
// +kubebuilder:validation:XValidation:rule="has(self.inline) != has(self.configMapRef)",message="exactly one of inline or configMapRef must be set"
type PolicySource struct {
	// inline Cedar policy text.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	Inline string `json:"inline,omitempty"`

	// configMapRef names a ConfigMap key holding Cedar policy text.
	// +optional
	ConfigMapRef *ConfigMapKeyReference `json:"configMapRef,omitempty"`
}

// AllowedRoutes says which namespaces' routes may attach to a gateway.
type AllowedRoutes struct {
	// namespaces selects the namespaces.
	// +optional
	// +kubebuilder:default={from:Same}
	Namespaces RouteNamespaces `json:"namespaces,omitzero"`
}

// RouteNamespaces selects namespaces, Gateway API style.
// +kubebuilder:validation:XValidation:rule="(self.from == 'Selector') == has(self.selector)",message="selector must be set when, and only when, from is Selector"
type RouteNamespaces struct {
	// from is Same, All or Selector.
	// +optional
	// +kubebuilder:default=Same
	From FromNamespaces `json:"from,omitempty"`

	// selector selects namespaces by label when from is Selector.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// GatewayExpose publishes a gateway through Gateway API.
type GatewayExpose struct {
	// parentRefs are the Gateway API Gateways (and listeners) the HTTPRoute attaches to.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	ParentRefs []gatewayv1.ParentReference `json:"parentRefs"`

	// hostnames of the HTTPRoute.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	Hostnames []gatewayv1.Hostname `json:"hostnames,omitempty"`
}

// MCPGatewayStatus is the observed state of an MCPGateway.
type MCPGatewayStatus struct {
	// conditions describe the gateway: Accepted, Programmed and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// addresses the gateway is reachable at.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Addresses []GatewayStatusAddress `json:"addresses,omitempty"`

	// url is the gateway's base URL inside the cluster.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`

	// attachedRoutes is the number of routes the gateway accepted.
	// +optional
	AttachedRoutes int32 `json:"attachedRoutes,omitempty"`

	// configHash identifies the data-plane configuration the gateway's ready replicas serve.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	ConfigHash string `json:"configHash,omitempty"`
}

// GatewayStatusAddress is one address of a gateway.
type GatewayStatusAddress struct {
	// type of the address: IPAddress or Hostname.
	// +required
	// +kubebuilder:validation:Enum=IPAddress;Hostname
	Type string `json:"type"`

	// value of the address.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Value string `json:"value"`
}

// MCPGateway runs one gateway data plane that serves the MCPRoutes attached to it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mcpgw,categories=toolmesh
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Routes",type=integer,JSONPath=`.status.attachedRoutes`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MCPGateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the gateway.
	// +required
	Spec MCPGatewaySpec `json:"spec"`

	// status is the observed state of the gateway.
	// +optional
	Status MCPGatewayStatus `json:"status,omitzero"`
}

// MCPGatewayList is a list of MCPGateways.
// +kubebuilder:object:root=true
type MCPGatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MCPGateway `json:"items"`
}
