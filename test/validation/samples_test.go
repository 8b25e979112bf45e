package validation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/toolmesh/toolmesh/internal/testenv"
)

// TestSamplesApply server-side applies every sample, as `kubectl apply --server-side` would.
func TestSamplesApply(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "toolmesh_*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("want one sample per kind, found %v (%v)", files, err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, doc := range strings.Split(string(b), "\n---\n") {
				obj := &unstructured.Unstructured{}
				if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
					t.Fatal(err)
				}
				kinds[obj.GetKind()] = true
				err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("samples-test"))
				if err != nil {
					t.Fatalf("%s %s rejected: %v", obj.GetKind(), obj.GetName(), err)
				}
			}
		})
	}
	for _, k := range []string{"MCPServer", "ClusterMCPServer", "MCPGateway", "MCPRoute"} {
		if !kinds[k] {
			t.Errorf("no sample of kind %s", k)
		}
	}
}
