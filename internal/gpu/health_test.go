package gpu

import "testing"

func TestActionVerdict(t *testing.T) {
	tests := []struct {
		action     string
		catalogued bool
		want       Verdict
		severity   string
	}{
		{"IGNORE", true, VerdictHealthy, "info"},
		{"RESTART_APP", true, VerdictRestartApp, "warning"},
		{"CHECK_APP/CUDA", true, VerdictRestartApp, "warning"},
		{"RESET_GPU", true, VerdictResetGPU, "critical"},
		{"WORKFLOW_XID_48", true, VerdictResetGPU, "critical"},
		{"WORKFLOW_NVLINK5_ERR", true, VerdictResetGPU, "critical"},
		{"RESTART_BM", true, VerdictRebootNode, "critical"},
		{"CONTACT_SUPPORT", true, VerdictDrain, "critical"},
		{"", false, VerdictDrain, "critical"},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			v, s := ActionVerdict(tt.action, tt.catalogued)
			if v != tt.want || s != tt.severity {
				t.Fatalf("ActionVerdict(%q) = %s/%s, want %s/%s", tt.action, v, s, tt.want, tt.severity)
			}
		})
	}
}

func TestAssess(t *testing.T) {
	inv := Inventory{Devices: []Device{{Index: 0, UUID: "a"}, {Index: 1, UUID: "b"}}}
	tests := []struct {
		name     string
		in       HealthInput
		wantNode Verdict
		wantA    Verdict
	}{
		{"nothing observed", HealthInput{}, VerdictHealthy, VerdictHealthy},
		{"recovery action reboot", HealthInput{Recovery: []Recovery{{UUID: "a", Action: RecoveryNodeReboot}}}, VerdictRebootNode, VerdictRebootNode},
		{"recovery drain p2p", HealthInput{Recovery: []Recovery{{UUID: "a", Action: RecoveryDrainP2P}}}, VerdictDrain, VerdictDrain},
		{"remap failed", HealthInput{ECC: []ECC{{UUID: "a", RemapFailed: true}}}, VerdictRMA, VerdictRMA},
		{"retired pages at limit", HealthInput{ECC: []ECC{{UUID: "a", RetiredPagesDBE: 60, RetiredPagesSBE: 4}}}, VerdictRMA, VerdictRMA},
		{"retirement pending", HealthInput{ECC: []ECC{{UUID: "a", RetiredPagesPending: true}}}, VerdictResetGPU, VerdictResetGPU},
		{"software power cap only", HealthInput{Telemetry: []Telemetry{{UUID: "a", ClockEventReasons: []string{"sw_power_cap"}}}}, VerdictHealthy, VerdictHealthy},
		{"hardware power brake", HealthInput{Telemetry: []Telemetry{{UUID: "a", ClockEventReasons: []string{"hw_power_brake_slowdown"}}}}, VerdictDrain, VerdictDrain},
		{"other gpu only", HealthInput{XIDs: []XIDSummary{{GPUUUID: "b", Code: 79, Verdict: VerdictRebootNode}}}, VerdictRebootNode, VerdictHealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Inventory = inv
			got := Assess(tt.in)
			if got.Verdict != tt.wantNode || got.GPUs[0].Verdict != tt.wantA {
				t.Fatalf("Assess = node %s, gpu a %s; want %s, %s", got.Verdict, got.GPUs[0].Verdict, tt.wantNode, tt.wantA)
			}
		})
	}
}
