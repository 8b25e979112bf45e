package gpu

import "testing"

func TestCheckAllocation(t *testing.T) {
	a := PodRef{Namespace: "ml", Name: "a", Container: "c"}
	b := PodRef{Namespace: "ml", Name: "b", Container: "d"}
	tests := []struct {
		name         string
		owner        *PodRef
		allocated    []PodRef
		wantMismatch bool
	}{
		{"owner allocated", &PodRef{PodUID: "u", Namespace: "ml", Name: "a"}, []PodRef{a}, false},
		{"owner among shared allocations", &PodRef{PodUID: "u", Namespace: "ml", Name: "b"}, []PodRef{a, b}, false},
		{"owner not allocated", &PodRef{PodUID: "u", Namespace: "ml", Name: "b"}, []PodRef{a}, true},
		{"same name other namespace", &PodRef{PodUID: "u", Namespace: "other", Name: "a"}, []PodRef{a}, true},
		{"owner not yet named", &PodRef{PodUID: "u"}, []PodRef{a}, false},
		{"no cgroup owner", nil, []PodRef{a}, false},
		{"no allocation known", &PodRef{PodUID: "u", Namespace: "ml", Name: "a"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Process{PID: 7, GPUUUID: "GPU-1", Owner: tt.owner, AllocatedTo: tt.allocated}
			CheckAllocation(&p)
			if p.AllocationMismatch != tt.wantMismatch || (len(p.Notes) == 1) != tt.wantMismatch {
				t.Fatalf("mismatch = %v notes = %q, want mismatch %v", p.AllocationMismatch, p.Notes, tt.wantMismatch)
			}
		})
	}
}
