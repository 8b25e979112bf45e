package gpu

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/toolmesh/toolmesh/internal/gpu/xid"
)

// XIDFilter narrows an Xid analysis.
type XIDFilter struct {
	// Since drops events before this time when non-zero.
	Since time.Time
	// GPU keeps one GPU, named by UUID, index or PCI address, when non-empty.
	GPU string
}

// XIDSummary is one Xid on one GPU, de-duplicated across sources and repeats.
type XIDSummary struct {
	// Code is the Xid number.
	Code int `json:"code" jsonschema:"Xid number"`
	// Mnemonic is NVIDIA's name for it.
	Mnemonic string `json:"mnemonic" jsonschema:"NVIDIA catalogue mnemonic"`
	// Description is the catalogue's short description.
	Description string `json:"description" jsonschema:"catalogue description"`
	// ImmediateAction is NVIDIA's immediate resolution bucket.
	ImmediateAction string `json:"immediateAction" jsonschema:"NVIDIA immediate action bucket"`
	// InvestigatoryAction is NVIDIA's investigatory resolution bucket.
	InvestigatoryAction string `json:"investigatoryAction,omitempty" jsonschema:"NVIDIA investigatory action bucket"`
	// Severity is info, warning or critical, derived from the immediate action.
	Severity string `json:"severity" jsonschema:"info, warning or critical (from the immediate action)"`
	// Verdict is what this Xid alone calls for.
	Verdict Verdict `json:"verdict" jsonschema:"health verdict this Xid alone calls for"`
	// GPUIndex is the GPU's NVML index, or -1 when the GPU is not in the inventory.
	GPUIndex int `json:"gpuIndex" jsonschema:"NVML index, -1 if unknown"`
	// GPUUUID is the GPU's UUID, when known.
	GPUUUID string `json:"gpuUuid,omitempty" jsonschema:"GPU UUID"`
	// PCIBusID is the canonical PCI address.
	PCIBusID string `json:"pciBusId,omitempty" jsonschema:"canonical PCI address"`
	// Count is how many reports were merged.
	Count int `json:"count" jsonschema:"number of reports merged"`
	// FirstSeen is the earliest report.
	FirstSeen time.Time `json:"firstSeen" jsonschema:"earliest report"`
	// LastSeen is the latest report.
	LastSeen time.Time `json:"lastSeen" jsonschema:"latest report"`
	// Sources lists nvml and/or kmsg.
	Sources []string `json:"sources" jsonschema:"nvml and/or kmsg"`
	// PIDs lists the processes the driver named.
	PIDs []int `json:"pids,omitempty" jsonschema:"processes the driver named"`
	// Detail is the latest driver message text.
	Detail string `json:"detail,omitempty" jsonschema:"latest driver message"`
	// Pods names the pods that owned the PIDs or held the GPU, filled by the server.
	Pods []PodRef `json:"pods,omitempty" jsonschema:"pods owning the named PIDs or the GPU"`
}

// EventsFromKernelLog turns parsed kernel reports into events, naming GPUs through the inventory
// (PCI addresses normalised on both sides) or, failing that, the log's own "GPU at" lines.
func EventsFromKernelLog(log xid.Log, inv Inventory) []XIDEvent {
	byBus := map[string]string{}
	for bus, uuid := range log.UUIDByBus {
		byBus[bus] = uuid
	}
	for _, d := range inv.Devices {
		if bus, err := xid.NormalizePCI(d.PCIBusID); err == nil {
			byBus[bus] = d.UUID
		}
	}
	out := make([]XIDEvent, 0, len(log.Reports))
	for _, r := range log.Reports {
		out = append(out, XIDEvent{Time: r.Time, Source: "kmsg", Code: r.Code, GPUUUID: byBus[r.PCIBusID], PCIBusID: r.PCIBusID, PID: r.PID, Detail: r.Detail})
	}
	return out
}

// AnalyzeXIDs filters Xid events, merges repeats of one Xid on one GPU across sources, and
// annotates each with NVIDIA's catalogue. The result is ordered by severity, then GPU, then code.
func AnalyzeXIDs(events []XIDEvent, inv Inventory, cat *xid.Catalog, f XIDFilter) []XIDSummary {
	byUUID, byBus := map[string]Device{}, map[string]Device{}
	for _, d := range inv.Devices {
		byUUID[d.UUID] = d
		if bus, err := xid.NormalizePCI(d.PCIBusID); err == nil {
			byBus[bus] = d
		}
	}
	groups := map[string]*XIDSummary{}
	var order []string
	for _, e := range events {
		if !f.Since.IsZero() && e.Time.Before(f.Since) {
			continue
		}
		d, known := byUUID[e.GPUUUID]
		if !known {
			d, known = byBus[e.PCIBusID]
		}
		if !matchesGPU(f.GPU, e, d, known) {
			continue
		}
		key := e.GPUUUID + "|" + e.PCIBusID
		if known {
			key = d.UUID
		}
		key += "|" + strconv.Itoa(e.Code)
		s, ok := groups[key]
		if !ok {
			s = newSummary(e, d, known, cat)
			groups[key] = s
			order = append(order, key)
		}
		merge(s, e)
	}
	out := make([]XIDSummary, 0, len(order))
	for _, k := range order {
		out = append(out, *groups[k])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if verdictRank[out[i].Verdict] != verdictRank[out[j].Verdict] {
			return verdictRank[out[i].Verdict] > verdictRank[out[j].Verdict]
		}
		if out[i].GPUIndex != out[j].GPUIndex {
			return out[i].GPUIndex < out[j].GPUIndex
		}
		return out[i].Code < out[j].Code
	})
	return out
}

func matchesGPU(want string, e XIDEvent, d Device, known bool) bool {
	if want == "" {
		return true
	}
	if known && (want == d.UUID || want == strconv.Itoa(d.Index)) {
		return true
	}
	if want == e.GPUUUID {
		return true
	}
	bus, err := xid.NormalizePCI(want)
	return err == nil && bus == e.PCIBusID
}

func newSummary(e XIDEvent, d Device, known bool, cat *xid.Catalog) *XIDSummary {
	s := &XIDSummary{Code: e.Code, GPUIndex: -1, GPUUUID: e.GPUUUID, PCIBusID: e.PCIBusID, FirstSeen: e.Time, LastSeen: e.Time}
	if known {
		s.GPUIndex, s.GPUUUID = d.Index, d.UUID
		if bus, err := xid.NormalizePCI(d.PCIBusID); err == nil {
			s.PCIBusID = bus
		}
	}
	if entry, ok := cat.Lookup(e.Code); ok {
		s.Mnemonic, s.Description = entry.Mnemonic, entry.Description
		s.ImmediateAction, s.InvestigatoryAction = entry.ImmediateAction, entry.InvestigatoryAction
	} else {
		s.Mnemonic, s.Description = "UNKNOWN", "not in the embedded NVIDIA catalogue"
	}
	s.Verdict, s.Severity = ActionVerdict(s.ImmediateAction, s.Mnemonic != "UNKNOWN")
	return s
}

func merge(s *XIDSummary, e XIDEvent) {
	s.Count++
	if e.Time.Before(s.FirstSeen) {
		s.FirstSeen = e.Time
	}
	if !e.Time.Before(s.LastSeen) {
		s.LastSeen = e.Time
		if e.Detail != "" {
			s.Detail = e.Detail
		}
	}
	if s.Detail == "" {
		s.Detail = e.Detail
	}
	if !contains(s.Sources, e.Source) {
		s.Sources = append(s.Sources, e.Source)
		sort.Strings(s.Sources)
	}
	if e.PID > 0 && !contains(s.PIDs, e.PID) {
		s.PIDs = append(s.PIDs, e.PID)
		sort.Ints(s.PIDs)
	}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ActionVerdict maps NVIDIA's immediate-action bucket to a health verdict and a severity. An
// Xid the catalogue does not list is treated as drain-worthy until a person looks at it.
func ActionVerdict(action string, catalogued bool) (Verdict, string) {
	switch {
	case !catalogued:
		return VerdictDrain, "critical"
	case action == "IGNORE", action == "XID_154", action == "":
		return VerdictHealthy, "info"
	case action == "RESTART_APP", action == "WORKFLOW_XID_45", strings.HasPrefix(action, "CHECK_APP"), action == "CHECK_UVM", action == "UPDATE_SWFW":
		return VerdictRestartApp, "warning"
	case action == "RESET_GPU", action == "WORKFLOW_XID_48", strings.HasPrefix(action, "WORKFLOW_NVLINK"):
		return VerdictResetGPU, "critical"
	case action == "RESTART_BM", action == "RESTART_VM":
		return VerdictRebootNode, "critical"
	default: // CONTACT_SUPPORT, CHECK_MECHANICALS and buckets this code does not know.
		return VerdictDrain, "critical"
	}
}
