package gpu

import "time"

// Driver describes the NVIDIA driver stack on a node.
type Driver struct {
	// DriverVersion is the kernel driver version.
	DriverVersion string `json:"driverVersion" jsonschema:"NVIDIA kernel driver version"`
	// NVMLVersion is the NVML library version.
	NVMLVersion string `json:"nvmlVersion" jsonschema:"NVML library version"`
	// CUDADriverVersion is the CUDA driver API version, such as 12040.
	CUDADriverVersion int `json:"cudaDriverVersion" jsonschema:"CUDA driver API version, e.g. 12040 for 12.4"`
}

// Device is one physical GPU.
type Device struct {
	// Index is the NVML device index.
	Index int `json:"index" jsonschema:"NVML device index"`
	// UUID is the GPU's UUID.
	UUID string `json:"uuid" jsonschema:"GPU UUID"`
	// Name is the product name.
	Name string `json:"name" jsonschema:"product name"`
	// Architecture is the GPU architecture, such as Hopper.
	Architecture string `json:"architecture,omitempty" jsonschema:"GPU architecture"`
	// PCIBusID is the canonical PCI address.
	PCIBusID string `json:"pciBusId" jsonschema:"PCI address, canonical form dddd:bb:dd.f"`
	// MemoryTotalMiB is the framebuffer size in MiB.
	MemoryTotalMiB uint64 `json:"memoryTotalMiB" jsonschema:"framebuffer memory in MiB"`
	// ComputeCapability is the CUDA compute capability, such as 9.0.
	ComputeCapability string `json:"computeCapability,omitempty" jsonschema:"CUDA compute capability"`
	// MIGEnabled reports whether MIG mode is on.
	MIGEnabled bool `json:"migEnabled" jsonschema:"whether MIG mode is enabled"`
	// MIGDevices lists the MIG GPU instances when MIG is on.
	MIGDevices []MIGDevice `json:"migDevices,omitempty" jsonschema:"MIG GPU instances"`
}

// MIGDevice is one MIG GPU instance.
type MIGDevice struct {
	// GPUInstanceID is the GPU instance id.
	GPUInstanceID int `json:"gpuInstanceId" jsonschema:"MIG GPU instance id"`
	// Profile is the profile name, such as 1g.10gb.
	Profile string `json:"profile" jsonschema:"MIG profile, e.g. 1g.10gb"`
	// MemoryMiB is the instance's memory.
	MemoryMiB uint64 `json:"memoryMiB" jsonschema:"instance memory in MiB"`
	// ComputeInstances is the number of compute instances in it.
	ComputeInstances int `json:"computeInstances" jsonschema:"number of compute instances"`
}

// Inventory is the static hardware map of a node.
type Inventory struct {
	// Driver describes the driver stack.
	Driver Driver `json:"driver" jsonschema:"driver stack"`
	// Devices are the GPUs by index.
	Devices []Device `json:"devices" jsonschema:"GPUs by index"`
}

// Telemetry is the live state of one GPU.
type Telemetry struct {
	// Index is the NVML device index.
	Index int `json:"index" jsonschema:"NVML device index"`
	// UUID is the GPU's UUID.
	UUID string `json:"uuid" jsonschema:"GPU UUID"`
	// TemperatureC is the GPU core temperature.
	TemperatureC uint32 `json:"temperatureC" jsonschema:"core temperature in Celsius"`
	// SlowdownTemperatureC is the temperature at which the GPU slows down.
	SlowdownTemperatureC uint32 `json:"slowdownTemperatureC" jsonschema:"hardware slowdown threshold in Celsius"`
	// ShutdownTemperatureC is the temperature at which the GPU shuts down.
	ShutdownTemperatureC uint32 `json:"shutdownTemperatureC" jsonschema:"shutdown threshold in Celsius"`
	// PowerW is the current power draw.
	PowerW float64 `json:"powerW" jsonschema:"power draw in watts"`
	// PowerLimitW is the enforced power limit.
	PowerLimitW float64 `json:"powerLimitW" jsonschema:"enforced power limit in watts"`
	// GPUUtilizationPct is the percent of time a kernel ran.
	GPUUtilizationPct uint32 `json:"gpuUtilizationPct" jsonschema:"GPU utilization percent"`
	// MemoryUtilizationPct is the percent of time memory was read or written.
	MemoryUtilizationPct uint32 `json:"memoryUtilizationPct" jsonschema:"memory controller utilization percent"`
	// MemoryUsedMiB is the framebuffer in use.
	MemoryUsedMiB uint64 `json:"memoryUsedMiB" jsonschema:"framebuffer used in MiB"`
	// SMClockMHz is the current SM clock.
	SMClockMHz uint32 `json:"smClockMHz" jsonschema:"current SM clock in MHz"`
	// MaxSMClockMHz is the maximum SM clock.
	MaxSMClockMHz uint32 `json:"maxSmClockMHz" jsonschema:"maximum SM clock in MHz"`
	// MemoryClockMHz is the current memory clock.
	MemoryClockMHz uint32 `json:"memoryClockMHz" jsonschema:"current memory clock in MHz"`
	// ClockEventReasons names why clocks are held down, such as hw_thermal_slowdown.
	ClockEventReasons []string `json:"clockEventReasons" jsonschema:"active clock event (throttle) reasons"`
}

// ECC is the memory error state of one GPU.
type ECC struct {
	// Index is the NVML device index.
	Index int `json:"index" jsonschema:"NVML device index"`
	// UUID is the GPU's UUID.
	UUID string `json:"uuid" jsonschema:"GPU UUID"`
	// Enabled reports whether ECC is on.
	Enabled bool `json:"enabled" jsonschema:"whether ECC is enabled"`
	// VolatileCorrected counts corrected errors since the driver loaded.
	VolatileCorrected uint64 `json:"volatileCorrected" jsonschema:"corrected errors since driver load"`
	// VolatileUncorrected counts uncorrected errors since the driver loaded.
	VolatileUncorrected uint64 `json:"volatileUncorrected" jsonschema:"uncorrected errors since driver load"`
	// AggregateCorrected counts corrected errors over the GPU's life.
	AggregateCorrected uint64 `json:"aggregateCorrected" jsonschema:"corrected errors over the GPU lifetime"`
	// AggregateUncorrected counts uncorrected errors over the GPU's life.
	AggregateUncorrected uint64 `json:"aggregateUncorrected" jsonschema:"uncorrected errors over the GPU lifetime"`
	// RetiredPagesSBE counts pages retired for single-bit errors (pre-Ampere page retirement).
	RetiredPagesSBE int `json:"retiredPagesSbe" jsonschema:"pages retired for multiple single-bit errors"`
	// RetiredPagesDBE counts pages retired for double-bit errors.
	RetiredPagesDBE int `json:"retiredPagesDbe" jsonschema:"pages retired for double-bit errors"`
	// RetiredPagesPending reports a retirement that needs a reset to take effect.
	RetiredPagesPending bool `json:"retiredPagesPending" jsonschema:"page retirement awaiting a reset"`
	// RemappedRowsCorrectable counts rows remapped for correctable errors.
	RemappedRowsCorrectable int `json:"remappedRowsCorrectable" jsonschema:"rows remapped for correctable errors"`
	// RemappedRowsUncorrectable counts rows remapped for uncorrectable errors.
	RemappedRowsUncorrectable int `json:"remappedRowsUncorrectable" jsonschema:"rows remapped for uncorrectable errors"`
	// RemapPending reports a row remap that needs a reset to take effect.
	RemapPending bool `json:"remapPending" jsonschema:"row remap awaiting a GPU reset"`
	// RemapFailed reports that a row could not be remapped.
	RemapFailed bool `json:"remapFailed" jsonschema:"a row remap failed"`
	// RowRemappingSupported is false on GPUs that retire pages instead.
	RowRemappingSupported bool `json:"rowRemappingSupported" jsonschema:"whether the GPU remaps rows (Ampere and newer)"`
}

// Process is one process holding a GPU context.
type Process struct {
	// PID is the process id in the agent's PID namespace (the host's on a DaemonSet with hostPID).
	PID int `json:"pid" jsonschema:"process id"`
	// Name is the process name from /proc.
	Name string `json:"name,omitempty" jsonschema:"process name"`
	// GPUIndex is the NVML index of the GPU.
	GPUIndex int `json:"gpuIndex" jsonschema:"NVML index of the GPU"`
	// GPUUUID is the UUID of the GPU.
	GPUUUID string `json:"gpuUuid" jsonschema:"GPU UUID"`
	// UsedMemoryMiB is the framebuffer the process holds.
	UsedMemoryMiB uint64 `json:"usedMemoryMiB" jsonschema:"GPU memory used in MiB"`
	// GPUInstanceID is the MIG GPU instance, or -1 when MIG is off.
	GPUInstanceID int `json:"gpuInstanceId" jsonschema:"MIG GPU instance id, -1 without MIG"`
	// Owner is the pod and container owning the process, when known.
	Owner *PodRef `json:"owner,omitempty" jsonschema:"pod and container owning the process"`
	// AllocatedTo are the pods and containers the kubelet allocated the GPU to, from its
	// PodResources API; they name the pod even where the cgroup cannot.
	AllocatedTo []PodRef `json:"allocatedTo,omitempty" jsonschema:"pods and containers the kubelet allocated this GPU to"`
	// AllocationMismatch reports a process whose pod was not allocated the GPU it runs on.
	AllocationMismatch bool `json:"allocationMismatch,omitempty" jsonschema:"the owning pod was not allocated this GPU"`
	// Notes are evidence about ownership: a mismatch, or why PodResources could not be asked.
	Notes []string `json:"notes,omitempty" jsonschema:"evidence about the process's ownership"`
}

// PodRef names the pod and container that own a process.
type PodRef struct {
	// Namespace is the pod's namespace; empty until the server resolves PodUID.
	Namespace string `json:"namespace,omitempty" jsonschema:"pod namespace"`
	// Name is the pod's name; empty until the server resolves PodUID.
	Name string `json:"name,omitempty" jsonschema:"pod name"`
	// PodUID is the pod UID from the process's cgroup.
	PodUID string `json:"podUid" jsonschema:"pod UID"`
	// ContainerID is the container runtime id from the process's cgroup.
	ContainerID string `json:"containerId,omitempty" jsonschema:"container runtime id"`
	// Container is the container name; empty until the server resolves it.
	Container string `json:"container,omitempty" jsonschema:"container name"`
}

// Link is one NVLink of a GPU.
type Link struct {
	// Link is the link number.
	Link int `json:"link" jsonschema:"NVLink number"`
	// Active reports whether the link is up.
	Active bool `json:"active" jsonschema:"whether the link is up"`
	// RemotePCIBusID is the PCI address NVML reports for the other end of the link.
	RemotePCIBusID string `json:"remotePciBusId,omitempty" jsonschema:"PCI address of the remote end as NVML reports it"`
	// RemoteDeviceType is gpu, switch, ibmnpu or unknown, as NVML reports it.
	RemoteDeviceType string `json:"remoteDeviceType,omitempty" jsonschema:"gpu, switch, ibmnpu or unknown"`
	// RemoteGPUIndex is the local GPU at the other end, or -1 for an NVSwitch or unknown peer.
	RemoteGPUIndex int `json:"remoteGpuIndex" jsonschema:"index of the peer GPU, -1 if not a local GPU"`
	// ReplayErrors counts data link replays.
	ReplayErrors uint64 `json:"replayErrors" jsonschema:"replay error counter"`
	// RecoveryErrors counts link recoveries.
	RecoveryErrors uint64 `json:"recoveryErrors" jsonschema:"recovery error counter"`
	// CRCFlitErrors counts flow-control CRC errors.
	CRCFlitErrors uint64 `json:"crcFlitErrors" jsonschema:"CRC FLIT error counter"`
}

// PeerPath is the connection between two GPUs.
type PeerPath struct {
	// GPU is the first GPU's index.
	GPU int `json:"gpu" jsonschema:"first GPU index"`
	// Peer is the second GPU's index.
	Peer int `json:"peer" jsonschema:"second GPU index"`
	// CommonAncestor is NVML's topology level: internal, single, multiple, hostbridge, node or system.
	CommonAncestor string `json:"commonAncestor" jsonschema:"PCIe common ancestor level from NVML"`
	// P2PRead is NVML's P2P read status, such as ok or not_supported.
	P2PRead string `json:"p2pRead" jsonschema:"P2P read capability status"`
	// P2PNVLink is NVML's P2P-over-NVLink status.
	P2PNVLink string `json:"p2pNvlink" jsonschema:"P2P over NVLink capability status"`
	// NVLinks counts active links whose remote end NVML reports as the peer.
	NVLinks int `json:"nvlinks" jsonschema:"active NVLinks directly connecting the pair"`
}

// DeviceLinks is the NVLink state of one GPU.
type DeviceLinks struct {
	// Index is the NVML device index.
	Index int `json:"index" jsonschema:"NVML device index"`
	// UUID is the GPU's UUID.
	UUID string `json:"uuid" jsonschema:"GPU UUID"`
	// Links are the GPU's NVLinks that NVML reports.
	Links []Link `json:"links" jsonschema:"NVLinks"`
}

// Topology is the interconnect of a node's GPUs.
type Topology struct {
	// Paths are the GPU pairs, each once.
	Paths []PeerPath `json:"paths" jsonschema:"one entry per GPU pair"`
	// GPUs carries each GPU's NVLink state and error counters.
	GPUs []DeviceLinks `json:"gpus" jsonschema:"per-GPU NVLink state"`
}

// RecoveryAction is NVML's recovery action for a GPU (nvmlDeviceGpuRecoveryAction_t).
type RecoveryAction string

// NVML's recovery actions.
const (
	RecoveryNone          RecoveryAction = "none"
	RecoveryGPUReset      RecoveryAction = "gpu_reset"
	RecoveryNodeReboot    RecoveryAction = "node_reboot"
	RecoveryDrainP2P      RecoveryAction = "drain_p2p"
	RecoveryDrainAndReset RecoveryAction = "drain_and_reset"
	RecoveryUnsupported   RecoveryAction = "unsupported"
)

// Recovery is the recovery action NVML reports for one GPU.
type Recovery struct {
	// Index is the NVML device index.
	Index int `json:"index"`
	// UUID is the GPU's UUID.
	UUID string `json:"uuid"`
	// Action is NVML's recovery action.
	Action RecoveryAction `json:"action"`
}

// XIDEvent is one Xid as a source reported it.
type XIDEvent struct {
	// Time is when the Xid happened (kmsg) or was received (NVML).
	Time time.Time `json:"time"`
	// Source is nvml or kmsg.
	Source string `json:"source"`
	// Code is the Xid number.
	Code int `json:"code"`
	// GPUUUID is the GPU's UUID, when known.
	GPUUUID string `json:"gpuUuid,omitempty"`
	// PCIBusID is the canonical PCI address, when known.
	PCIBusID string `json:"pciBusId,omitempty"`
	// PID is the process the driver named, or 0.
	PID int `json:"pid,omitempty"`
	// Detail is the driver's message text.
	Detail string `json:"detail,omitempty"`
}
