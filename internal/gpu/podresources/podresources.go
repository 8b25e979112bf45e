package podresources

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/toolmesh/toolmesh/internal/gpu"
)

// DefaultSocket is where the kubelet serves the PodResources API.
const DefaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// DefaultTimeout bounds one List call when Client.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// maxMessageSize matches the kubelet's own limit for PodResources responses.
const maxMessageSize = 16 << 20

// Client lists device allocations from the kubelet over its unix socket.
type Client struct {
	// Socket is the path of the kubelet's PodResources socket.
	Socket string
	// Timeout bounds one List call; zero means DefaultTimeout.
	Timeout time.Duration
}

// Devices returns, for each allocated device id, the pods and containers it is allocated to.
// Device ids are kept as the kubelet reports them (GPU UUIDs for nvidia.com/gpu, MIG device ids
// for nvidia.com/mig-*); a time-slicing replica suffix ("::N") is removed so that replicas map to
// their GPU.
func (c *Client) Devices(ctx context.Context) (map[string][]gpu.PodRef, error) {
	if _, err := os.Stat(c.Socket); err != nil {
		return nil, fmt.Errorf("pod resources socket: %w", err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+c.Socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize)))
	if err != nil {
		return nil, fmt.Errorf("connect to pod resources socket %s: %w", c.Socket, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := podresourcesv1.NewPodResourcesListerClient(conn).List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("list pod resources from %s: %w", c.Socket, err)
	}
	return Allocations(resp), nil
}

// Allocations indexes a List response by device id.
func Allocations(resp *podresourcesv1.ListPodResourcesResponse) map[string][]gpu.PodRef {
	out := map[string][]gpu.PodRef{}
	for _, pod := range resp.GetPodResources() {
		for _, ctr := range pod.GetContainers() {
			for _, dev := range ctr.GetDevices() {
				for _, id := range dev.GetDeviceIds() {
					id, _, _ = strings.Cut(id, "::")
					ref := gpu.PodRef{Namespace: pod.GetNamespace(), Name: pod.GetName(), Container: ctr.GetName()}
					if !contains(out[id], ref) {
						out[id] = append(out[id], ref)
					}
				}
			}
		}
	}
	return out
}

func contains(refs []gpu.PodRef, ref gpu.PodRef) bool {
	for _, r := range refs {
		if r == ref {
			return true
		}
	}
	return false
}
