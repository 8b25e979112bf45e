package v1alpha1

// Condition types. Every condition carries the observedGeneration of the spec it describes.
const (
	// ConditionReady is set on MCPServer, ClusterMCPServer and MCPGateway. It is True when the
	// object serves traffic as specified: its workload is available (or it is a remote server), its
	// references resolve and, where tools are pinned, the live tool list matches the pin.
	ConditionReady = "Ready"

	// ConditionAvailable is set on MCPServer and ClusterMCPServer. It is True when the Deployment
	// has at least one ready replica at the current spec, or when the server is remote.
	ConditionAvailable = "Available"

	// ConditionToolsDiscovered is set on MCPServer and ClusterMCPServer. It is True after the
	// operator listed the server's tools through MCP (initialize, tools/list).
	ConditionToolsDiscovered = "ToolsDiscovered"

	// ConditionToolsPinned is set on MCPServer and ClusterMCPServer when spec.discovery.expectedTools
	// is set. It is True when the discovered tool names equal the pinned list.
	ConditionToolsPinned = "ToolsPinned"

	// ConditionAccepted is set on MCPGateway (its spec is valid and owned by this operator) and on
	// each entry of MCPRoute status.parents (the gateway accepts the route).
	ConditionAccepted = "Accepted"

	// ConditionProgrammed is set on MCPGateway. It is True when the data-plane configuration was
	// rendered and published for the gateway's pods.
	ConditionProgrammed = "Programmed"

	// ConditionResolvedRefs is set on each entry of MCPRoute status.parents. It is True when every
	// backend reference resolves to a server the route may use.
	ConditionResolvedRefs = "ResolvedRefs"
)

// Condition reasons. A reason is a CamelCase word that explains the condition's status; messages
// that go with them are deterministic so that writing status never causes another reconcile.
const (
	// ReasonAvailable is used with Available=True and Ready=True when the workload has ready
	// replicas at the current spec.
	ReasonAvailable = "Available"

	// ReasonProgressing is used with Available=False and Ready=False while a rollout of the current
	// spec has not produced a ready replica yet.
	ReasonProgressing = "Progressing"

	// ReasonScaledToZero is used with Available=False and Ready=False when spec.deployment.replicas is 0.
	ReasonScaledToZero = "ScaledToZero"

	// ReasonRemote is used with Available=True for servers declared with spec.remote: there is no
	// workload to wait for.
	ReasonRemote = "RemoteServer"

	// ReasonReferenceNotFound is used with Ready=False when a Secret or ConfigMap the spec refers to
	// (env, envFrom, remote headers, CA bundles, session keys) does not exist or lacks the key.
	ReasonReferenceNotFound = "ReferenceNotFound"

	// ReasonNamespaceNotFound is used with Ready=False on a ClusterMCPServer whose
	// spec.targetNamespace does not exist.
	ReasonNamespaceNotFound = "NamespaceNotFound"

	// ReasonApplyFailed is used with Ready=False when the API server refused an owned object.
	ReasonApplyFailed = "ApplyFailed"

	// ReasonDiscovered is used with ToolsDiscovered=True after a successful tools/list.
	ReasonDiscovered = "Discovered"

	// ReasonDiscoveryPending is used with ToolsDiscovered=Unknown before the server is available.
	ReasonDiscoveryPending = "Pending"

	// ReasonDiscoveryFailed is used with ToolsDiscovered=False when initialize or tools/list failed.
	ReasonDiscoveryFailed = "DiscoveryFailed"

	// ReasonToolsMatch is used with ToolsPinned=True when the live tool names equal the pin.
	ReasonToolsMatch = "ToolsMatch"

	// ReasonToolsMismatch is used with ToolsPinned=False and Ready=False when the live tool names
	// differ from spec.discovery.expectedTools.
	ReasonToolsMismatch = "ToolsMismatch"

	// ReasonAccepted is used with Accepted=True.
	ReasonAccepted = "Accepted"

	// ReasonProgrammed is used with Programmed=True.
	ReasonProgrammed = "Programmed"

	// ReasonInvalid is used with Accepted=False or Programmed=False when the configuration cannot
	// be rendered (for example a Cedar policy that does not compile).
	ReasonInvalid = "Invalid"

	// ReasonNotAllowedByParent is used with Accepted=False on a route parent whose allowedRoutes
	// does not admit the route's namespace.
	ReasonNotAllowedByParent = "NotAllowedByParent"

	// ReasonNoSuchParent is used with Accepted=False on a route parent that does not exist.
	ReasonNoSuchParent = "NoSuchParent"

	// ReasonBackendNotFound is used with ResolvedRefs=False when a backend reference names a server
	// that does not exist.
	ReasonBackendNotFound = "BackendNotFound"

	// ReasonRefNotPermitted is used with ResolvedRefs=False when a ClusterMCPServer's
	// allowedNamespaces does not admit the route's namespace.
	ReasonRefNotPermitted = "RefNotPermitted"

	// ReasonResolvedRefs is used with ResolvedRefs=True.
	ReasonResolvedRefs = "ResolvedRefs"

	// ReasonToolNameConflict is used on an MCPRoute condition when two backends expose the same
	// tool name; the later backend's tool is hidden, never renamed.
	ReasonToolNameConflict = "ToolNameConflict"
)
