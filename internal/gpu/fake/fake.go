//go:build cgo

package fake

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/toolmesh/toolmesh/internal/gpu/nvmlcollector"
)

// Scenario names.
const (
	Healthy           = "healthy"
	XIDStorm          = "xid-storm"
	ECCRemapFailure   = "ecc-remap-failure"
	MIGMixed          = "mig-mixed"
	ThermalThrottling = "thermal-throttling"
)

// Epoch is the fixed clock of every scenario: NVML events are stamped with it.
var Epoch = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// Boot is the boot time the scenarios' kernel logs are relative to.
var Boot = Epoch.Add(-2 * time.Hour)

// Buses are the PCI bus numbers of the eight GPUs of a DGX H100.
var Buses = []int{0x18, 0x2a, 0x3a, 0x5d, 0x9a, 0xab, 0xba, 0xdb}

// switchBuses are the PCI bus numbers of the four NVSwitches the GPUs' NVLinks reach.
var switchBuses = []int{0x05, 0x06, 0x07, 0x08}

const linksPerGPU = 18

// UUID returns the deterministic UUID of GPU i.
func UUID(i int) string { return fmt.Sprintf("GPU-5e1f0000-0000-4000-8000-%012x", Buses[i]) }

// Names lists the scenarios.
func Names() []string {
	return []string{Healthy, XIDStorm, ECCRemapFailure, MIGMixed, ThermalThrottling}
}

type gpuState struct {
	temp, slowdown, shutdown uint32
	powerMW, limitMW         uint32
	util                     nvml.Utilization
	usedMiB                  uint64
	sm, maxSM, mem           uint32
	reasons                  uint64
	volCorr, volUnc          uint64
	aggCorr, aggUnc          uint64
	remapCorr, remapUnc      int
	remapPending, remapFail  bool
	recovery                 nvml.DeviceGpuRecoveryAction
	procs                    []nvml.ProcessInfo
	replayErrors             uint64
}

// Node is a scenario's mock: the collector reads it; tests may inspect what was reset.
type Node struct {
	// Server is go-nvml's DGX H100 mock with every function the collector calls filled in.
	Server *server.Server

	mu     sync.Mutex
	events []nvml.EventData
	resets []string
}

// Resets returns the UUIDs of GPUs reset so far.
func (n *Node) Resets() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.resets...)
}

// New builds the named scenario and a Collector over it.
func New(name string) (*nvmlcollector.Collector, *Node, error) {
	states, events, err := scenario(name)
	if err != nil {
		return nil, nil, err
	}
	n := &Node{Server: dgxh100.New()}
	for i, d := range n.Server.Devices {
		dev := d.(*server.Device)
		dev.UUID = UUID(i)
		dev.PciBusID = fmt.Sprintf("0000:%02x:00.0", Buses[i])
		wire(dev, i, states[i])
	}
	if name == MIGMixed {
		if err := buildMIG(n.Server); err != nil {
			return nil, nil, err
		}
	}
	for _, e := range events {
		n.events = append(n.events, nvml.EventData{Device: n.Server.Devices[e.gpu], EventType: nvml.EventTypeXidCriticalError, EventData: e.code})
	}
	n.Server.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		set := &mock.EventSet{}
		set.WaitFunc = func(uint32) (nvml.EventData, nvml.Return) {
			n.mu.Lock()
			defer n.mu.Unlock()
			if len(n.events) == 0 {
				return nvml.EventData{}, nvml.ERROR_TIMEOUT
			}
			e := n.events[0]
			n.events = n.events[1:]
			return e, nvml.SUCCESS
		}
		set.FreeFunc = func() nvml.Return { return nvml.SUCCESS }
		return set, nvml.SUCCESS
	}
	c, err := nvmlcollector.NewFromInterface(n.Server, nvmlcollector.Options{
		Now: func() time.Time { return Epoch },
		Reset: func(_ context.Context, uuid string) error {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.resets = append(n.resets, uuid)
			return nil
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start scenario %s: %w", name, err)
	}
	return c, n, nil
}

func busID(bus int) [32]int8 {
	var out [32]int8
	for i, c := range fmt.Sprintf("00000000:%02X:00.0", bus) {
		out[i] = int8(c)
	}
	return out
}

func wire(d *server.Device, i int, s *gpuState) {
	d.MemoryInfo.Used = s.usedMiB << 20
	d.MemoryInfo.Free = d.MemoryInfo.Total - d.MemoryInfo.Used
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		return nvml.PciInfo{Domain: 0, Bus: uint32(Buses[i]), PciDeviceId: d.Config.PciDeviceId, BusId: busID(Buses[i])}, nvml.SUCCESS
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return s.temp, nvml.SUCCESS }
	d.GetTemperatureThresholdFunc = func(t nvml.TemperatureThresholds) (uint32, nvml.Return) {
		switch t {
		case nvml.TEMPERATURE_THRESHOLD_SLOWDOWN:
			return s.slowdown, nvml.SUCCESS
		case nvml.TEMPERATURE_THRESHOLD_SHUTDOWN:
			return s.shutdown, nvml.SUCCESS
		default:
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return s.powerMW, nvml.SUCCESS }
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return s.limitMW, nvml.SUCCESS }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return s.util, nvml.SUCCESS }
	d.GetClockInfoFunc = func(t nvml.ClockType) (uint32, nvml.Return) {
		if t == nvml.CLOCK_MEM {
			return s.mem, nvml.SUCCESS
		}
		return s.sm, nvml.SUCCESS
	}
	d.GetMaxClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return s.maxSM, nvml.SUCCESS }
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return s.reasons, nvml.SUCCESS }
	d.GetTopologyCommonAncestorFunc = func(other nvml.Device) (nvml.GpuTopologyLevel, nvml.Return) {
		j := other.(*server.Device).Index
		if i/4 == j/4 {
			return nvml.TOPOLOGY_NODE, nvml.SUCCESS
		}
		return nvml.TOPOLOGY_SYSTEM, nvml.SUCCESS
	}
	d.GetP2PStatusFunc = func(nvml.Device, nvml.GpuP2PCapsIndex) (nvml.GpuP2PStatus, nvml.Return) {
		return nvml.P2P_STATUS_OK, nvml.SUCCESS
	}
	d.GetNvLinkStateFunc = func(link int) (nvml.EnableState, nvml.Return) {
		if link >= linksPerGPU {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return nvml.FEATURE_ENABLED, nvml.SUCCESS
	}
	d.GetNvLinkRemotePciInfoFunc = func(link int) (nvml.PciInfo, nvml.Return) {
		sw := switchBuses[link*len(switchBuses)/linksPerGPU]
		return nvml.PciInfo{Bus: uint32(sw), BusId: busID(sw)}, nvml.SUCCESS
	}
	d.GetNvLinkRemoteDeviceTypeFunc = func(int) (nvml.IntNvLinkDeviceType, nvml.Return) {
		return nvml.NVLINK_DEVICE_TYPE_SWITCH, nvml.SUCCESS
	}
	d.GetNvLinkErrorCounterFunc = func(link int, c nvml.NvLinkErrorCounter) (uint64, nvml.Return) {
		if link == 0 && c == nvml.NVLINK_ERROR_DL_REPLAY {
			return s.replayErrors, nvml.SUCCESS
		}
		return 0, nvml.SUCCESS
	}
	d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
		return nvml.FEATURE_ENABLED, nvml.FEATURE_ENABLED, nvml.SUCCESS
	}
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
		switch {
		case t == nvml.MEMORY_ERROR_TYPE_CORRECTED && c == nvml.VOLATILE_ECC:
			return s.volCorr, nvml.SUCCESS
		case t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED && c == nvml.VOLATILE_ECC:
			return s.volUnc, nvml.SUCCESS
		case t == nvml.MEMORY_ERROR_TYPE_CORRECTED:
			return s.aggCorr, nvml.SUCCESS
		default:
			return s.aggUnc, nvml.SUCCESS
		}
	}
	// Hopper remaps rows; dynamic page retirement is not supported.
	d.GetRetiredPagesFunc = func(nvml.PageRetirementCause) ([]uint64, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) {
		return s.remapCorr, s.remapUnc, s.remapPending, s.remapFail, nvml.SUCCESS
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return s.procs, nvml.SUCCESS }
	d.GetFieldValuesFunc = func(values []nvml.FieldValue) nvml.Return {
		for k := range values {
			if values[k].FieldId != nvml.FI_DEV_GET_GPU_RECOVERY_ACTION {
				values[k].NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
				continue
			}
			values[k].NvmlReturn = uint32(nvml.SUCCESS)
			values[k].ValueType = uint32(nvml.VALUE_TYPE_UNSIGNED_INT)
			binary.LittleEndian.PutUint32(values[k].Value[:4], uint32(s.recovery))
		}
		return nvml.SUCCESS
	}
	d.GetSupportedEventTypesFunc = func() (uint64, nvml.Return) {
		return nvml.EventTypeXidCriticalError | nvml.EventTypeDoubleBitEccError, nvml.SUCCESS
	}
	d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS }
}

func buildMIG(s *server.Server) error {
	layouts := map[int][]int{
		0: {nvml.GPU_INSTANCE_PROFILE_3_SLICE, nvml.GPU_INSTANCE_PROFILE_2_SLICE, nvml.GPU_INSTANCE_PROFILE_1_SLICE, nvml.GPU_INSTANCE_PROFILE_1_SLICE},
		1: {nvml.GPU_INSTANCE_PROFILE_7_SLICE},
		2: {nvml.GPU_INSTANCE_PROFILE_4_SLICE, nvml.GPU_INSTANCE_PROFILE_3_SLICE},
	}
	idx := make([]int, 0, len(layouts))
	for i := range layouts {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		d := s.Devices[i]
		if ret, _ := d.SetMigMode(nvml.DEVICE_MIG_ENABLE); ret != nvml.SUCCESS {
			return fmt.Errorf("enable MIG on GPU %d: %w", i, ret)
		}
		for _, p := range layouts[i] {
			info, ret := d.GetGpuInstanceProfileInfo(p)
			if ret != nvml.SUCCESS {
				return fmt.Errorf("MIG profile %d on GPU %d: %w", p, i, ret)
			}
			gi, ret := d.CreateGpuInstance(&info)
			if ret != nvml.SUCCESS {
				return fmt.Errorf("create MIG instance on GPU %d: %w", i, ret)
			}
			ci, ret := gi.GetComputeInstanceProfileInfo(nvml.COMPUTE_INSTANCE_PROFILE_1_SLICE, nvml.COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
			if ret != nvml.SUCCESS {
				return fmt.Errorf("compute profile on GPU %d: %w", i, ret)
			}
			if _, ret := gi.CreateComputeInstance(&ci); ret != nvml.SUCCESS {
				return fmt.Errorf("create compute instance on GPU %d: %w", i, ret)
			}
		}
	}
	return nil
}

type event struct {
	gpu  int
	code uint64
}

func baseline() []*gpuState {
	out := make([]*gpuState, len(Buses))
	for i := range out {
		out[i] = &gpuState{
			temp: 33 + uint32(i), slowdown: 90, shutdown: 95,
			powerMW: 71000 + uint32(i)*1000, limitMW: 700000,
			sm: 345, maxSM: 1980, mem: 2619,
			reasons:  nvml.ClocksEventReasonGpuIdle,
			recovery: nvml.GPU_RECOVERY_ACTION_NONE,
			usedMiB:  0,
		}
	}
	return out
}

func busy(s *gpuState, pid uint32, usedMiB uint64, gi uint32) {
	s.procs = append(s.procs, nvml.ProcessInfo{Pid: pid, UsedGpuMemory: usedMiB << 20, GpuInstanceId: gi, ComputeInstanceId: 0})
	s.usedMiB += usedMiB
	s.util = nvml.Utilization{Gpu: 97, Memory: 61}
	s.reasons = 0
	s.sm = 1980
	s.powerMW = 612000
	s.temp = 58
}

func scenario(name string) ([]*gpuState, []event, error) {
	st := baseline()
	var ev []event
	switch name {
	case Healthy:
		busy(st[0], 4242, 40960, 0)
		busy(st[1], 4243, 38912, 0)
	case XIDStorm:
		busy(st[3], 51234, 70144, 0)
		busy(st[5], 51300, 65536, 0)
		for k := 0; k < 6; k++ {
			ev = append(ev, event{gpu: 3, code: 13})
		}
		ev = append(ev, event{gpu: 3, code: 31}, event{gpu: 3, code: 31}, event{gpu: 3, code: 31})
		ev = append(ev, event{gpu: 5, code: 48}, event{gpu: 5, code: 94}, event{gpu: 5, code: 94})
		st[5].volUnc, st[5].aggUnc = 1, 1
		st[5].recovery = nvml.GPU_RECOVERY_ACTION_GPU_RESET
	case ECCRemapFailure:
		st[2].remapCorr, st[2].remapUnc, st[2].remapFail = 3, 8, true
		st[2].volUnc, st[2].aggUnc, st[2].aggCorr = 2, 10, 41
		st[4].remapUnc, st[4].remapPending = 1, true
		st[4].volUnc, st[4].aggUnc = 1, 1
		st[4].recovery = nvml.GPU_RECOVERY_ACTION_GPU_RESET
		ev = append(ev, event{gpu: 2, code: 48}, event{gpu: 4, code: 48})
	case MIGMixed:
		busy(st[0], 6100, 30720, 0)
		busy(st[1], 6101, 71680, 0)
	case ThermalThrottling:
		busy(st[6], 7001, 61440, 0)
		st[6].temp, st[6].sm = 92, 1095
		st[6].reasons = nvml.ClocksThrottleReasonHwThermalSlowdown | nvml.ClocksEventReasonSwThermalSlowdown
		busy(st[7], 7002, 61440, 0)
		st[7].powerMW, st[7].sm = 699800, 1755
		st[7].reasons = nvml.ClocksEventReasonSwPowerCap
		st[6].replayErrors = 12
	default:
		return nil, nil, fmt.Errorf("unknown GPU scenario %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return st, ev, nil
}

// KernelLog returns the /dev/kmsg records of a scenario, offsets relative to Boot.
func KernelLog(name string) string {
	var b strings.Builder
	seq := 900
	rec := func(at time.Duration, msg string) {
		seq++
		fmt.Fprintf(&b, "4,%d,%d,-;%s\n", seq, at.Microseconds(), msg)
	}
	at := 7199 * time.Second // one second before Epoch
	for i := range Buses {
		rec(3*time.Second+time.Duration(i)*time.Millisecond, fmt.Sprintf("NVRM: GPU at PCI:0000:%02x:00: %s", Buses[i], UUID(i)))
	}
	switch name {
	case XIDStorm:
		for k := 0; k < 6; k++ {
			rec(at+time.Duration(k)*time.Millisecond, "NVRM: Xid (PCI:0000:5d:00): 13, pid=51234, name=python3, Graphics SM Warp Exception on (GPC 2, TPC 1, SM 0): Out Of Range Address")
		}
		rec(at+10*time.Millisecond, "NVRM: Xid (PCI:0000:5d:00): 31, pid=51234, name=python3, Ch 00000010, intr 00000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x7f2a_1c000000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ")
		rec(at+11*time.Millisecond, "NVRM: Xid (PCI:0000:5d:00): 45, pid=51234, name=python3, Ch 00000010")
		rec(at+20*time.Millisecond, "NVRM: Xid (PCI:0000:ab:00): 48, pid='<unknown>', name=<unknown>, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 5, subpartition 1.")
		rec(at+21*time.Millisecond, "NVRM: Xid (PCI:0000:ab:00): 94, pid=51300, name=torchrun, Contained: SM (0x1). RST: No, D-RST: No")
	case ECCRemapFailure:
		rec(at, "NVRM: Xid (PCI:0000:3a:00): 48, pid='<unknown>', name=<unknown>, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 2, subpartition 0.")
		rec(at+time.Millisecond, "NVRM: Xid (PCI:0000:3a:00): 64, pid='<unknown>', name=<unknown>, Row Remapper Error: remapping failed for row 0x0000000000a1c044")
		rec(at+2*time.Millisecond, "NVRM: Xid (PCI:0000:9a:00): 63, pid='<unknown>', name=<unknown>, Row Remapper: New row (0x00000000000b3f0a) is marked for remapping, reset gpu to activate.")
	}
	return b.String()
}
