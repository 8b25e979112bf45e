package gpu

import (
	"fmt"
	"strings"
)

// CheckAllocation flags a process whose owning pod, once named, is not among the pods the
// kubelet allocated its GPU to, and records the evidence in Notes.
func CheckAllocation(p *Process) {
	if p.Owner == nil || p.Owner.Name == "" || len(p.AllocatedTo) == 0 {
		return
	}
	names := make([]string, 0, len(p.AllocatedTo))
	for _, a := range p.AllocatedTo {
		if a.Namespace == p.Owner.Namespace && a.Name == p.Owner.Name {
			return
		}
		names = append(names, a.Namespace+"/"+a.Name+"/"+a.Container)
	}
	p.AllocationMismatch = true
	p.Notes = append(p.Notes, fmt.Sprintf("pid %d of pod %s/%s runs on GPU %s, which the kubelet allocated to %s",
		p.PID, p.Owner.Namespace, p.Owner.Name, p.GPUUUID, strings.Join(names, ", ")))
}
