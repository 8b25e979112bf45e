package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

func TestRemoteServerDiscoversToolsWithSecretHeaders(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	ts := newToolServer(t, "k3y", "search", "fetch")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "remote-key"}, StringData: map[string]string{"key": "k3y"}}
	if err := k8sClient.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	srv := newServer(ns, "remote", toolmeshv1alpha1.MCPServerSpec{
		Remote: &toolmeshv1alpha1.RemoteServer{URL: ts.URL, Headers: []toolmeshv1alpha1.RemoteHeader{
			{Name: "X-Api-Key", ValueFrom: toolmeshv1alpha1.SecretKeyReference{Name: "remote-key", Key: "key"}}}},
		Discovery: &toolmeshv1alpha1.DiscoverySpec{ExpectedTools: []string{"fetch", "search"}},
	})
	if err := k8sClient.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}
	eventually(t, "tools discovered and ready", func() error {
		var s toolmeshv1alpha1.MCPServer
		if err := get(&s, ns, "remote"); err != nil {
			return err
		}
		if s.Status.URL != ts.URL || s.Status.ToolCount != 2 || s.Status.Tools[0].Name != "fetch" {
			return fmt.Errorf("url %s, tools %+v", s.Status.URL, s.Status.Tools)
		}
		if s.Status.ServerInfo == nil || s.Status.ServerInfo.Name != "tool-server" || s.Status.ServerInfo.Version != "1.2.3" {
			return fmt.Errorf("serverInfo %+v", s.Status.ServerInfo)
		}
		if s.Status.Tools[1].InputSchemaHash == "" || !*s.Status.Tools[1].Annotations.ReadOnly {
			return fmt.Errorf("tool %+v", s.Status.Tools[1])
		}
		for _, c := range []struct{ typ, reason string }{
			{"Available", "RemoteServer"}, {"ToolsDiscovered", "Discovered"}, {"ToolsPinned", "ToolsMatch"}, {"Ready", "Available"},
		} {
			if err := conditionIs(s.Status.Conditions, c.typ, metav1.ConditionTrue, c.reason); err != nil {
				return err
			}
		}
		return nil
	})
	if err := get(&appsv1.Deployment{}, ns, "mcp-remote"); !apierrors.IsNotFound(err) {
		t.Fatalf("a remote server has no Deployment: %v", err)
	}

	// Pin a tool the server does not have: the server stops being Ready, with a precise message.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := get(srv, ns, "remote"); err != nil {
			return err
		}
		srv.Spec.Discovery.ExpectedTools = []string{"search", "delete"}
		return k8sClient.Update(ctx, srv)
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "pin mismatch reported", func() error {
		var s toolmeshv1alpha1.MCPServer
		if err := get(&s, ns, "remote"); err != nil {
			return err
		}
		if err := conditionIs(s.Status.Conditions, "Ready", metav1.ConditionFalse, "ToolsMismatch"); err != nil {
			return err
		}
		want := "The live tools differ from spec.discovery.expectedTools (missing: delete; unexpected: fetch)."
		if msg := findCondition(s.Status.Conditions, "ToolsPinned").Message; msg != want {
			return fmt.Errorf("message %q", msg)
		}
		return nil
	})
}

func TestRemoteServerDiscoveryFailureIsReported(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	ts := newToolServer(t, "right-key", "search")
	srv := newServer(ns, "refused", toolmeshv1alpha1.MCPServerSpec{Remote: &toolmeshv1alpha1.RemoteServer{URL: ts.URL}})
	if err := k8sClient.Create(ctx, srv); err != nil {
		t.Fatal(err)
	}
	eventually(t, "discovery failure reported", func() error {
		var s toolmeshv1alpha1.MCPServer
		if err := get(&s, ns, "refused"); err != nil {
			return err
		}
		return conditionIs(s.Status.Conditions, "ToolsDiscovered", metav1.ConditionFalse, "DiscoveryFailed")
	})
}

func TestClusterServerRunsInTargetNamespaceAndCleansUp(t *testing.T) {
	ctx := context.Background()
	target := newNamespace(t)
	cs := &toolmeshv1alpha1.ClusterMCPServer{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu-" + target},
		Spec:       toolmeshv1alpha1.MCPServerSpec{Image: "example.local/gpu:v1", TargetNamespace: target},
	}
	if err := k8sClient.Create(ctx, cs); err != nil {
		t.Fatal(err)
	}
	name := "cmcp-" + cs.Name
	var dep appsv1.Deployment
	eventually(t, "Deployment in the target namespace", func() error { return get(&dep, target, name) })
	if len(dep.OwnerReferences) != 0 {
		t.Errorf("want label-based ownership, got owner references %+v", dep.OwnerReferences)
	}
	if dep.Labels[LabelServerKind] != "ClusterMCPServer" || dep.Labels[LabelServerName] != cs.Name {
		t.Errorf("labels %v", dep.Labels)
	}
	eventually(t, "status url", func() error {
		var s toolmeshv1alpha1.ClusterMCPServer
		if err := get(&s, "", cs.Name); err != nil {
			return err
		}
		if want := fmt.Sprintf("http://%s.%s.svc.cluster.local:8080/mcp", name, target); s.Status.URL != want {
			return fmt.Errorf("url %q, want %q", s.Status.URL, want)
		}
		return nil
	})

	// Move it: the old namespace is emptied.
	moved := newNamespace(t)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := get(cs, "", cs.Name); err != nil {
			return err
		}
		cs.Spec.TargetNamespace = moved
		return k8sClient.Update(ctx, cs)
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "moved", func() error { return get(&dep, moved, name) })
	eventually(t, "old namespace emptied", func() error { return gone(target, name) })

	// Delete it: the finalizer removes the workload.
	if err := k8sClient.Delete(ctx, cs); err != nil {
		t.Fatal(err)
	}
	eventually(t, "workload removed", func() error { return gone(moved, name) })
	eventually(t, "server gone", func() error {
		if err := get(&toolmeshv1alpha1.ClusterMCPServer{}, "", cs.Name); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %w", err)
		}
		return nil
	})
}

func TestClusterServerDefaultsToOperatorNamespaceAndReportsMissingTarget(t *testing.T) {
	ctx := context.Background()
	def := &toolmeshv1alpha1.ClusterMCPServer{ObjectMeta: metav1.ObjectMeta{Name: "defaulted"}, Spec: toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1"}}
	if err := k8sClient.Create(ctx, def); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Deployment in the operator namespace", func() error { return get(&appsv1.Deployment{}, operatorNamespace, "cmcp-defaulted") })

	missing := &toolmeshv1alpha1.ClusterMCPServer{ObjectMeta: metav1.ObjectMeta{Name: "nowhere"},
		Spec: toolmeshv1alpha1.MCPServerSpec{Image: "example.local/s:v1", TargetNamespace: "does-not-exist"}}
	if err := k8sClient.Create(ctx, missing); err != nil {
		t.Fatal(err)
	}
	eventually(t, "NamespaceNotFound reported", func() error {
		var s toolmeshv1alpha1.ClusterMCPServer
		if err := get(&s, "", "nowhere"); err != nil {
			return err
		}
		return conditionIs(s.Status.Conditions, "Ready", metav1.ConditionFalse, "NamespaceNotFound")
	})
}

// gone returns nil once no object of the server's workload is left in namespace.
func gone(namespace, name string) error {
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}} {
		if err := get(obj, namespace, name); !apierrors.IsNotFound(err) {
			return fmt.Errorf("%T %s/%s still there (%w)", obj, namespace, name, err)
		}
	}
	return nil
}

type eventsList struct{ eventsv1.EventList }

// find returns nil when an Event with reason regards the named object.
func (l *eventsList) find(ctx context.Context, namespace, name, reason string) error {
	if err := k8sClient.List(ctx, &l.EventList, client.InNamespace(namespace)); err != nil {
		return err
	}
	for _, e := range l.Items {
		if e.Regarding.Name == name && e.Reason == reason {
			return nil
		}
	}
	return errors.New("no such event")
}
