package agent

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/procmap"
	"github.com/toolmesh/toolmesh/internal/gpu/xid"
)

// Service answers GPU questions for one node.
type Service struct {
	// Collector reads the GPUs; nil when NVML could not be opened.
	Collector gpu.Collector
	// CollectorErr says why Collector is nil.
	CollectorErr error
	// Catalog is NVIDIA's Xid catalogue.
	Catalog *xid.Catalog
	// KernelLog reads the kernel log; nil skips it.
	KernelLog func() (xid.Log, error)
	// Procs names processes and their pods; nil skips it.
	Procs *procmap.Mapper
	// PodResources says which pods the kubelet allocated each GPU to; nil skips it.
	PodResources Allocator
	// Kill sends SIGKILL to a process; defaults to syscall.Kill.
	Kill func(pid int) error
}

// Allocator lists, per device id, the pods and containers the kubelet allocated it to.
type Allocator interface {
	// Devices returns the allocations keyed by device id (a GPU UUID or a MIG device id).
	Devices(ctx context.Context) (map[string][]gpu.PodRef, error)
}

// CatalogRef names the Xid catalogue an analysis used.
type CatalogRef struct {
	// Source is where the catalogue was transcribed from.
	Source string `json:"source" jsonschema:"where NVIDIA publishes the catalogue"`
	// Version records when it was taken.
	Version string `json:"version" jsonschema:"catalogue version or retrieval date"`
}

// XIDReport is the result of an Xid analysis on one node.
type XIDReport struct {
	// Catalog names the catalogue used.
	Catalog CatalogRef `json:"catalog" jsonschema:"catalogue used"`
	// XIDs are the de-duplicated Xids, most severe first.
	XIDs []gpu.XIDSummary `json:"xids" jsonschema:"de-duplicated Xids, most severe first"`
	// KernelLogError says why the kernel log could not be read, if it could not.
	KernelLogError string `json:"kernelLogError,omitempty" jsonschema:"why /dev/kmsg could not be read"`
}

func (s *Service) collector() (gpu.Collector, error) {
	if s.Collector == nil {
		if s.CollectorErr != nil {
			return nil, s.CollectorErr
		}
		return nil, gpu.ErrNoDriver
	}
	return s.Collector, nil
}

// Inventory returns the node's GPUs.
func (s *Service) Inventory(ctx context.Context) (gpu.Inventory, error) {
	c, err := s.collector()
	if err != nil {
		return gpu.Inventory{}, err
	}
	return c.Inventory(ctx)
}

// Telemetry returns each GPU's live state.
func (s *Service) Telemetry(ctx context.Context) ([]gpu.Telemetry, error) {
	c, err := s.collector()
	if err != nil {
		return nil, err
	}
	return c.Telemetry(ctx)
}

// Topology returns the GPU interconnect.
func (s *Service) Topology(ctx context.Context) (gpu.Topology, error) {
	c, err := s.collector()
	if err != nil {
		return gpu.Topology{}, err
	}
	return c.Topology(ctx)
}

// ECC returns each GPU's memory error state.
func (s *Service) ECC(ctx context.Context) ([]gpu.ECC, error) {
	c, err := s.collector()
	if err != nil {
		return nil, err
	}
	return c.ECC(ctx)
}

// Processes returns GPU processes with their names, owning pod UID and container id, and the
// pods the kubelet allocated their GPUs to.
func (s *Service) Processes(ctx context.Context) ([]gpu.Process, error) {
	c, err := s.collector()
	if err != nil {
		return nil, err
	}
	procs, err := c.Processes(ctx)
	if err != nil {
		return nil, err
	}
	if s.Procs != nil {
		for i := range procs {
			procs[i].Name = s.Procs.Name(procs[i].PID)
			if ref, err := s.Procs.Owner(procs[i].PID); err == nil {
				procs[i].Owner = ref
			}
		}
	}
	s.attachAllocations(ctx, procs)
	return procs, nil
}

// attachAllocations names the pods the kubelet allocated each process's GPU to. When the
// PodResources API cannot be asked, every process keeps its cgroup owner and carries a note.
func (s *Service) attachAllocations(ctx context.Context, procs []gpu.Process) {
	if s.PodResources == nil || len(procs) == 0 {
		return
	}
	alloc, err := s.PodResources.Devices(ctx)
	if err != nil {
		note := "kubelet PodResources unavailable, owner from /proc/<pid>/cgroup only: " + err.Error()
		for i := range procs {
			procs[i].Notes = append(procs[i].Notes, note)
		}
		return
	}
	for i := range procs {
		procs[i].AllocatedTo = alloc[procs[i].GPUUUID]
		gpu.CheckAllocation(&procs[i])
	}
}

// XIDs merges NVML's Xid events with the kernel log's and analyses them.
func (s *Service) XIDs(ctx context.Context, f gpu.XIDFilter) (XIDReport, error) {
	c, err := s.collector()
	if err != nil {
		return XIDReport{}, err
	}
	inv, err := c.Inventory(ctx)
	if err != nil {
		return XIDReport{}, err
	}
	events, err := c.XIDEvents(ctx)
	if err != nil {
		return XIDReport{}, err
	}
	rep := XIDReport{Catalog: CatalogRef{Source: s.Catalog.Source, Version: s.Catalog.Version}}
	if s.KernelLog != nil {
		log, err := s.KernelLog()
		if err != nil {
			rep.KernelLogError = err.Error()
		} else {
			events = append(events, gpu.EventsFromKernelLog(log, inv)...)
		}
	}
	rep.XIDs = gpu.AnalyzeXIDs(events, inv, s.Catalog, f)
	return rep, nil
}

// Health gathers every signal and decides a verdict per GPU and for the node.
func (s *Service) Health(ctx context.Context) (gpu.NodeHealth, error) {
	c, err := s.collector()
	if err != nil {
		return gpu.NodeHealth{}, err
	}
	var in gpu.HealthInput
	if in.Inventory, err = c.Inventory(ctx); err != nil {
		return gpu.NodeHealth{}, err
	}
	if in.Telemetry, err = c.Telemetry(ctx); err != nil {
		return gpu.NodeHealth{}, err
	}
	if in.ECC, err = c.ECC(ctx); err != nil {
		return gpu.NodeHealth{}, err
	}
	if in.Recovery, err = c.Recovery(ctx); err != nil {
		return gpu.NodeHealth{}, err
	}
	rep, err := s.XIDs(ctx, gpu.XIDFilter{})
	if err != nil {
		return gpu.NodeHealth{}, err
	}
	in.XIDs = rep.XIDs
	return gpu.Assess(in), nil
}

// KillProcess kills a process, but only one NVML lists as holding a GPU.
func (s *Service) KillProcess(ctx context.Context, pid int) error {
	procs, err := s.Processes(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, p := range procs {
		found = found || p.PID == pid
	}
	if !found {
		return fmt.Errorf("pid %d is not a GPU process on this node: %w", pid, gpu.ErrNotFound)
	}
	kill := s.Kill
	if kill == nil {
		kill = func(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
	}
	if err := kill(pid); err != nil {
		return fmt.Errorf("kill pid %d: %w", pid, err)
	}
	return nil
}

// ResetGPU resets a GPU; it is refused while any process runs on it.
func (s *Service) ResetGPU(ctx context.Context, uuid string) error {
	c, err := s.collector()
	if err != nil {
		return err
	}
	procs, err := c.Processes(ctx)
	if err != nil {
		return err
	}
	var running []int
	for _, p := range procs {
		if p.GPUUUID == uuid {
			running = append(running, p.PID)
		}
	}
	if len(running) > 0 {
		return fmt.Errorf("refusing to reset GPU %s while processes %v run on it: %w", uuid, running, gpu.ErrBusy)
	}
	if err := c.ResetGPU(ctx, uuid); err != nil {
		if errors.Is(err, gpu.ErrBusy) || errors.Is(err, gpu.ErrNotFound) {
			return err
		}
		return fmt.Errorf("reset GPU %s: %w", uuid, err)
	}
	return nil
}
