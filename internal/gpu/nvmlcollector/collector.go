//go:build cgo

package nvmlcollector

import (
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/xid"
)

// Collector reads GPUs through an nvml.Interface: the real library or go-nvml's mock.
type Collector struct {
	lib   nvml.Interface
	now   func() time.Time
	reset func(ctx context.Context, uuid string) error

	// waitMu serialises waits on the event set; mu guards the recorded events.
	waitMu  sync.Mutex
	mu      sync.Mutex
	events  nvml.EventSet
	xids    []gpu.XIDEvent
	running bool
}

// maxXIDEvents bounds the Xid events kept; a storm keeps its newest events.
const maxXIDEvents = 10000

var _ gpu.Collector = (*Collector)(nil)

// New loads the NVIDIA driver's NVML library and initialises it. Where the driver is absent it
// returns an error wrapping gpu.ErrNoDriver.
func New(opts Options) (gpu.Collector, error) {
	var libOpts []nvml.LibraryOption
	if opts.LibraryPath != "" {
		libOpts = append(libOpts, nvml.WithLibraryPath(opts.LibraryPath))
	}
	return NewFromInterface(nvml.New(libOpts...), opts)
}

// NewFromInterface initialises a Collector over any nvml.Interface, such as go-nvml's mock.
func NewFromInterface(lib nvml.Interface, opts Options) (*Collector, error) {
	switch ret := lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return nil, fmt.Errorf("%w: libnvidia-ml.so.1 could not be loaded; is the NVIDIA driver installed on this node and mounted into the container?", gpu.ErrNoDriver)
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return nil, fmt.Errorf("%w: the NVIDIA kernel driver is not loaded", gpu.ErrNoDriver)
	default:
		return nil, fmt.Errorf("initialise NVML: %w", ret)
	}
	c := &Collector{lib: lib, now: opts.Now, reset: opts.Reset}
	if c.now == nil {
		c.now = time.Now
	}
	if c.reset == nil {
		c.reset = nvidiaSMIReset
	}
	if err := c.registerXIDEvents(); err != nil {
		_ = lib.Shutdown()
		return nil, err
	}
	return c, nil
}

func nvidiaSMIReset(ctx context.Context, uuid string) error {
	out, err := exec.CommandContext(ctx, "nvidia-smi", "--gpu-reset", "-i", uuid).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nvidia-smi --gpu-reset -i %s: %w: %s", uuid, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Close frees the event set and shuts NVML down.
func (c *Collector) Close() error {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	if c.events != nil {
		_ = c.events.Free()
		c.events = nil
	}
	if ret := c.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("shut down NVML: %w", ret)
	}
	return nil
}

type handle struct {
	index int
	dev   nvml.Device
	uuid  string
	bus   string
}

func (c *Collector) devices() ([]handle, error) {
	n, ret := c.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("count GPUs: %w", ret)
	}
	out := make([]handle, 0, n)
	for i := 0; i < n; i++ {
		d, ret := c.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("open GPU %d: %w", i, ret)
		}
		uuid, ret := d.GetUUID()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("get UUID of GPU %d: %w", i, ret)
		}
		pci, ret := d.GetPciInfo()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("get PCI info of GPU %d: %w", i, ret)
		}
		bus, err := xid.NormalizePCI(cString(pci.BusId[:]))
		if err != nil {
			return nil, fmt.Errorf("GPU %d: %w", i, err)
		}
		out = append(out, handle{index: i, dev: d, uuid: uuid, bus: bus})
	}
	return out, nil
}

func cString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// Inventory returns the driver versions and every GPU with its MIG layout.
func (c *Collector) Inventory(_ context.Context) (gpu.Inventory, error) {
	var inv gpu.Inventory
	var ret nvml.Return
	if inv.Driver.DriverVersion, ret = c.lib.SystemGetDriverVersion(); ret != nvml.SUCCESS {
		return inv, fmt.Errorf("get driver version: %w", ret)
	}
	if inv.Driver.NVMLVersion, ret = c.lib.SystemGetNVMLVersion(); ret != nvml.SUCCESS {
		return inv, fmt.Errorf("get NVML version: %w", ret)
	}
	if inv.Driver.CUDADriverVersion, ret = c.lib.SystemGetCudaDriverVersion(); ret != nvml.SUCCESS {
		return inv, fmt.Errorf("get CUDA driver version: %w", ret)
	}
	hs, err := c.devices()
	if err != nil {
		return inv, err
	}
	inv.Devices = []gpu.Device{}
	for _, h := range hs {
		d, err := describe(h)
		if err != nil {
			return inv, err
		}
		inv.Devices = append(inv.Devices, d)
	}
	return inv, nil
}

func describe(h handle) (gpu.Device, error) {
	out := gpu.Device{Index: h.index, UUID: h.uuid, PCIBusID: h.bus}
	var ret nvml.Return
	if out.Name, ret = h.dev.GetName(); ret != nvml.SUCCESS {
		return out, fmt.Errorf("get name of GPU %d: %w", h.index, ret)
	}
	if arch, ret := h.dev.GetArchitecture(); ret == nvml.SUCCESS {
		out.Architecture = archName(arch)
	}
	mem, ret := h.dev.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return out, fmt.Errorf("get memory of GPU %d: %w", h.index, ret)
	}
	out.MemoryTotalMiB = mem.Total / (1 << 20)
	if major, minor, ret := h.dev.GetCudaComputeCapability(); ret == nvml.SUCCESS {
		out.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	}
	current, _, ret := h.dev.GetMigMode()
	switch {
	case ret == nvml.ERROR_NOT_SUPPORTED:
	case ret != nvml.SUCCESS:
		return out, fmt.Errorf("get MIG mode of GPU %d: %w", h.index, ret)
	case current == nvml.DEVICE_MIG_ENABLE:
		out.MIGEnabled = true
		migs, err := migDevices(h)
		if err != nil {
			return out, err
		}
		out.MIGDevices = migs
	}
	return out, nil
}

func migDevices(h handle) ([]gpu.MIGDevice, error) {
	out := []gpu.MIGDevice{}
	for p := 0; p < nvml.GPU_INSTANCE_PROFILE_COUNT; p++ {
		info, ret := h.dev.GetGpuInstanceProfileInfo(p)
		if ret != nvml.SUCCESS {
			continue // profile not offered by this GPU
		}
		gis, ret := h.dev.GetGpuInstances(&info)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("list MIG instances of GPU %d: %w", h.index, ret)
		}
		for _, gi := range gis {
			gii, ret := gi.GetInfo()
			if ret != nvml.SUCCESS {
				return nil, fmt.Errorf("get MIG instance info on GPU %d: %w", h.index, ret)
			}
			out = append(out, gpu.MIGDevice{
				GPUInstanceID:    int(gii.Id),
				Profile:          fmt.Sprintf("%dg.%dgb", info.SliceCount, (info.MemorySizeMB+1023)/1024),
				MemoryMiB:        info.MemorySizeMB,
				ComputeInstances: countComputeInstances(gi),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GPUInstanceID < out[j].GPUInstanceID })
	return out, nil
}

func countComputeInstances(gi nvml.GpuInstance) int {
	n := 0
	for p := 0; p < nvml.COMPUTE_INSTANCE_PROFILE_COUNT; p++ {
		info, ret := gi.GetComputeInstanceProfileInfo(p, nvml.COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
		if ret != nvml.SUCCESS {
			continue
		}
		cis, ret := gi.GetComputeInstances(&info)
		if ret == nvml.SUCCESS {
			n += len(cis)
		}
	}
	return n
}

func archName(a nvml.DeviceArchitecture) string {
	switch a {
	case nvml.DEVICE_ARCH_VOLTA:
		return "Volta"
	case nvml.DEVICE_ARCH_TURING:
		return "Turing"
	case nvml.DEVICE_ARCH_AMPERE:
		return "Ampere"
	case nvml.DEVICE_ARCH_ADA:
		return "Ada"
	case nvml.DEVICE_ARCH_HOPPER:
		return "Hopper"
	default:
		return fmt.Sprintf("arch-%d", a)
	}
}

// Telemetry returns temperature, power, utilisation, clocks and clock event reasons per GPU.
func (c *Collector) Telemetry(_ context.Context) ([]gpu.Telemetry, error) {
	hs, err := c.devices()
	if err != nil {
		return nil, err
	}
	out := make([]gpu.Telemetry, 0, len(hs))
	for _, h := range hs {
		t, err := telemetry(h)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func telemetry(h handle) (gpu.Telemetry, error) {
	t := gpu.Telemetry{Index: h.index, UUID: h.uuid, ClockEventReasons: []string{}}
	var ret nvml.Return
	if t.TemperatureC, ret = h.dev.GetTemperature(nvml.TEMPERATURE_GPU); ret != nvml.SUCCESS {
		return t, fmt.Errorf("get temperature of GPU %d: %w", h.index, ret)
	}
	t.SlowdownTemperatureC, _ = optional(h.dev.GetTemperatureThreshold(nvml.TEMPERATURE_THRESHOLD_SLOWDOWN))
	t.ShutdownTemperatureC, _ = optional(h.dev.GetTemperatureThreshold(nvml.TEMPERATURE_THRESHOLD_SHUTDOWN))
	if mw, ok := optional(h.dev.GetPowerUsage()); ok {
		t.PowerW = float64(mw) / 1000
	}
	if mw, ok := optional(h.dev.GetEnforcedPowerLimit()); ok {
		t.PowerLimitW = float64(mw) / 1000
	}
	if u, ret := h.dev.GetUtilizationRates(); ret == nvml.SUCCESS {
		t.GPUUtilizationPct, t.MemoryUtilizationPct = u.Gpu, u.Memory
	}
	if m, ret := h.dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		t.MemoryUsedMiB = m.Used / (1 << 20)
	}
	t.SMClockMHz, _ = optional(h.dev.GetClockInfo(nvml.CLOCK_SM))
	t.MaxSMClockMHz, _ = optional(h.dev.GetMaxClockInfo(nvml.CLOCK_SM))
	t.MemoryClockMHz, _ = optional(h.dev.GetClockInfo(nvml.CLOCK_MEM))
	if reasons, ret := h.dev.GetCurrentClocksEventReasons(); ret == nvml.SUCCESS {
		t.ClockEventReasons = clockEventReasons(reasons)
	}
	return t, nil
}

func optional[T any](v T, ret nvml.Return) (T, bool) {
	return v, ret == nvml.SUCCESS
}

var clockReasonNames = []struct {
	bit  uint64
	name string
}{
	{nvml.ClocksEventReasonGpuIdle, "gpu_idle"},
	{nvml.ClocksEventReasonApplicationsClocksSetting, "applications_clocks_setting"},
	{nvml.ClocksEventReasonSwPowerCap, "sw_power_cap"},
	{nvml.ClocksThrottleReasonHwSlowdown, "hw_slowdown"},
	{nvml.ClocksEventReasonSyncBoost, "sync_boost"},
	{nvml.ClocksEventReasonSwThermalSlowdown, "sw_thermal_slowdown"},
	{nvml.ClocksThrottleReasonHwThermalSlowdown, "hw_thermal_slowdown"},
	{nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, "hw_power_brake_slowdown"},
	{nvml.ClocksEventReasonDisplayClockSetting, "display_clock_setting"},
}

func clockEventReasons(mask uint64) []string {
	out := []string{}
	for _, r := range clockReasonNames {
		if mask&r.bit != 0 {
			out = append(out, r.name)
		}
	}
	return out
}

// Topology returns NVML's common ancestor and P2P status for every GPU pair and each GPU's
// NVLinks; an NVLink peer is the GPU whose PCI address NVML reports for the link's remote end.
func (c *Collector) Topology(_ context.Context) (gpu.Topology, error) {
	hs, err := c.devices()
	if err != nil {
		return gpu.Topology{}, err
	}
	byBus := map[string]int{}
	for _, h := range hs {
		byBus[h.bus] = h.index
	}
	topo := gpu.Topology{Paths: []gpu.PeerPath{}, GPUs: []gpu.DeviceLinks{}}
	links := make(map[int][]gpu.Link, len(hs))
	for _, h := range hs {
		ls, err := nvlinks(h, byBus)
		if err != nil {
			return topo, err
		}
		links[h.index] = ls
		topo.GPUs = append(topo.GPUs, gpu.DeviceLinks{Index: h.index, UUID: h.uuid, Links: ls})
	}
	for i, a := range hs {
		for _, b := range hs[i+1:] {
			p := gpu.PeerPath{GPU: a.index, Peer: b.index}
			level, ret := a.dev.GetTopologyCommonAncestor(b.dev)
			if ret != nvml.SUCCESS {
				return topo, fmt.Errorf("get common ancestor of GPUs %d and %d: %w", a.index, b.index, ret)
			}
			p.CommonAncestor = topologyLevel(level)
			p.P2PRead = p2pStatus(a.dev.GetP2PStatus(b.dev, nvml.P2P_CAPS_INDEX_READ))
			p.P2PNVLink = p2pStatus(a.dev.GetP2PStatus(b.dev, nvml.P2P_CAPS_INDEX_NVLINK))
			for _, l := range links[a.index] {
				if l.Active && l.RemoteGPUIndex == b.index {
					p.NVLinks++
				}
			}
			topo.Paths = append(topo.Paths, p)
		}
	}
	return topo, nil
}

func nvlinks(h handle, byBus map[string]int) ([]gpu.Link, error) {
	out := []gpu.Link{}
	for l := 0; l < nvml.NVLINK_MAX_LINKS; l++ {
		state, ret := h.dev.GetNvLinkState(l)
		if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_INVALID_ARGUMENT {
			break // no more links on this GPU
		}
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("get NVLink %d state of GPU %d: %w", l, h.index, ret)
		}
		link := gpu.Link{Link: l, Active: state == nvml.FEATURE_ENABLED, RemoteGPUIndex: -1}
		if link.Active {
			if pci, ret := h.dev.GetNvLinkRemotePciInfo(l); ret == nvml.SUCCESS {
				if bus, err := xid.NormalizePCI(cString(pci.BusId[:])); err == nil {
					link.RemotePCIBusID = bus
					if idx, ok := byBus[bus]; ok {
						link.RemoteGPUIndex = idx
					}
				}
			}
			if t, ret := h.dev.GetNvLinkRemoteDeviceType(l); ret == nvml.SUCCESS {
				link.RemoteDeviceType = linkDeviceType(t)
			}
		}
		link.ReplayErrors, _ = optional(h.dev.GetNvLinkErrorCounter(l, nvml.NVLINK_ERROR_DL_REPLAY))
		link.RecoveryErrors, _ = optional(h.dev.GetNvLinkErrorCounter(l, nvml.NVLINK_ERROR_DL_RECOVERY))
		link.CRCFlitErrors, _ = optional(h.dev.GetNvLinkErrorCounter(l, nvml.NVLINK_ERROR_DL_CRC_FLIT))
		out = append(out, link)
	}
	return out, nil
}

func linkDeviceType(t nvml.IntNvLinkDeviceType) string {
	switch t {
	case nvml.NVLINK_DEVICE_TYPE_GPU:
		return "gpu"
	case nvml.NVLINK_DEVICE_TYPE_SWITCH:
		return "switch"
	case nvml.NVLINK_DEVICE_TYPE_IBMNPU:
		return "ibmnpu"
	default:
		return "unknown"
	}
}

func topologyLevel(l nvml.GpuTopologyLevel) string {
	switch l {
	case nvml.TOPOLOGY_INTERNAL:
		return "internal"
	case nvml.TOPOLOGY_SINGLE:
		return "single_switch"
	case nvml.TOPOLOGY_MULTIPLE:
		return "multiple_switches"
	case nvml.TOPOLOGY_HOSTBRIDGE:
		return "host_bridge"
	case nvml.TOPOLOGY_NODE:
		return "numa_node"
	case nvml.TOPOLOGY_SYSTEM:
		return "system"
	default:
		return fmt.Sprintf("level-%d", l)
	}
}

func p2pStatus(s nvml.GpuP2PStatus, ret nvml.Return) string {
	if ret != nvml.SUCCESS {
		return "unknown"
	}
	switch s {
	case nvml.P2P_STATUS_OK:
		return "ok"
	case nvml.P2P_STATUS_CHIPSET_NOT_SUPPORED:
		return "chipset_not_supported"
	case nvml.P2P_STATUS_GPU_NOT_SUPPORTED:
		return "gpu_not_supported"
	case nvml.P2P_STATUS_IOH_TOPOLOGY_NOT_SUPPORTED:
		return "topology_not_supported"
	case nvml.P2P_STATUS_DISABLED_BY_REGKEY:
		return "disabled_by_regkey"
	case nvml.P2P_STATUS_NOT_SUPPORTED:
		return "not_supported"
	default:
		return "unknown"
	}
}

// ECC returns volatile and aggregate ECC counts, retired pages and remapped rows per GPU.
func (c *Collector) ECC(_ context.Context) ([]gpu.ECC, error) {
	hs, err := c.devices()
	if err != nil {
		return nil, err
	}
	out := make([]gpu.ECC, 0, len(hs))
	for _, h := range hs {
		e := gpu.ECC{Index: h.index, UUID: h.uuid}
		if cur, _, ret := h.dev.GetEccMode(); ret == nvml.SUCCESS {
			e.Enabled = cur == nvml.FEATURE_ENABLED
		}
		e.VolatileCorrected, _ = optional(h.dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC))
		e.VolatileUncorrected, _ = optional(h.dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC))
		e.AggregateCorrected, _ = optional(h.dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.AGGREGATE_ECC))
		e.AggregateUncorrected, _ = optional(h.dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.AGGREGATE_ECC))
		if pages, ret := h.dev.GetRetiredPages(nvml.PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS); ret == nvml.SUCCESS {
			e.RetiredPagesSBE = len(pages)
		}
		if pages, ret := h.dev.GetRetiredPages(nvml.PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR); ret == nvml.SUCCESS {
			e.RetiredPagesDBE = len(pages)
		}
		if st, ret := h.dev.GetRetiredPagesPendingStatus(); ret == nvml.SUCCESS {
			e.RetiredPagesPending = st == nvml.FEATURE_ENABLED
		}
		corr, unc, pending, failed, ret := h.dev.GetRemappedRows()
		switch ret {
		case nvml.SUCCESS:
			e.RowRemappingSupported = true
			e.RemappedRowsCorrectable, e.RemappedRowsUncorrectable = corr, unc
			e.RemapPending, e.RemapFailed = pending, failed
		case nvml.ERROR_NOT_SUPPORTED:
		default:
			return nil, fmt.Errorf("get remapped rows of GPU %d: %w", h.index, ret)
		}
		out = append(out, e)
	}
	return out, nil
}

// Processes returns the compute processes on every GPU, with their MIG instance when MIG is on.
func (c *Collector) Processes(_ context.Context) ([]gpu.Process, error) {
	hs, err := c.devices()
	if err != nil {
		return nil, err
	}
	out := []gpu.Process{}
	for _, h := range hs {
		mig := false
		if cur, _, ret := h.dev.GetMigMode(); ret == nvml.SUCCESS {
			mig = cur == nvml.DEVICE_MIG_ENABLE
		}
		procs, ret := h.dev.GetComputeRunningProcesses()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("list processes on GPU %d: %w", h.index, ret)
		}
		for _, p := range procs {
			gp := gpu.Process{PID: int(p.Pid), GPUIndex: h.index, GPUUUID: h.uuid, UsedMemoryMiB: p.UsedGpuMemory / (1 << 20), GPUInstanceID: -1}
			if mig {
				gp.GPUInstanceID = int(p.GpuInstanceId)
			}
			out = append(out, gp)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].GPUIndex != out[j].GPUIndex {
			return out[i].GPUIndex < out[j].GPUIndex
		}
		return out[i].PID < out[j].PID
	})
	return out, nil
}

// Recovery returns NVML's recovery action field (FI_DEV_GET_GPU_RECOVERY_ACTION) per GPU.
func (c *Collector) Recovery(_ context.Context) ([]gpu.Recovery, error) {
	hs, err := c.devices()
	if err != nil {
		return nil, err
	}
	out := make([]gpu.Recovery, 0, len(hs))
	for _, h := range hs {
		fv := []nvml.FieldValue{{FieldId: nvml.FI_DEV_GET_GPU_RECOVERY_ACTION}}
		action := gpu.RecoveryUnsupported
		if ret := h.dev.GetFieldValues(fv); ret == nvml.SUCCESS && nvml.Return(fv[0].NvmlReturn) == nvml.SUCCESS {
			action = recoveryAction(nvml.DeviceGpuRecoveryAction(binary.LittleEndian.Uint32(fv[0].Value[:4])))
		}
		out = append(out, gpu.Recovery{Index: h.index, UUID: h.uuid, Action: action})
	}
	return out, nil
}

func recoveryAction(a nvml.DeviceGpuRecoveryAction) gpu.RecoveryAction {
	switch a {
	case nvml.GPU_RECOVERY_ACTION_NONE:
		return gpu.RecoveryNone
	case nvml.GPU_RECOVERY_ACTION_GPU_RESET, nvml.GPU_RECOVERY_ACTION_BUS_RESET:
		return gpu.RecoveryGPUReset
	case nvml.GPU_RECOVERY_ACTION_NODE_REBOOT, nvml.GPU_RECOVERY_ACTION_SYSTEM_REBOOT:
		return gpu.RecoveryNodeReboot
	case nvml.GPU_RECOVERY_ACTION_DRAIN_P2P:
		return gpu.RecoveryDrainP2P
	case nvml.GPU_RECOVERY_ACTION_DRAIN_AND_RESET:
		return gpu.RecoveryDrainAndReset
	default:
		return gpu.RecoveryUnsupported
	}
}

func (c *Collector) registerXIDEvents() error {
	set, ret := c.lib.EventSetCreate()
	if ret == nvml.ERROR_NOT_SUPPORTED {
		return nil
	}
	if ret != nvml.SUCCESS {
		return fmt.Errorf("create NVML event set: %w", ret)
	}
	hs, err := c.devices()
	if err != nil {
		_ = set.Free()
		return err
	}
	for _, h := range hs {
		supported, ret := h.dev.GetSupportedEventTypes()
		if ret != nvml.SUCCESS || supported&nvml.EventTypeXidCriticalError == 0 {
			continue
		}
		if ret := h.dev.RegisterEvents(nvml.EventTypeXidCriticalError, set); ret != nvml.SUCCESS && ret != nvml.ERROR_NOT_SUPPORTED {
			_ = set.Free()
			return fmt.Errorf("register Xid events on GPU %d: %w", h.index, ret)
		}
	}
	c.events = set
	return nil
}

// PollEvents waits up to timeout for NVML Xid events and records every event already queued,
// stamped with the time it was received. It returns how many it recorded.
func (c *Collector) PollEvents(timeout time.Duration) (int, error) {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	if c.events == nil {
		return 0, nil
	}
	n := 0
	wait := uint32(timeout / time.Millisecond)
	for {
		data, ret := c.events.Wait(wait)
		if ret == nvml.ERROR_TIMEOUT {
			return n, nil
		}
		if ret != nvml.SUCCESS {
			return n, fmt.Errorf("wait for NVML events: %w", ret)
		}
		wait = 0
		if data.EventType&nvml.EventTypeXidCriticalError == 0 {
			continue
		}
		ev := gpu.XIDEvent{Time: c.now(), Source: "nvml", Code: int(data.EventData)}
		if data.Device != nil {
			ev.GPUUUID, _ = optional(data.Device.GetUUID())
			if pci, ret := data.Device.GetPciInfo(); ret == nvml.SUCCESS {
				ev.PCIBusID, _ = xid.NormalizePCI(cString(pci.BusId[:]))
			}
		}
		c.record(ev)
		n++
	}
}

func (c *Collector) record(ev gpu.XIDEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.xids = append(c.xids, ev)
	if len(c.xids) > maxXIDEvents {
		c.xids = append([]gpu.XIDEvent(nil), c.xids[len(c.xids)-maxXIDEvents:]...)
	}
}

// Run polls NVML events until ctx ends, so that each event is stamped when it arrives.
func (c *Collector) Run(ctx context.Context) error {
	c.mu.Lock()
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()
	for ctx.Err() == nil {
		if _, err := c.PollEvents(time.Second); err != nil {
			return err
		}
	}
	return nil
}

// XIDEvents returns the Xid events recorded so far; without a Run loop it first drains the
// events already queued.
func (c *Collector) XIDEvents(_ context.Context) ([]gpu.XIDEvent, error) {
	c.mu.Lock()
	running := c.running
	c.mu.Unlock()
	if !running {
		if _, err := c.PollEvents(0); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gpu.XIDEvent(nil), c.xids...), nil
}

// ResetGPU resets a GPU after checking that NVML lists no process on it.
func (c *Collector) ResetGPU(ctx context.Context, uuid string) error {
	d, ret := c.lib.DeviceGetHandleByUUID(uuid)
	if ret != nvml.SUCCESS {
		return fmt.Errorf("GPU %s: %w", uuid, gpu.ErrNotFound)
	}
	procs, ret := d.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("list processes on GPU %s: %w", uuid, ret)
	}
	if len(procs) > 0 {
		return fmt.Errorf("GPU %s has %d running processes: %w", uuid, len(procs), gpu.ErrBusy)
	}
	if err := c.reset(ctx, uuid); err != nil {
		return fmt.Errorf("reset GPU %s: %w", uuid, err)
	}
	return nil
}
