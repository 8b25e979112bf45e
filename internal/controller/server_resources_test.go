package controller

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

// renderedPod returns the pod template the Deployment builder renders for spec, as the API
// server would store it.
func renderedPod(t *testing.T, spec toolmeshv1alpha1.MCPServerSpec) corev1.PodTemplateSpec {
	t.Helper()
	if spec.Transport.Port == 0 {
		spec.Transport.Port = 8080
	}
	if spec.Transport.Path == "" {
		spec.Transport.Path = "/mcp"
	}
	dep := buildDeployment(serverInput{Kind: "MCPServer", Name: "s", Namespace: "ns", Spec: &spec, BridgeImage: "bridge:v1"})
	b, err := json.Marshal(dep.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	var tpl corev1.PodTemplateSpec
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// restrictedViolations evaluates a pod template against Pod Security "restricted", latest version.
func restrictedViolations(t *testing.T, tpl corev1.PodTemplateSpec) []string {
	t.Helper()
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range eval.EvaluatePod(api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}, &tpl.ObjectMeta, &tpl.Spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return out
}

func TestRenderedPodsMeetPodSecurityRestricted(t *testing.T) {
	image := "example.local/s:v1"
	tests := []struct {
		name      string
		spec      toolmeshv1alpha1.MCPServerSpec
		wantError string // a forbidden reason the evaluator must report; empty: restricted
	}{
		{name: "image defaults", spec: toolmeshv1alpha1.MCPServerSpec{Image: image}},
		{name: "stdio behind the bridge", spec: toolmeshv1alpha1.MCPServerSpec{Image: image, Command: []string{"server"},
			Transport: toolmeshv1alpha1.Transport{Type: toolmeshv1alpha1.TransportStdio}}},
		{name: "scheduling and resource overrides", spec: toolmeshv1alpha1.MCPServerSpec{Image: image, Deployment: &toolmeshv1alpha1.WorkloadSpec{
			Replicas: ptr.To[int32](2), NodeSelector: map[string]string{"gpu": "true"},
			Tolerations:        []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Resources:          &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
			ServiceAccountName: "gpu-reader", PodLabels: map[string]string{"team": "ml"},
		}}},
		{name: "projected tokens", spec: toolmeshv1alpha1.MCPServerSpec{Image: image, Deployment: &toolmeshv1alpha1.WorkloadSpec{
			ProjectedTokens: []toolmeshv1alpha1.ProjectedToken{{Audience: "toolmesh-gpu-agent", MountPath: "/var/run/secrets/toolmesh/agent-token"}},
		}}},
		{name: "a different non-root user", spec: toolmeshv1alpha1.MCPServerSpec{Image: image, Deployment: &toolmeshv1alpha1.WorkloadSpec{
			PodSecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)},
		}}},
		{name: "an explicit opt-out is visible to the evaluator", wantError: "allowPrivilegeEscalation != false",
			spec: toolmeshv1alpha1.MCPServerSpec{Image: image, Deployment: &toolmeshv1alpha1.WorkloadSpec{
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)},
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := restrictedViolations(t, renderedPod(t, tc.spec))
			if tc.wantError == "" && len(v) > 0 {
				t.Fatalf("not restricted: %v", v)
			}
			if tc.wantError != "" && !strings.Contains(strings.Join(v, "\n"), tc.wantError) {
				t.Fatalf("want violation %q, got %v", tc.wantError, v)
			}
		})
	}
}

func TestRenderedPodsHaveReadOnlyRootAndWritableTmp(t *testing.T) {
	tpl := renderedPod(t, toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1", Command: []string{"s"},
		Transport: toolmeshv1alpha1.Transport{Type: toolmeshv1alpha1.TransportStdio}})
	for _, c := range append(tpl.Spec.InitContainers, tpl.Spec.Containers...) {
		if !ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false) {
			t.Errorf("container %s: root filesystem is writable", c.Name)
		}
	}
	server := tpl.Spec.Containers[0]
	var tmp, bridge bool
	for _, m := range server.VolumeMounts {
		tmp = tmp || m.MountPath == "/tmp"
		bridge = bridge || (m.MountPath == bridgeDir && m.ReadOnly)
	}
	if !tmp || !bridge {
		t.Errorf("mounts %+v: want /tmp and a read-only %s", server.VolumeMounts, bridgeDir)
	}
	if ptr.Deref(tpl.Spec.AutomountServiceAccountToken, true) {
		t.Error("the operator's ServiceAccount token must not be mounted by default")
	}
}

func TestProjectedTokensAreMountedReadOnly(t *testing.T) {
	tpl := renderedPod(t, toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1", Deployment: &toolmeshv1alpha1.WorkloadSpec{
		ProjectedTokens: []toolmeshv1alpha1.ProjectedToken{{Audience: "agents", MountPath: "/var/run/secrets/agents", ExpirationSeconds: ptr.To[int64](600)}},
	}})
	var found bool
	for _, v := range tpl.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		sat := v.Projected.Sources[0].ServiceAccountToken
		if sat.Audience != "agents" || *sat.ExpirationSeconds != 600 || sat.Path != "token" {
			t.Errorf("projection %+v", sat)
		}
		for _, m := range tpl.Spec.Containers[0].VolumeMounts {
			found = found || (m.Name == v.Name && m.MountPath == "/var/run/secrets/agents" && m.ReadOnly)
		}
	}
	if !found {
		t.Fatalf("no read-only projected token mount in %+v", tpl.Spec.Containers[0].VolumeMounts)
	}
}
