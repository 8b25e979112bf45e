package agent

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/toolmesh/toolmesh/internal/gpu"
	"github.com/toolmesh/toolmesh/internal/gpu/fake"
	"github.com/toolmesh/toolmesh/internal/gpu/podresources"
	"github.com/toolmesh/toolmesh/internal/gpu/procmap"
)

const (
	trainerUID = "0d3b6c2e-8f1a-4b7e-9c3d-2a1b0c9d8e7f"
	inferUID   = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"
	ctrID      = "4f1c2b0e9d8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291807f6e"
)

// kubelet stands in for the kubelet's PodResources service, which cannot run here.
type kubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	resp *podresourcesv1.ListPodResourcesResponse
	// block makes List wait until the caller gives up, like a kubelet that never answers.
	block bool
}

// List answers with the configured pods, or blocks until the call is cancelled.
func (k *kubelet) List(ctx context.Context, _ *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	if k.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return k.resp, nil
}

// serveKubelet serves k over a real gRPC server on a unix socket and returns the socket's path.
func serveKubelet(t *testing.T, k *kubelet) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "kubelet.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(srv, k)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return sock
}

// allocation is one container holding GPUs in a PodResources answer.
func allocation(ns, pod, ctr string, ids ...string) *podresourcesv1.PodResources {
	return &podresourcesv1.PodResources{Namespace: ns, Name: pod, Containers: []*podresourcesv1.ContainerResources{{
		Name:    ctr,
		Devices: []*podresourcesv1.ContainerDevices{{ResourceName: "nvidia.com/gpu", DeviceIds: ids}},
	}}}
}

// fakeProc writes a /proc with a comm and a cgroup file for each pid.
func fakeProc(t *testing.T, cgroups map[int]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, cg := range cgroups {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte("python3\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cg+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func podCgroup(uid string) string {
	return "0::/kubepods.slice/kubepods-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice/cri-containerd-" + ctrID + ".scope"
}

// TestProcessesPodResources runs the healthy scenario (pid 4242 on GPU 0, pid 4243 on GPU 1)
// against a real gRPC PodResources server on a unix socket.
func TestProcessesPodResources(t *testing.T) {
	trainer := gpu.PodRef{Namespace: "ml-team", Name: "trainer-0", Container: "trainer"}
	infer := gpu.PodRef{Namespace: "ml-team", Name: "infer-0", Container: "infer"}
	// names resolves pod UIDs as the server role does from the API.
	names := map[string]gpu.PodRef{trainerUID: trainer, inferUID: infer}
	tests := []struct {
		name string
		// kubelet is nil when no socket exists.
		kubelet *kubelet
		// cgroups maps a pid to its cgroup line; a pid without one has no cgroup owner.
		cgroups      map[int]string
		wantAlloc    map[int][]gpu.PodRef
		wantOwnerUID map[int]string
		wantMismatch map[int]bool
		wantNote     string
	}{
		{
			name: "mapped by UUID without cgroups",
			kubelet: &kubelet{resp: &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
				allocation("ml-team", "trainer-0", "trainer", fake.UUID(0)),
				allocation("ml-team", "infer-0", "infer", fake.UUID(1)+"::2"),
				allocation("other", "idle-0", "idle", fake.UUID(5)),
			}}},
			wantAlloc: map[int][]gpu.PodRef{4242: {trainer}, 4243: {infer}},
		},
		{
			name: "process on a GPU allocated to another pod",
			kubelet: &kubelet{resp: &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
				allocation("ml-team", "trainer-0", "trainer", fake.UUID(0), fake.UUID(1)),
			}}},
			cgroups:      map[int]string{4242: podCgroup(trainerUID), 4243: podCgroup(inferUID)},
			wantAlloc:    map[int][]gpu.PodRef{4242: {trainer}, 4243: {trainer}},
			wantOwnerUID: map[int]string{4242: trainerUID, 4243: inferUID},
			wantMismatch: map[int]bool{4243: true},
			wantNote:     "pid 4243 of pod ml-team/infer-0 runs on GPU " + fake.UUID(1) + ", which the kubelet allocated to ml-team/trainer-0/trainer",
		},
		{
			name:         "socket absent keeps cgroup owners",
			cgroups:      map[int]string{4242: podCgroup(trainerUID), 4243: podCgroup(inferUID)},
			wantOwnerUID: map[int]string{4242: trainerUID, 4243: inferUID},
			wantNote:     "kubelet PodResources unavailable, owner from /proc/<pid>/cgroup only: pod resources socket: stat ",
		},
		{
			name:         "slow kubelet times out",
			kubelet:      &kubelet{block: true},
			cgroups:      map[int]string{4242: podCgroup(trainerUID)},
			wantOwnerUID: map[int]string{4242: trainerUID},
			wantNote:     "DeadlineExceeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _ := newService(t, "healthy")
			svc.Procs = &procmap.Mapper{Root: fakeProc(t, tt.cgroups)}
			sock := filepath.Join(t.TempDir(), "absent.sock")
			if tt.kubelet != nil {
				sock = serveKubelet(t, tt.kubelet)
			}
			svc.PodResources = &podresources.Client{Socket: sock, Timeout: 200 * time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			procs, err := svc.Processes(ctx)
			if err != nil {
				t.Fatalf("Processes: %v", err)
			}
			if ctx.Err() != nil {
				t.Fatal("Processes outlived the PodResources timeout")
			}
			if len(procs) != 2 {
				t.Fatalf("got %d processes, want 2", len(procs))
			}
			var notes []string
			for i := range procs {
				p := &procs[i]
				if got, want := ownerUID(p), tt.wantOwnerUID[p.PID]; got != want {
					t.Errorf("pid %d owner UID = %q, want %q", p.PID, got, want)
				}
				if !equalRefs(p.AllocatedTo, tt.wantAlloc[p.PID]) {
					t.Errorf("pid %d allocatedTo = %+v, want %+v", p.PID, p.AllocatedTo, tt.wantAlloc[p.PID])
				}
				// The server role names the cgroup's pod from the API, then checks the allocation.
				if p.Owner != nil {
					n := names[p.Owner.PodUID]
					p.Owner.Namespace, p.Owner.Name = n.Namespace, n.Name
				}
				gpu.CheckAllocation(p)
				if p.AllocationMismatch != tt.wantMismatch[p.PID] {
					t.Errorf("pid %d allocationMismatch = %v, want %v", p.PID, p.AllocationMismatch, tt.wantMismatch[p.PID])
				}
				notes = append(notes, p.Notes...)
			}
			joined := strings.Join(notes, "\n")
			if tt.wantNote == "" && joined != "" {
				t.Errorf("notes = %q, want none", joined)
			}
			if !strings.Contains(joined, tt.wantNote) {
				t.Errorf("notes = %q, want one containing %q", joined, tt.wantNote)
			}
		})
	}
}

func ownerUID(p *gpu.Process) string {
	if p.Owner == nil {
		return ""
	}
	return p.Owner.PodUID
}

func equalRefs(a, b []gpu.PodRef) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
