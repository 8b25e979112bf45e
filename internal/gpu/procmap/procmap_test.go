package procmap

import (
	"os"
	"path/filepath"
	"testing"
)

const cid = "4f1c2b0e9d8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e"

func TestParseCgroupLine(t *testing.T) {
	tests := []struct {
		name, line  string
		wantUID     string
		wantContain string
	}{
		{"v2 systemd containerd", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0d3b6c2e_8f1a_4b7e_9c3d_2a1b0c9d8e7f.slice/cri-containerd-" + cid + ".scope", "0d3b6c2e-8f1a-4b7e-9c3d-2a1b0c9d8e7f", cid},
		{"v2 systemd guaranteed crio", "0::/kubepods.slice/kubepods-pod0d3b6c2e_8f1a_4b7e_9c3d_2a1b0c9d8e7f.slice/crio-" + cid + ".scope", "0d3b6c2e-8f1a-4b7e-9c3d-2a1b0c9d8e7f", cid},
		{"v1 cgroupfs", "11:memory:/kubepods/besteffort/pod0d3b6c2e-8f1a-4b7e-9c3d-2a1b0c9d8e7f/" + cid, "0d3b6c2e-8f1a-4b7e-9c3d-2a1b0c9d8e7f", cid},
		{"host process", "0::/system.slice/nvidia-persistenced.service", "", ""},
		{"garbage", "not a cgroup line", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseCgroupLine(tt.line)
			if tt.wantUID == "" {
				if got != nil {
					t.Fatalf("ParseCgroupLine = %+v, want nil", got)
				}
				return
			}
			if got == nil || got.PodUID != tt.wantUID || got.ContainerID != tt.wantContain {
				t.Fatalf("ParseCgroupLine = %+v, want uid %s container %s", got, tt.wantUID, tt.wantContain)
			}
		})
	}
}

func TestMapperReadsProc(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cg := "0::/kubepods.slice/kubepods-pod0d3b6c2e_8f1a_4b7e_9c3d_2a1b0c9d8e7f.slice/cri-containerd-" + cid + ".scope\n"
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "comm"), []byte("python3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := Mapper{Root: root}
	if got := m.Name(4242); got != "python3" {
		t.Fatalf("Name = %q", got)
	}
	ref, err := m.Owner(4242)
	if err != nil || ref == nil || ref.ContainerID != cid {
		t.Fatalf("Owner = %+v, %v", ref, err)
	}
	if _, err := m.Owner(999); err == nil {
		t.Fatalf("Owner of a missing pid succeeded")
	}
}
