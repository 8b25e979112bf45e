package ops

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Nodes cordons and drains nodes.
type Nodes struct {
	// Client talks to the API server; it needs patch on nodes and create on pods/eviction.
	Client kubernetes.Interface
}

// Cordon marks a node unschedulable. It reports whether the node was schedulable before.
func (n *Nodes) Cordon(ctx context.Context, node string) (bool, error) {
	cur, err := n.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("get node %s: %w", node, err)
	}
	if cur.Spec.Unschedulable {
		return false, nil
	}
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	if _, err := n.Client.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "toolmesh-gpu-mcp-server"}); err != nil {
		return false, fmt.Errorf("cordon node %s: %w", node, err)
	}
	return true, nil
}

// Eviction is the outcome for one pod of a drain.
type Eviction struct {
	// Namespace is the pod's namespace.
	Namespace string `json:"namespace" jsonschema:"pod namespace"`
	// Name is the pod's name.
	Name string `json:"name" jsonschema:"pod name"`
	// Result is evicted, blocked (a PodDisruptionBudget refused it), skipped or failed.
	Result string `json:"result" jsonschema:"evicted, blocked, skipped or failed"`
	// Message explains the result.
	Message string `json:"message,omitempty" jsonschema:"why"`
}

// Drain cordons a node and asks the eviction API to evict its pods, honouring
// PodDisruptionBudgets; DaemonSet pods and static (mirror) pods are skipped. With gpuOnly, only
// pods requesting NVIDIA GPU resources are evicted.
func (n *Nodes) Drain(ctx context.Context, node string, gpuOnly bool) ([]Eviction, error) {
	if _, err := n.Cordon(ctx, node); err != nil {
		return nil, err
	}
	pods, err := n.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return nil, fmt.Errorf("list pods on %s: %w", node, err)
	}
	out := []Eviction{}
	for i := range pods.Items {
		p := &pods.Items[i]
		e := Eviction{Namespace: p.Namespace, Name: p.Name}
		switch reason := skip(p, gpuOnly); {
		case reason != "":
			e.Result, e.Message = "skipped", reason
		default:
			e.Result, e.Message = n.evict(ctx, p)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out, nil
}

func (n *Nodes) evict(ctx context.Context, p *corev1.Pod) (string, string) {
	ev := &policyv1.Eviction{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"},
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
	}
	// The API server answers a budget that forbids the eviction with 429 and Retry-After; the
	// typed client would silently retry ten times. Ask once and report the refusal instead.
	err := n.Client.CoreV1().RESTClient().Post().
		Namespace(p.Namespace).Resource("pods").Name(p.Name).SubResource("eviction").
		Body(ev).MaxRetries(0).Do(ctx).Error()
	switch {
	case err == nil:
		return "evicted", ""
	case apierrors.IsTooManyRequests(err):
		return "blocked", "a PodDisruptionBudget does not allow this eviction now"
	case apierrors.IsNotFound(err):
		return "evicted", "already gone"
	default:
		return "failed", err.Error()
	}
}

func skip(p *corev1.Pod, gpuOnly bool) string {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return "pod already terminated"
	}
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return "static pod"
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return "DaemonSet pod"
		}
	}
	if gpuOnly && !requestsGPU(p) {
		return "does not use NVIDIA GPUs"
	}
	return ""
}

func requestsGPU(p *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
			for k := range l {
				if len(k) > 11 && k[:11] == "nvidia.com/" {
					return true
				}
			}
		}
	}
	return false
}
