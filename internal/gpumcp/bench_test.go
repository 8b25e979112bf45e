package gpumcp

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/toolmesh/toolmesh/internal/gpu/fake"
)

var benchNodes sync.Once

// BenchmarkGetGPUHealthFleet measures get_gpu_health across every GPU node: the five fixture
// nodes plus 32 more, each with its own agent HTTP server on loopback and TokenReview auth.
func BenchmarkGetGPUHealthFleet(b *testing.B) {
	ctx := context.Background()
	benchNodes.Do(func() {
		for i := 0; i < 32; i++ {
			name := fmt.Sprintf("bench-%02d", i)
			createNode(ctx, name, map[string]string{"nvidia.com/gpu.present": "true"}, nil, corev1.ResourceList{"nvidia.com/gpu": q("8")}, nil)
			startAgent(ctx, name, fake.Healthy, "")
		}
	})
	cs := connect(b, baseOptions)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, errText := call[HealthFleet](b, cs, "get_gpu_health", nil)
		if errText != "" || len(out.Nodes) < 37 {
			b.Fatalf("health: %q, %d nodes", errText, len(out.Nodes))
		}
	}
}
