package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

func newServer(ns, name string, spec toolmeshv1alpha1.MCPServerSpec) *toolmeshv1alpha1.MCPServer {
	return &toolmeshv1alpha1.MCPServer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

func TestServerCreatesOwnedObjects(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	srv := newServer(ns, "files", toolmeshv1alpha1.MCPServerSpec{Image: "example.local/files:v1", Args: []string{"--root=/data"}})
	if err := k8sClient.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}

	var dep appsv1.Deployment
	eventually(t, "Deployment created", func() error { return get(&dep, ns, "mcp-files") })
	if got := dep.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"--root=/data"}) {
		t.Errorf("args = %v", got)
	}
	ref := metav1.GetControllerOf(&dep)
	if ref == nil || ref.Kind != "MCPServer" || ref.Name != "files" {
		t.Errorf("controller reference = %+v", ref)
	}
	if dep.ManagedFields[0].Manager != FieldOwner {
		t.Errorf("field manager = %q", dep.ManagedFields[0].Manager)
	}
	var svc corev1.Service
	eventually(t, "Service created", func() error { return get(&svc, ns, "mcp-files") })
	if svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.StrVal != "mcp" {
		t.Errorf("service ports = %+v", svc.Spec.Ports)
	}
	var sa corev1.ServiceAccount
	eventually(t, "ServiceAccount created", func() error { return get(&sa, ns, "mcp-files") })
	if err := get(&networkingv1.NetworkPolicy{}, ns, "mcp-files"); !apierrors.IsNotFound(err) {
		t.Errorf("want no NetworkPolicy without spec.network, got %v", err)
	}

	eventually(t, "status written", func() error {
		var s toolmeshv1alpha1.MCPServer
		if err := get(&s, ns, "files"); err != nil {
			return err
		}
		if want := "http://mcp-files." + ns + ".svc.cluster.local:8080/mcp"; s.Status.URL != want {
			return fmt.Errorf("url = %q, want %q", s.Status.URL, want)
		}
		if s.Status.ObservedGeneration != s.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", s.Status.ObservedGeneration, s.Generation)
		}
		if err := conditionIs(s.Status.Conditions, "Available", metav1.ConditionFalse, "Progressing"); err != nil {
			return err
		}
		return conditionIs(s.Status.Conditions, "Ready", metav1.ConditionFalse, "Progressing")
	})
}

func TestServerBecomesReadyWhenDeploymentIsAvailable(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	if err := k8sClient.Create(ctx, newServer(ns, "ready", toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1"})); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	eventually(t, "Deployment created", func() error { return get(&dep, ns, "mcp-ready") })

	// envtest runs no Deployment controller: report the rollout as it would.
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1}
	if err := k8sClient.Status().Update(ctx, &dep); err != nil {
		t.Fatal(err)
	}
	eventually(t, "server ready", func() error {
		var s toolmeshv1alpha1.MCPServer
		if err := get(&s, ns, "ready"); err != nil {
			return err
		}
		if s.Status.ReadyReplicas != 1 {
			return fmt.Errorf("readyReplicas = %d", s.Status.ReadyReplicas)
		}
		return conditionIs(s.Status.Conditions, "Ready", metav1.ConditionTrue, "Available")
	})
	eventually(t, "a Ready event", func() error {
		var events eventsList
		return events.find(ctx, ns, "ready", "Available")
	})
}

func TestServerSpecChangeRollsOut(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	srv := newServer(ns, "roll", toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1"})
	if err := k8sClient.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	eventually(t, "Deployment created", func() error { return get(&dep, ns, "mcp-roll") })

	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := get(srv, ns, "roll"); err != nil {
			return err
		}
		srv.Spec.Image = "example.local/s:v2"
		srv.Spec.Deployment = &toolmeshv1alpha1.WorkloadSpec{Replicas: ptr.To[int32](3)}
		srv.Spec.Transport.Port = 9000
		return k8sClient.Update(ctx, srv)
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "Deployment rolled out", func() error {
		if err := get(&dep, ns, "mcp-roll"); err != nil {
			return err
		}
		c := dep.Spec.Template.Spec.Containers[0]
		if c.Image != "example.local/s:v2" || *dep.Spec.Replicas != 3 || c.Ports[0].ContainerPort != 9000 {
			return fmt.Errorf("image %s, replicas %d, port %d", c.Image, *dep.Spec.Replicas, c.Ports[0].ContainerPort)
		}
		return nil
	})
	eventually(t, "Service port follows", func() error {
		var svc corev1.Service
		if err := get(&svc, ns, "mcp-roll"); err != nil {
			return err
		}
		if svc.Spec.Ports[0].Port != 9000 {
			return fmt.Errorf("port %d", svc.Spec.Ports[0].Port)
		}
		return nil
	})
}

func TestServerDriftIsRestored(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	if err := k8sClient.Create(ctx, newServer(ns, "drift", toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1"})); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	eventually(t, "Deployment created", func() error { return get(&dep, ns, "mcp-drift") })

	// A person edits a field the operator owns, with another field manager.
	dep.Spec.Template.Spec.Containers[0].Image = "evil.example/s:latest"
	if err := k8sClient.Update(ctx, &dep, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "image restored", func() error {
		if err := get(&dep, ns, "mcp-drift"); err != nil {
			return err
		}
		if img := dep.Spec.Template.Spec.Containers[0].Image; img != "example.local/s:v1" {
			return fmt.Errorf("image %s", img)
		}
		return nil
	})

	// A person deletes the Service.
	var svc corev1.Service
	eventually(t, "Service created", func() error { return get(&svc, ns, "mcp-drift") })
	uid := svc.UID
	if err := k8sClient.Delete(ctx, &svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Service recreated", func() error {
		if err := get(&svc, ns, "mcp-drift"); err != nil {
			return err
		}
		if svc.UID == uid {
			return errors.New("still the old Service")
		}
		return nil
	})
}

func TestServerWithMissingSecretWaitsWithoutLosingTheWorkload(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	srv := newServer(ns, "refs", toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1"})
	if err := k8sClient.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	eventually(t, "Deployment created", func() error { return get(&dep, ns, "mcp-refs") })

	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := get(srv, ns, "refs"); err != nil {
			return err
		}
		srv.Spec.Image = "example.local/s:v2"
		srv.Spec.EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "api-token"}}}}
		srv.Spec.Env = []corev1.EnvVar{{Name: "REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "region"}}}}
		return k8sClient.Update(ctx, srv)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Waiting for Secret api-token, key \"region\" of ConfigMap settings in namespace %s.", ns)
	eventually(t, "ReferenceNotFound reported", func() error {
		var s toolmeshv1alpha1.MCPServer
		if err := get(&s, ns, "refs"); err != nil {
			return err
		}
		if err := conditionIs(s.Status.Conditions, "Ready", metav1.ConditionFalse, "ReferenceNotFound"); err != nil {
			return err
		}
		if msg := findCondition(s.Status.Conditions, "Ready").Message; msg != want {
			return fmt.Errorf("message %q, want %q", msg, want)
		}
		return nil
	})
	if err := get(&dep, ns, "mcp-refs"); err != nil || dep.Spec.Template.Spec.Containers[0].Image != "example.local/s:v1" {
		t.Fatalf("the running workload must be kept while a reference is missing: %v, %s", err, dep.Spec.Template.Spec.Containers[0].Image)
	}

	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-token"}, StringData: map[string]string{"TOKEN": "s3cr3t"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"region": "eu"}},
	} {
		if err := k8sClient.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "rolled out once the references exist", func() error {
		if err := get(&dep, ns, "mcp-refs"); err != nil {
			return err
		}
		if img := dep.Spec.Template.Spec.Containers[0].Image; img != "example.local/s:v2" {
			return fmt.Errorf("image %s", img)
		}
		return nil
	})
}

func TestServerNetworkPolicyFollowsSpec(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	srv := newServer(ns, "net", toolmeshv1alpha1.MCPServerSpec{
		Image:   "example.local/s:v1",
		Network: &toolmeshv1alpha1.NetworkSpec{Egress: []toolmeshv1alpha1.EgressRule{{CIDR: "10.0.0.0/8", Ports: []toolmeshv1alpha1.EgressPort{{Port: 443}}}}},
	})
	if err := k8sClient.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}
	var np networkingv1.NetworkPolicy
	eventually(t, "NetworkPolicy created", func() error { return get(&np, ns, "mcp-net") })
	if len(np.Spec.Egress) != 2 || np.Spec.Egress[1].To[0].IPBlock.CIDR != "10.0.0.0/8" {
		t.Errorf("egress = %+v", np.Spec.Egress)
	}
	if from := np.Spec.Ingress[0].From[0].PodSelector.MatchLabels; from[LabelMCPClient] != "true" {
		t.Errorf("ingress from = %v", from)
	}

	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := get(srv, ns, "net"); err != nil {
			return err
		}
		srv.Spec.Network = nil
		return k8sClient.Update(ctx, srv)
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "NetworkPolicy deleted", func() error {
		if err := get(&np, ns, "mcp-net"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %w", err)
		}
		return nil
	})
}

func TestStdioServerRunsBehindTheBridge(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	srv := newServer(ns, "stdio", toolmeshv1alpha1.MCPServerSpec{
		Image: "example.local/fs:v1", Command: []string{"npx", "server-filesystem"}, Args: []string{"/data"},
		Transport: toolmeshv1alpha1.Transport{Type: toolmeshv1alpha1.TransportStdio},
	})
	if err := k8sClient.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	eventually(t, "Deployment created", func() error { return get(&dep, ns, "mcp-stdio") })
	pod := dep.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Image != bridgeImage {
		t.Fatalf("init containers = %+v", pod.InitContainers)
	}
	c := pod.Containers[0]
	wantArgs := []string{"--listen=:8080", "--path=/mcp", "--max-sessions=16", "--idle-timeout=10m0s", "--", "npx", "server-filesystem", "/data"}
	if !slices.Equal(c.Command, []string{bridgeBinary}) || !slices.Equal(c.Args, wantArgs) {
		t.Errorf("command %v args %v", c.Command, c.Args)
	}
}

func TestConcurrentWritersConverge(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	if err := k8sClient.Create(ctx, newServer(ns, "busy", toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1"})); err != nil {
		t.Fatal(err)
	}
	// Another client edits the server while the operator writes its status: every write of
	// either side must land, with optimistic-concurrency retries on the other client's side only.
	for i := range 20 {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var s toolmeshv1alpha1.MCPServer
			if err := get(&s, ns, "busy"); err != nil {
				return err
			}
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations["example.com/edit"] = fmt.Sprint(i)
			s.Spec.Args = []string{fmt.Sprintf("--n=%d", i)}
			return k8sClient.Update(ctx, &s)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "converged on the last spec", func() error {
		var s toolmeshv1alpha1.MCPServer
		var dep appsv1.Deployment
		if err := get(&s, ns, "busy"); err != nil {
			return err
		}
		if err := get(&dep, ns, "mcp-busy"); err != nil {
			return err
		}
		if s.Annotations["example.com/edit"] != "19" || s.Status.ObservedGeneration != s.Generation {
			return fmt.Errorf("annotation %q observedGeneration %d generation %d", s.Annotations["example.com/edit"], s.Status.ObservedGeneration, s.Generation)
		}
		if args := dep.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{"--n=19"}) {
			return fmt.Errorf("args %v", args)
		}
		return nil
	})
}

func TestSteadyStateWritesNothing(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	if err := k8sClient.Create(ctx, newServer(ns, "idle", toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1"})); err != nil {
		t.Fatal(err)
	}
	var s toolmeshv1alpha1.MCPServer
	eventually(t, "status written", func() error {
		if err := get(&s, ns, "idle"); err != nil {
			return err
		}
		if s.Status.ObservedGeneration != s.Generation {
			return errors.New("not observed yet")
		}
		return nil
	})
	var dep appsv1.Deployment
	if err := get(&dep, ns, "mcp-idle"); err != nil {
		t.Fatal(err)
	}
	// Touch an owned object in a way that triggers a reconcile but changes nothing the operator owns.
	dep.Annotations = map[string]string{"example.com/touched": "yes"}
	if err := k8sClient.Update(ctx, &dep, client.FieldOwner("someone-else")); err != nil {
		t.Fatal(err)
	}
	serverRV, depRV := s.ResourceVersion, dep.ResourceVersion
	consistently(t, "no writes in steady state", 2e9, func() error {
		var now toolmeshv1alpha1.MCPServer
		var d appsv1.Deployment
		if err := get(&now, ns, "idle"); err != nil {
			return err
		}
		if err := get(&d, ns, "mcp-idle"); err != nil {
			return err
		}
		if now.ResourceVersion != serverRV {
			return fmt.Errorf("server written: %s -> %s", serverRV, now.ResourceVersion)
		}
		if d.ResourceVersion != depRV {
			return fmt.Errorf("deployment written: %s -> %s", depRV, d.ResourceVersion)
		}
		return nil
	})
}

// newToolServer starts a real MCP server over streamable HTTP on loopback with the named tools.
// When header is set, requests without it are refused.
func newToolServer(t *testing.T, header string, tools ...string) *httptest.Server {
	t.Helper()
	server := mcp.NewServer(&mcp.Implementation{Name: "tool-server", Version: "1.2.3"}, nil)
	type in struct {
		Q string `json:"q" jsonschema:"the query"`
	}
	for _, name := range tools {
		mcp.AddTool(server, &mcp.Tool{Name: name, Description: "Tool " + name, Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
			func(context.Context, *mcp.CallToolRequest, in) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if header != "" && r.Header.Get("X-Api-Key") != header {
			http.Error(w, "missing key", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func findCondition(conds []metav1.Condition, typ string) metav1.Condition {
	for _, c := range conds {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}
