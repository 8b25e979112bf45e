package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TransportType is how the server speaks MCP.
// +kubebuilder:validation:Enum=stdio;streamable-http;sse
type TransportType string

const (
	// TransportStdio runs the server's command behind stdio-bridge, which serves streamable HTTP
	// and SSE on the transport port with one child process per MCP session.
	TransportStdio TransportType = "stdio"
	// TransportStreamableHTTP is MCP's streamable HTTP transport.
	TransportStreamableHTTP TransportType = "streamable-http"
	// TransportSSE is MCP's legacy HTTP+SSE transport.
	TransportSSE TransportType = "sse"
)

// SessionMode says whether a server keeps per-session state.
// +kubebuilder:validation:Enum=Stateful;Stateless
type SessionMode string

const (
	// SessionStateful servers keep state per MCP session: the gateway pins a session to one pod.
	SessionStateful SessionMode = "Stateful"
	// SessionStateless servers can answer any request on any pod: the gateway uses the Service.
	SessionStateless SessionMode = "Stateless"
)

// MCPServerSpec is the desired state of an MCPServer or a ClusterMCPServer. Exactly one of image
// (a workload the operator runs) or remote (an existing server the operator only fronts) is set.
// +kubebuilder:validation:XValidation:rule="has(self.image) != has(self.remote)",message="exactly one of image or remote must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.remote) || (!has(self.command) && !has(self.args) && !has(self.env) && !has(self.envFrom) && !has(self.deployment) && !has(self.network))",message="command, args, env, envFrom, deployment and network apply only to servers with an image; a remote server has no workload"
// +kubebuilder:validation:XValidation:rule="self.transport.type != 'stdio' || (has(self.command) && size(self.command) > 0)",message="transport type stdio requires command: stdio-bridge runs it as the child process of each session"
// +kubebuilder:validation:XValidation:rule="!has(self.remote) || self.transport.type != 'stdio'",message="a remote server cannot use the stdio transport"
type MCPServerSpec struct {
	// image is the container image of a server the operator runs.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// command overrides the image's entrypoint. With transport type stdio it is the command
	// stdio-bridge starts for each MCP session.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=4096
	Command []string `json:"command,omitempty"`

	// args are the arguments of command (or of the image's entrypoint).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	Args []string `json:"args,omitempty"`

	// env of the server container.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Env []corev1.EnvVar `json:"env,omitempty"`

	// envFrom of the server container.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`

	// remote declares an existing MCP server, reachable at a URL, that the operator fronts without
	// running a workload.
	// +optional
	Remote *RemoteServer `json:"remote,omitempty"`

	// transport says how the server speaks MCP.
	// +optional
	// +kubebuilder:default={}
	Transport Transport `json:"transport,omitzero"`

	// deployment overrides how the server's Deployment is rendered.
	// +optional
	Deployment *WorkloadSpec `json:"deployment,omitempty"`

	// network restricts the server's traffic. When set, the operator creates a NetworkPolicy that
	// admits ingress only from Toolmesh gateway and operator pods on the MCP port and egress only to
	// DNS and the listed destinations. When absent, no NetworkPolicy is created.
	// +optional
	Network *NetworkSpec `json:"network,omitempty"`

	// discovery configures how the operator lists the server's tools into status.
	// +optional
	Discovery *DiscoverySpec `json:"discovery,omitempty"`

	// targetNamespace is where a ClusterMCPServer's workload runs. Defaults to the operator's
	// namespace. Only valid on ClusterMCPServer.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// allowedNamespaces selects the namespaces whose MCPRoutes may use a ClusterMCPServer. When
	// absent, routes in every namespace may use it. Only valid on ClusterMCPServer.
	// +optional
	AllowedNamespaces *metav1.LabelSelector `json:"allowedNamespaces,omitempty"`
}

// RemoteServer is an existing MCP server reachable over HTTP.
type RemoteServer struct {
	// url of the server's MCP endpoint.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="url must be an absolute http or https URL"
	URL string `json:"url"`

	// headers are sent with every request to the server, their values read from Secrets in the
	// namespace of the server (a ClusterMCPServer's targetNamespace).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Headers []RemoteHeader `json:"headers,omitempty"`
}

// RemoteHeader is one HTTP header whose value comes from a Secret.
type RemoteHeader struct {
	// name of the header.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][-A-Za-z0-9]*$`
	Name string `json:"name"`

	// valueFrom names the Secret key that holds the header's value.
	// +required
	ValueFrom SecretKeyReference `json:"valueFrom"`
}

// Transport says how a server speaks MCP and where.
type Transport struct {
	// type of the transport. stdio servers are wrapped by stdio-bridge and reached over streamable
	// HTTP like the others.
	// +optional
	// +kubebuilder:default=streamable-http
	Type TransportType `json:"type,omitempty"`

	// port the server (or stdio-bridge) listens on.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// path of the MCP endpoint.
	// +optional
	// +kubebuilder:default=/mcp
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^/[A-Za-z0-9._~/-]*$') && !self.contains('//') && !self.contains('/../') && !self.endsWith('/..') && !self.contains('/./') && !self.endsWith('/.')",message="path must be a clean absolute path: it starts with '/', has no '//', '.' or '..' segments, and uses only letters, digits and -._~/"
	Path string `json:"path,omitempty"`

	// sessionMode says whether the server keeps per-session state. The gateway pins sessions of a
	// Stateful server to one pod.
	// +optional
	// +kubebuilder:default=Stateful
	SessionMode SessionMode `json:"sessionMode,omitempty"`

	// stdio configures stdio-bridge for transport type stdio.
	// +optional
	Stdio *StdioOptions `json:"stdio,omitempty"`
}

// StdioOptions configures stdio-bridge.
type StdioOptions struct {
	// maxSessions caps the child processes (one per MCP session) a pod runs at once.
	// +optional
	// +kubebuilder:default=16
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	MaxSessions int32 `json:"maxSessions,omitempty"`

	// idleTimeout ends a session and its child process after this long without a request.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="idleTimeout must be between 10s and 24h"
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`
}

// NetworkSpec restricts a server's network traffic.
type NetworkSpec struct {
	// egress lists the destinations the server may reach besides cluster DNS. An empty list allows
	// DNS only.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Egress []EgressRule `json:"egress"`
}

// EgressRule allows traffic to one CIDR, optionally only to some ports.
type EgressRule struct {
	// cidr is the destination range, IPv4 or IPv6.
	// +required
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be a valid IPv4 or IPv6 CIDR such as 10.0.0.0/8"
	CIDR string `json:"cidr"`

	// ports limits the rule to these ports. Empty means every port.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Ports []EgressPort `json:"ports,omitempty"`
}

// EgressPort is one destination port.
type EgressPort struct {
	// port number.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// protocol of the port.
	// +optional
	// +kubebuilder:default=TCP
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP
	Protocol corev1.Protocol `json:"protocol,omitempty"`
}

// DiscoverySpec configures tool discovery.
type DiscoverySpec struct {
	// interval between two tool discoveries of an available server.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s') && duration(self) <= duration('24h')",message="interval must be between 30s and 24h"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// expectedTools pins the server's tool names: the server is not Ready while the discovered
	// names differ from this list.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=128
	ExpectedTools []string `json:"expectedTools,omitempty"`
}

// MCPServerStatus is the observed state of an MCPServer or a ClusterMCPServer.
type MCPServerStatus struct {
	// conditions describe the server: Ready, Available, ToolsDiscovered and, when tools are pinned,
	// ToolsPinned.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// url is the server's MCP endpoint inside the cluster (the remote URL for remote servers).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url,omitempty"`

	// readyReplicas is the number of ready pods of the server's Deployment.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// serverInfo is what the server said about itself in its initialize response.
	// +optional
	ServerInfo *ServerInfo `json:"serverInfo,omitempty"`

	// tools are the server's tools as of lastDiscoveryTime.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1024
	Tools []ToolStatus `json:"tools,omitempty"`

	// toolCount is the number of discovered tools.
	// +optional
	ToolCount int32 `json:"toolCount,omitempty"`

	// lastDiscoveryTime is when the tools were last listed successfully.
	// +optional
	LastDiscoveryTime *metav1.Time `json:"lastDiscoveryTime,omitempty"`
}

// ServerInfo is a server's self-description from its initialize response.
type ServerInfo struct {
	// name of the server implementation.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name,omitempty"`

	// version of the server implementation.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Version string `json:"version,omitempty"`

	// protocolVersion is the MCP protocol revision the server agreed to.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	ProtocolVersion string `json:"protocolVersion,omitempty"`

	// capabilities are the server capabilities it announced (tools, resources, prompts, logging, …).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	Capabilities []string `json:"capabilities,omitempty"`
}

// ToolStatus describes one discovered tool.
type ToolStatus struct {
	// name of the tool.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Name string `json:"name"`

	// title is the tool's human-readable name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Title string `json:"title,omitempty"`

	// description of the tool, cut to 1024 characters.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// annotations are the tool's behaviour hints.
	// +optional
	Annotations *ToolAnnotations `json:"annotations,omitempty"`

	// inputSchemaHash is the SHA-256 of the tool's canonical input schema: it changes when the
	// tool's arguments change.
	// +optional
	// +kubebuilder:validation:MaxLength=71
	InputSchemaHash string `json:"inputSchemaHash,omitempty"`
}

// ToolAnnotations are the MCP behaviour hints of a tool. A nil hint was not given by the server.
type ToolAnnotations struct {
	// readOnly is the tool's readOnlyHint.
	// +optional
	ReadOnly *bool `json:"readOnly,omitempty"`
	// destructive is the tool's destructiveHint.
	// +optional
	Destructive *bool `json:"destructive,omitempty"`
	// idempotent is the tool's idempotentHint.
	// +optional
	Idempotent *bool `json:"idempotent,omitempty"`
	// openWorld is the tool's openWorldHint.
	// +optional
	OpenWorld *bool `json:"openWorld,omitempty"`
}

// MCPServer runs (or fronts) one MCP server in its namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mcps,categories=toolmesh
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Transport",type=string,JSONPath=`.spec.transport.type`
// +kubebuilder:printcolumn:name="Tools",type=integer,JSONPath=`.status.toolCount`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]{0,56}[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 58 characters that starts with a letter: it names the server's Service"
type MCPServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the server.
	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.targetNamespace)",message="targetNamespace is only valid on ClusterMCPServer; an MCPServer runs in its own namespace"
	// +kubebuilder:validation:XValidation:rule="!has(self.allowedNamespaces)",message="allowedNamespaces is only valid on ClusterMCPServer; an MCPServer serves routes of its own namespace"
	Spec MCPServerSpec `json:"spec"`

	// status is the observed state of the server.
	// +optional
	Status MCPServerStatus `json:"status,omitzero"`
}

// MCPServerList is a list of MCPServers.
// +kubebuilder:object:root=true
type MCPServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MCPServer `json:"items"`
}

// ClusterMCPServer runs (or fronts) one MCP server for the whole cluster: its workload runs in
// spec.targetNamespace and routes in spec.allowedNamespaces may use it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cmcps,categories=toolmesh
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Transport",type=string,JSONPath=`.spec.transport.type`
// +kubebuilder:printcolumn:name="Tools",type=integer,JSONPath=`.status.toolCount`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]{0,56}[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 58 characters that starts with a letter: it names the server's Service"
type ClusterMCPServer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the server.
	// +required
	Spec MCPServerSpec `json:"spec"`

	// status is the observed state of the server.
	// +optional
	Status MCPServerStatus `json:"status,omitzero"`
}

// ClusterMCPServerList is a list of ClusterMCPServers.
// +kubebuilder:object:root=true
type ClusterMCPServerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterMCPServer `json:"items"`
}

// ServerSpec returns the server's spec.
func (s *MCPServer) ServerSpec() *MCPServerSpec { return &s.Spec }

// ServerStatus returns the server's status.
func (s *MCPServer) ServerStatus() *MCPServerStatus { return &s.Status }

// ServerSpec returns the server's spec.
func (s *ClusterMCPServer) ServerSpec() *MCPServerSpec { return &s.Spec }

// ServerStatus returns the server's status.
func (s *ClusterMCPServer) ServerStatus() *MCPServerStatus { return &s.Status }
