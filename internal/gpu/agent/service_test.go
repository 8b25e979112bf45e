package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/fake"
	"github.com/toolmesh/toolmesh/internal/gpu/xid"
)

var update = flag.Bool("update", false, "rewrite golden files")

// snapshot is what the golden files hold for a scenario.
type snapshot struct {
	Inventory gpu.Inventory   `json:"inventory"`
	Telemetry []gpu.Telemetry `json:"telemetry"`
	Paths     []gpu.PeerPath  `json:"topologyPaths"`
	ECC       []gpu.ECC       `json:"ecc"`
	Processes []gpu.Process   `json:"processes"`
	Recovery  []gpu.Recovery  `json:"recovery"`
	XIDs      XIDReport       `json:"xids"`
	Health    gpu.NodeHealth  `json:"health"`
}

func newService(t *testing.T, scenario string) (*Service, *fake.Node) {
	t.Helper()
	c, node, err := fake.New(scenario)
	if err != nil {
		t.Fatalf("fake.New(%s): %v", scenario, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	klog := fake.KernelLog(scenario)
	return &Service{
		Collector: c,
		Catalog:   xid.MustLoad(),
		KernelLog: func() (xid.Log, error) { return xid.ParseLog(strings.NewReader(klog), fake.Boot) },
	}, node
}

func TestScenarioGoldens(t *testing.T) {
	ctx := context.Background()
	for _, name := range fake.Names() {
		t.Run(name, func(t *testing.T) {
			svc, _ := newService(t, name)
			var s snapshot
			var err error
			must := func(e error) {
				t.Helper()
				if e != nil {
					t.Fatal(e)
				}
			}
			s.Inventory, err = svc.Inventory(ctx)
			must(err)
			s.Telemetry, err = svc.Telemetry(ctx)
			must(err)
			topo, err := svc.Topology(ctx)
			must(err)
			s.Paths = topo.Paths
			s.ECC, err = svc.ECC(ctx)
			must(err)
			s.Processes, err = svc.Processes(ctx)
			must(err)
			s.Recovery, err = svc.Collector.Recovery(ctx)
			must(err)
			s.XIDs, err = svc.XIDs(ctx, gpu.XIDFilter{})
			must(err)
			s.Health, err = svc.Health(ctx)
			must(err)
			got, err := json.MarshalIndent(s, "", "  ")
			must(err)
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				must(os.WriteFile(path, append(got, '\n'), 0o600))
			}
			want, err := os.ReadFile(path)
			must(err)
			if !bytes.Equal(append(got, '\n'), want) {
				t.Fatalf("%s differs from golden; rerun with -update and review the diff:\n%s", path, got)
			}
		})
	}
}

func TestScenarioVerdicts(t *testing.T) {
	tests := []struct {
		scenario string
		want     gpu.Verdict
		gpu      int
		gpuWant  gpu.Verdict
	}{
		{fake.Healthy, gpu.VerdictHealthy, 0, gpu.VerdictHealthy},
		{fake.XIDStorm, gpu.VerdictResetGPU, 3, gpu.VerdictRestartApp},
		{fake.ECCRemapFailure, gpu.VerdictRMA, 4, gpu.VerdictResetGPU},
		{fake.MIGMixed, gpu.VerdictHealthy, 1, gpu.VerdictHealthy},
		{fake.ThermalThrottling, gpu.VerdictDrain, 7, gpu.VerdictHealthy},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			svc, _ := newService(t, tt.scenario)
			h, err := svc.Health(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if h.Verdict != tt.want || h.GPUs[tt.gpu].Verdict != tt.gpuWant {
				t.Fatalf("node %s gpu%d %s; want %s and %s", h.Verdict, tt.gpu, h.GPUs[tt.gpu].Verdict, tt.want, tt.gpuWant)
			}
			for _, g := range h.GPUs {
				if g.Verdict != gpu.VerdictHealthy && len(g.Evidence) == 0 {
					t.Fatalf("gpu%d verdict %s without evidence", g.Index, g.Verdict)
				}
			}
		})
	}
}

func TestXIDsMergeSourcesAndFilter(t *testing.T) {
	svc, _ := newService(t, fake.XIDStorm)
	ctx := context.Background()
	all, err := svc.XIDs(ctx, gpu.XIDFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var x13 *gpu.XIDSummary
	for i := range all.XIDs {
		if all.XIDs[i].Code == 13 {
			x13 = &all.XIDs[i]
		}
	}
	if x13 == nil || x13.Count != 12 || strings.Join(x13.Sources, ",") != "kmsg,nvml" || x13.GPUIndex != 3 || len(x13.PIDs) != 1 {
		t.Fatalf("Xid 13 summary = %+v; want 6 NVML + 6 kmsg reports merged on GPU 3 with pid 51234", x13)
	}
	tests := []struct {
		name   string
		filter gpu.XIDFilter
		want   int
	}{
		{"by index", gpu.XIDFilter{GPU: "5"}, 2},
		{"by uuid", gpu.XIDFilter{GPU: fake.UUID(3)}, 3},
		{"by kernel bus id", gpu.XIDFilter{GPU: "0000:5d:00"}, 3},
		{"by NVML bus id", gpu.XIDFilter{GPU: "00000000:5D:00.0"}, 3},
		{"since after everything", gpu.XIDFilter{Since: fake.Epoch.Add(1)}, 0},
		{"since before the storm", gpu.XIDFilter{Since: fake.Epoch.Add(-2e9)}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := svc.XIDs(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.XIDs) != tt.want {
				t.Fatalf("%d summaries, want %d: %+v", len(got.XIDs), tt.want, got.XIDs)
			}
		})
	}
}

func TestOperatorActions(t *testing.T) {
	ctx := context.Background()
	svc, node := newService(t, fake.Healthy)
	var killed []int
	svc.Kill = func(pid int) error { killed = append(killed, pid); return nil }
	tests := []struct {
		name    string
		run     func() error
		wantErr error
	}{
		{"reset refused while a process runs", func() error { return svc.ResetGPU(ctx, fake.UUID(0)) }, gpu.ErrBusy},
		{"reset of an idle GPU", func() error { return svc.ResetGPU(ctx, fake.UUID(4)) }, nil},
		{"reset of an unknown GPU", func() error { return svc.ResetGPU(ctx, "GPU-nope") }, gpu.ErrNotFound},
		{"kill a GPU process", func() error { return svc.KillProcess(ctx, 4242) }, nil},
		{"kill refuses a non-GPU pid", func() error { return svc.KillProcess(ctx, 1) }, gpu.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if got := node.Resets(); len(got) != 1 || got[0] != fake.UUID(4) {
		t.Fatalf("resets = %v", got)
	}
	if len(killed) != 1 || killed[0] != 4242 {
		t.Fatalf("killed = %v", killed)
	}
}

func TestNoCollectorSaysWhy(t *testing.T) {
	svc := &Service{CollectorErr: errors.Join(gpu.ErrNoDriver, errors.New("libnvidia-ml.so.1 missing")), Catalog: xid.MustLoad()}
	_, err := svc.Health(context.Background())
	if !errors.Is(err, gpu.ErrNoDriver) || !strings.Contains(err.Error(), "NVML driver not found") {
		t.Fatalf("err = %v", err)
	}
}
