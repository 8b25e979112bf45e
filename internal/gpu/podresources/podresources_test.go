package podresources

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"testing"

	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/toolmesh/toolmesh/internal/gpu"
)

func TestAllocations(t *testing.T) {
	const uuid = "GPU-5e1f0000-0000-4000-8000-000000000018"
	const mig = "MIG-3b2c1d0e-0000-4000-8000-000000000001"
	pod := func(ns, name, ctr, resource string, ids ...string) *podresourcesv1.PodResources {
		return &podresourcesv1.PodResources{Namespace: ns, Name: name, Containers: []*podresourcesv1.ContainerResources{{
			Name: ctr, Devices: []*podresourcesv1.ContainerDevices{{ResourceName: resource, DeviceIds: ids}},
		}}}
	}
	tests := []struct {
		name string
		pods []*podresourcesv1.PodResources
		want map[string][]gpu.PodRef
	}{
		{"empty", nil, map[string][]gpu.PodRef{}},
		{"whole GPU", []*podresourcesv1.PodResources{pod("ml", "a", "c", "nvidia.com/gpu", uuid)},
			map[string][]gpu.PodRef{uuid: {{Namespace: "ml", Name: "a", Container: "c"}}}},
		{"MIG id kept opaque", []*podresourcesv1.PodResources{pod("ml", "a", "c", "nvidia.com/mig-1g.10gb", mig)},
			map[string][]gpu.PodRef{mig: {{Namespace: "ml", Name: "a", Container: "c"}}}},
		{"time-slicing replicas fold onto their GPU", []*podresourcesv1.PodResources{
			pod("ml", "a", "c", "nvidia.com/gpu", uuid+"::0", uuid+"::1"),
			pod("ml", "b", "d", "nvidia.com/gpu", uuid+"::2"),
		}, map[string][]gpu.PodRef{uuid: {{Namespace: "ml", Name: "a", Container: "c"}, {Namespace: "ml", Name: "b", Container: "d"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Allocations(&podresourcesv1.ListPodResourcesResponse{PodResources: tt.pods})
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Allocations = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDevicesSocketAbsent(t *testing.T) {
	c := &Client{Socket: filepath.Join(t.TempDir(), "kubelet.sock")}
	if _, err := c.Devices(context.Background()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Devices error = %v, want fs.ErrNotExist", err)
	}
}
