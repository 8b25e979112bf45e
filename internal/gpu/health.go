package gpu

import (
	"fmt"
	"sort"
	"strings"
)

// Verdict is what an operator should do about a GPU or node, in increasing order of severity.
type Verdict string

// Verdicts, least to most severe.
const (
	VerdictHealthy    Verdict = "healthy"
	VerdictRestartApp Verdict = "restart_app"
	VerdictResetGPU   Verdict = "reset_gpu"
	VerdictRebootNode Verdict = "reboot_node"
	VerdictDrain      Verdict = "drain"
	VerdictRMA        Verdict = "rma"
)

var verdictRank = map[Verdict]int{
	VerdictHealthy: 0, VerdictRestartApp: 1, VerdictResetGPU: 2, VerdictRebootNode: 3, VerdictDrain: 4, VerdictRMA: 5,
}

// Worse returns the more severe of two verdicts.
func Worse(a, b Verdict) Verdict {
	if verdictRank[b] > verdictRank[a] {
		return b
	}
	return a
}

// RetiredPageRMAThreshold is the retired-page count (SBE plus DBE) at which a pre-Ampere GPU's
// page retirement is treated as exhausted; NVIDIA's dynamic page retirement allows 64 pages.
const RetiredPageRMAThreshold = 64

// Evidence is one observation behind a verdict.
type Evidence struct {
	// Signal names the source: recovery_action, ecc, row_remap, retired_pages, xid or throttle.
	Signal string `json:"signal" jsonschema:"recovery_action, ecc, row_remap, retired_pages, xid or throttle"`
	// Detail says what was observed.
	Detail string `json:"detail" jsonschema:"what was observed"`
	// Verdict is what this observation alone calls for.
	Verdict Verdict `json:"verdict" jsonschema:"what this observation alone calls for"`
}

// DeviceHealth is the verdict for one GPU with its evidence.
type DeviceHealth struct {
	// Index is the NVML device index.
	Index int `json:"index" jsonschema:"NVML device index"`
	// UUID is the GPU's UUID.
	UUID string `json:"uuid" jsonschema:"GPU UUID"`
	// Verdict is the most severe verdict its evidence calls for.
	Verdict Verdict `json:"verdict" jsonschema:"healthy, restart_app, reset_gpu, reboot_node, drain or rma"`
	// Evidence lists the observations, most severe first.
	Evidence []Evidence `json:"evidence" jsonschema:"observations behind the verdict, most severe first"`
}

// NodeHealth is the verdict for a node and each of its GPUs.
type NodeHealth struct {
	// Verdict is the most severe GPU verdict.
	Verdict Verdict `json:"verdict" jsonschema:"most severe GPU verdict on the node"`
	// GPUs are the per-GPU verdicts.
	GPUs []DeviceHealth `json:"gpus" jsonschema:"per-GPU verdicts"`
}

// HealthInput is everything a health verdict is drawn from, gathered before deciding.
type HealthInput struct {
	// Inventory lists the GPUs.
	Inventory Inventory
	// Telemetry carries clock event reasons.
	Telemetry []Telemetry
	// ECC carries memory error state.
	ECC []ECC
	// Recovery carries NVML's recovery actions.
	Recovery []Recovery
	// XIDs are the analysed Xids.
	XIDs []XIDSummary
}

// Assess decides a verdict per GPU and for the node from gathered input, without I/O.
func Assess(in HealthInput) NodeHealth {
	ev := map[string][]Evidence{}
	add := func(uuid string, e Evidence) { ev[uuid] = append(ev[uuid], e) }
	for _, r := range in.Recovery {
		if v, ok := recoveryVerdict(r.Action); ok {
			add(r.UUID, Evidence{Signal: "recovery_action", Detail: "NVML recovery action " + string(r.Action), Verdict: v})
		}
	}
	for _, e := range in.ECC {
		for _, x := range eccEvidence(e) {
			add(e.UUID, x)
		}
	}
	for _, x := range in.XIDs {
		add(x.GPUUUID, Evidence{
			Signal:  "xid",
			Detail:  fmt.Sprintf("Xid %d %s x%d, NVIDIA immediate action %s", x.Code, x.Mnemonic, x.Count, orUnspecified(x.ImmediateAction)),
			Verdict: x.Verdict,
		})
	}
	for _, t := range in.Telemetry {
		for _, x := range throttleEvidence(t) {
			add(t.UUID, x)
		}
	}
	out := NodeHealth{Verdict: VerdictHealthy}
	for _, d := range in.Inventory.Devices {
		h := DeviceHealth{Index: d.Index, UUID: d.UUID, Verdict: VerdictHealthy, Evidence: ev[d.UUID]}
		sort.SliceStable(h.Evidence, func(i, j int) bool {
			return verdictRank[h.Evidence[i].Verdict] > verdictRank[h.Evidence[j].Verdict]
		})
		for _, e := range h.Evidence {
			h.Verdict = Worse(h.Verdict, e.Verdict)
		}
		if h.Evidence == nil {
			h.Evidence = []Evidence{}
		}
		out.Verdict = Worse(out.Verdict, h.Verdict)
		out.GPUs = append(out.GPUs, h)
	}
	return out
}

func recoveryVerdict(a RecoveryAction) (Verdict, bool) {
	switch a {
	case RecoveryGPUReset:
		return VerdictResetGPU, true
	case RecoveryNodeReboot:
		return VerdictRebootNode, true
	case RecoveryDrainP2P, RecoveryDrainAndReset:
		return VerdictDrain, true
	default:
		return "", false
	}
}

func eccEvidence(e ECC) []Evidence {
	var out []Evidence
	if e.RemapFailed {
		out = append(out, Evidence{Signal: "row_remap", Detail: "row remapping failed: no spare rows left", Verdict: VerdictRMA})
	}
	if e.RemapPending {
		out = append(out, Evidence{Signal: "row_remap", Detail: "row remap pending until the GPU is reset", Verdict: VerdictResetGPU})
	}
	if retired := e.RetiredPagesSBE + e.RetiredPagesDBE; retired >= RetiredPageRMAThreshold {
		out = append(out, Evidence{Signal: "retired_pages", Detail: fmt.Sprintf("%d pages retired (limit %d)", retired, RetiredPageRMAThreshold), Verdict: VerdictRMA})
	}
	if e.RetiredPagesPending {
		out = append(out, Evidence{Signal: "retired_pages", Detail: "page retirement pending until the GPU is reset", Verdict: VerdictResetGPU})
	}
	if e.VolatileUncorrected > 0 {
		out = append(out, Evidence{Signal: "ecc", Detail: fmt.Sprintf("%d uncorrected ECC errors since driver load", e.VolatileUncorrected), Verdict: VerdictResetGPU})
	}
	return out
}

// Clock event reasons that mean the hardware protected itself; software caps are informational.
var hardwareThrottles = map[string]bool{"hw_slowdown": true, "hw_thermal_slowdown": true, "hw_power_brake_slowdown": true}

func throttleEvidence(t Telemetry) []Evidence {
	var out []Evidence
	for _, r := range t.ClockEventReasons {
		switch {
		case hardwareThrottles[r]:
			out = append(out, Evidence{Signal: "throttle", Detail: fmt.Sprintf("%s active at %d C (slowdown %d C): check cooling and power before running work here", r, t.TemperatureC, t.SlowdownTemperatureC), Verdict: VerdictDrain})
		case strings.HasPrefix(r, "sw_"):
			out = append(out, Evidence{Signal: "throttle", Detail: r + " active", Verdict: VerdictHealthy})
		}
	}
	return out
}

func orUnspecified(s string) string {
	if s == "" {
		return "unspecified"
	}
	return s
}
