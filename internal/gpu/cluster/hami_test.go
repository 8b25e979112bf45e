package cluster

import "testing"

func TestParseHAMiAllocation(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		containers int
		devices    []int
		wantErr    bool
	}{
		{"two containers", "GPU-a,NVIDIA,20000,30:GPU-b,NVIDIA,10000,0:;GPU-c,NVIDIA,4000,10:;", 2, []int{2, 1}, false},
		{"container without gpu", ";GPU-c,NVIDIA,4000,10:;", 2, []int{0, 1}, false},
		{"no trailing separators", "GPU-a,NVIDIA,20000,30", 1, []int{1}, false},
		{"three fields", "GPU-a,NVIDIA,20000:;", 0, nil, true},
		{"memory not a number", "GPU-a,NVIDIA,lots,30:;", 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHAMiAllocation(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if len(got) != tt.containers {
				t.Fatalf("containers = %d, want %d: %+v", len(got), tt.containers, got)
			}
			for i, n := range tt.devices {
				if len(got[i]) != n {
					t.Fatalf("container %d has %d devices, want %d", i, len(got[i]), n)
				}
			}
		})
	}
}
