package gpumcp

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// No disruption controller runs in envtest, so the budget never allows a disruption: the
// eviction API answers 429 and the drain must report the pod as blocked, not evicted.
func TestDrainHonoursPodDisruptionBudgets(t *testing.T) {
	ctx := context.Background()
	createNode(ctx, "h100-pdb", map[string]string{"nvidia.com/gpu.present": "true"}, nil, corev1.ResourceList{"nvidia.com/gpu": q("8")}, nil)
	createPod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: "empty-team", Labels: map[string]string{"app": "guarded"}},
		Spec:       corev1.PodSpec{NodeName: "h100-pdb", Containers: []corev1.Container{gpuContainer("main", corev1.ResourceList{"nvidia.com/gpu": q("8")})}},
	}, nil)
	t.Cleanup(func() {
		zero := int64(0)
		_ = clientset.CoreV1().Pods("empty-team").Delete(ctx, "guarded", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		_ = clientset.PolicyV1().PodDisruptionBudgets("empty-team").Delete(ctx, "guarded", metav1.DeleteOptions{})
		_ = clientset.CoreV1().Nodes().Delete(ctx, "h100-pdb", metav1.DeleteOptions{})
	})
	minAvailable := intstr.FromInt32(1)
	if _, err := clientset.PolicyV1().PodDisruptionBudgets("empty-team").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: "empty-team"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, errText := call[ActionOutput](t, connect(t, operatorOptions()), "drain_gpu_node", map[string]any{"node": "h100-pdb", "confirm": true, "reason": "replace the GPU tray"})
	if errText != "" {
		t.Fatal(errText)
	}
	if out.Done || len(out.Evictions) != 1 || out.Evictions[0].Result != "blocked" {
		t.Fatalf("drain = %+v", out)
	}
	if _, err := clientset.CoreV1().Pods("empty-team").Get(ctx, "guarded", metav1.GetOptions{}); err != nil {
		t.Fatalf("the guarded pod is gone: %v", err)
	}
}
