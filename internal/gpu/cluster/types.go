package cluster

// Resource names and annotations this package understands.
const (
	ResourceGPU        = "nvidia.com/gpu"
	ResourceGPUMem     = "nvidia.com/gpumem"
	ResourceGPUCores   = "nvidia.com/gpucores"
	MIGResourcePrefix  = "nvidia.com/mig-"
	LabelGPUPresent    = "nvidia.com/gpu.present"
	LabelGPUProduct    = "nvidia.com/gpu.product"
	LabelGPUMemory     = "nvidia.com/gpu.memory"
	LabelGPUCount      = "nvidia.com/gpu.count"
	LabelGPUFamily     = "nvidia.com/gpu.family"
	LabelMIGStrategy   = "nvidia.com/mig.strategy"
	AnnotationHAMiReg  = "hami.io/node-nvidia-register"
	AnnotationHAMiUsed = "hami.io/vgpu-devices-allocated"
)

// Amounts compares what a node has, offers and has handed out of one resource.
type Amounts struct {
	// Capacity is the node's capacity.
	Capacity string `json:"capacity" jsonschema:"node capacity"`
	// Allocatable is what the scheduler may hand out.
	Allocatable string `json:"allocatable" jsonschema:"node allocatable"`
	// Allocated is the sum of requests of the node's non-terminated pods.
	Allocated string `json:"allocated" jsonschema:"sum of requests of non-terminated pods on the node"`
}

// Condition is a node condition.
type Condition struct {
	// Type is the condition type.
	Type string `json:"type" jsonschema:"condition type"`
	// Status is True, False or Unknown.
	Status string `json:"status" jsonschema:"True, False or Unknown"`
	// Reason is the condition's reason.
	Reason string `json:"reason,omitempty" jsonschema:"reason"`
}

// GPUNode is a node with NVIDIA GPUs.
type GPUNode struct {
	// Name is the node name.
	Name string `json:"name" jsonschema:"node name"`
	// Product is the GFD product label.
	Product string `json:"product,omitempty" jsonschema:"GPU product from nvidia.com/gpu.product"`
	// MemoryMiB is the GFD memory label.
	MemoryMiB string `json:"memoryMiB,omitempty" jsonschema:"per-GPU memory in MiB from nvidia.com/gpu.memory"`
	// Count is the GFD count label.
	Count string `json:"count,omitempty" jsonschema:"GPU count from nvidia.com/gpu.count"`
	// Family is the GFD family label.
	Family string `json:"family,omitempty" jsonschema:"GPU family from nvidia.com/gpu.family"`
	// MIGStrategy is the GFD MIG strategy label: none, single or mixed.
	MIGStrategy string `json:"migStrategy,omitempty" jsonschema:"MIG strategy: none, single or mixed"`
	// Resources maps nvidia.com/gpu, nvidia.com/mig-<profile>, nvidia.com/gpumem and nvidia.com/gpucores to amounts.
	Resources map[string]Amounts `json:"resources" jsonschema:"GPU resources: capacity vs allocatable vs allocated"`
	// Conditions are the node's conditions.
	Conditions []Condition `json:"conditions" jsonschema:"node conditions"`
	// Taints are the node's taints as key=value:effect.
	Taints []string `json:"taints" jsonschema:"taints as key=value:effect"`
	// Unschedulable reports a cordoned node.
	Unschedulable bool `json:"unschedulable" jsonschema:"whether the node is cordoned"`
}

// HAMiDevice is one vGPU slice HAMi allocated to a container.
type HAMiDevice struct {
	// UUID is the physical GPU's UUID.
	UUID string `json:"uuid" jsonschema:"physical GPU UUID"`
	// Type is the device type, such as NVIDIA.
	Type string `json:"type" jsonschema:"device type"`
	// UsedMemMiB is the memory allocated.
	UsedMemMiB int `json:"usedMemMiB" jsonschema:"memory allocated in MiB"`
	// UsedCores is the percent of SM cores allocated.
	UsedCores int `json:"usedCores" jsonschema:"percent of cores allocated"`
}

// EnvVar is a container environment variable after redaction.
type EnvVar struct {
	// Name is the variable name.
	Name string `json:"name" jsonschema:"variable name"`
	// Value is the value, masked when the name looks secret; values from references are not resolved.
	Value string `json:"value,omitempty" jsonschema:"value, masked when the name looks secret"`
}

// ContainerGPU is one container's GPU requests and limits.
type ContainerGPU struct {
	// Name is the container name.
	Name string `json:"name" jsonschema:"container name"`
	// Kind is container, init or ephemeral.
	Kind string `json:"kind" jsonschema:"container, init or ephemeral"`
	// Requests are the GPU resource requests.
	Requests map[string]string `json:"requests" jsonschema:"GPU resource requests"`
	// Limits are the GPU resource limits.
	Limits map[string]string `json:"limits" jsonschema:"GPU resource limits"`
	// HAMi is the HAMi allocation for this container, when HAMi annotated the pod.
	HAMi []HAMiDevice `json:"hami,omitempty" jsonschema:"HAMi vGPU allocation"`
	// Env is the container's environment, redacted.
	Env []EnvVar `json:"env,omitempty" jsonschema:"environment, secrets masked"`
}

// GPUPod is a pod that requests GPU resources.
type GPUPod struct {
	// Namespace is the pod's namespace.
	Namespace string `json:"namespace" jsonschema:"namespace"`
	// Name is the pod's name.
	Name string `json:"name" jsonschema:"name"`
	// UID is the pod's UID.
	UID string `json:"uid" jsonschema:"pod UID"`
	// Node is the node it is bound to.
	Node string `json:"node,omitempty" jsonschema:"node the pod runs on"`
	// Phase is the pod phase.
	Phase string `json:"phase" jsonschema:"pod phase"`
	// Containers lists containers with GPU requests or limits.
	Containers []ContainerGPU `json:"containers" jsonschema:"containers with GPU resources"`
	// HAMiError says why the HAMi allocation annotation could not be read.
	HAMiError string `json:"hamiError,omitempty" jsonschema:"why the HAMi allocation annotation is malformed"`
}

// QuotaResource is one GPU resource of a ResourceQuota.
type QuotaResource struct {
	// Resource is the quota key, such as requests.nvidia.com/gpu.
	Resource string `json:"resource" jsonschema:"quota key"`
	// Limited is false when the quota sets no hard limit for the resource: no quota, not zero.
	Limited bool `json:"limited" jsonschema:"false means no quota for this resource (not zero)"`
	// Hard is the hard limit when Limited.
	Hard string `json:"hard,omitempty" jsonschema:"hard limit, absent when not limited"`
	// Used is the amount in use.
	Used string `json:"used" jsonschema:"amount used"`
}

// Quota is one ResourceQuota's GPU resources.
type Quota struct {
	// Namespace is the quota's namespace.
	Namespace string `json:"namespace" jsonschema:"namespace"`
	// Name is the quota's name.
	Name string `json:"name" jsonschema:"ResourceQuota name"`
	// Resources are the GPU-related resources.
	Resources []QuotaResource `json:"resources" jsonschema:"GPU-related resources"`
}

// HAMiRegisteredDevice is one GPU HAMi's device plugin registered on a node.
type HAMiRegisteredDevice struct {
	// ID is the GPU UUID.
	ID string `json:"id" jsonschema:"GPU UUID"`
	// Count is how many vGPUs it may be split into.
	Count int `json:"count" jsonschema:"vGPU split count"`
	// DevMem is the memory in MiB.
	DevMem int `json:"devmem" jsonschema:"device memory in MiB"`
	// DevCore is the core percentage offered.
	DevCore int `json:"devcore" jsonschema:"core percentage offered"`
	// Type is the device type.
	Type string `json:"type" jsonschema:"device type"`
	// Numa is the NUMA node.
	Numa int `json:"numa" jsonschema:"NUMA node"`
	// Health reports the device plugin's health check.
	Health bool `json:"health" jsonschema:"device plugin health"`
}

// NodeDetail is a GPU node with its GPU pods and HAMi registration.
type NodeDetail struct {
	// Node is the node summary.
	Node GPUNode `json:"node" jsonschema:"node summary"`
	// Labels are the node's labels.
	Labels map[string]string `json:"labels" jsonschema:"node labels"`
	// Annotations are the node's annotations, redacted.
	Annotations map[string]string `json:"annotations" jsonschema:"node annotations, secrets masked"`
	// Pods are the node's GPU pods.
	Pods []GPUPod `json:"pods" jsonschema:"GPU pods on the node"`
	// HAMiDevices are the GPUs HAMi registered, when it did.
	HAMiDevices []HAMiRegisteredDevice `json:"hamiDevices,omitempty" jsonschema:"devices from hami.io/node-nvidia-register"`
	// HAMiError says why the HAMi registration could not be read.
	HAMiError string `json:"hamiError,omitempty" jsonschema:"why the HAMi register annotation is malformed"`
}
