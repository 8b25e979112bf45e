package gpu

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

func clusterRole(t *testing.T, file, name string) rbacv1.ClusterRole {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "gpu-mcp-server", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(b, []byte("\n---\n")) {
		var r rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &r); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if r.Kind == "ClusterRole" && r.Name == name {
			return r
		}
	}
	t.Fatalf("%s has no ClusterRole %s", file, name)
	return rbacv1.ClusterRole{}
}

func TestRBACGrantsExactlyWhatTheToolsNeed(t *testing.T) {
	tests := []struct {
		file, role string
		want       []rbacv1.PolicyRule
	}{
		{"base/rbac-server-readonly.yaml", "toolmesh-gpu-mcp-server-readonly", []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes", "pods", "namespaces", "resourcequotas"}, Verbs: []string{"get", "list", "watch"}},
		}},
		{"operator/rbac-server-operator.yaml", "toolmesh-gpu-mcp-server-operator", []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"patch"}},
			{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
		}},
		{"base/rbac-agent.yaml", "toolmesh-gpu-mcp-agent", []rbacv1.PolicyRule{
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			r := clusterRole(t, tt.file, tt.role)
			if len(r.Rules) != len(tt.want) {
				t.Fatalf("rules = %+v", r.Rules)
			}
			for i, rule := range r.Rules {
				w := tt.want[i]
				if !slices.Equal(rule.APIGroups, w.APIGroups) || !slices.Equal(rule.Resources, w.Resources) || !slices.Equal(rule.Verbs, w.Verbs) || len(rule.ResourceNames) != 0 {
					t.Fatalf("rule %d = %+v, want %+v", i, rule, w)
				}
				if slices.Contains(rule.Resources, "secrets") || slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") {
					t.Fatalf("rule %d grants secrets or wildcards: %+v", i, rule)
				}
			}
		})
	}
}
