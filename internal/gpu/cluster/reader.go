package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/toolmesh/toolmesh/internal/redact"
)

// ErrNotFound is returned for a node or namespace that does not exist.
var ErrNotFound = errors.New("not found")

// Reader answers GPU questions with get and list calls only.
type Reader struct {
	// Client talks to the API server.
	Client kubernetes.Interface
}

// IsGPUResource reports whether a resource name is an NVIDIA GPU resource.
func IsGPUResource(name string) bool {
	return name == ResourceGPU || name == ResourceGPUMem || name == ResourceGPUCores || strings.HasPrefix(name, MIGResourcePrefix)
}

func isGPUNode(n *corev1.Node) bool {
	if n.Labels[LabelGPUPresent] == "true" || n.Annotations[AnnotationHAMiReg] != "" {
		return true
	}
	for r := range n.Status.Capacity {
		if IsGPUResource(string(r)) {
			return true
		}
	}
	return false
}

// ListGPUNodes returns every node with NVIDIA GPUs.
func (r *Reader) ListGPUNodes(ctx context.Context) ([]GPUNode, error) {
	nodes, err := r.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := r.activePods(ctx, "")
	if err != nil {
		return nil, err
	}
	out := []GPUNode{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if isGPUNode(n) {
			out = append(out, summarize(n, allocated(pods, n.Name)))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GPUNodeNames returns the names of nodes with NVIDIA GPUs.
func (r *Reader) GPUNodeNames(ctx context.Context) ([]string, error) {
	nodes, err := r.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	var out []string
	for i := range nodes.Items {
		if isGPUNode(&nodes.Items[i]) {
			out = append(out, nodes.Items[i].Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (r *Reader) activePods(ctx context.Context, node string) ([]corev1.Pod, error) {
	sel := fields.AndSelectors(
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
	)
	if node != "" {
		sel = fields.AndSelectors(sel, fields.OneTermEqualSelector("spec.nodeName", node))
	}
	pods, err := r.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return pods.Items, nil
}

// podRequests returns a pod's effective requests as the scheduler counts them: the larger of
// (app containers + sidecars) and, for each regular init container, its request plus the
// sidecars started before it.
func podRequests(p *corev1.Pod) corev1.ResourceList {
	sum := func(dst corev1.ResourceList, src corev1.ResourceList) {
		for k, v := range src {
			q := dst[k]
			q.Add(v)
			dst[k] = q
		}
	}
	out := corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		sum(out, c.Resources.Requests)
	}
	sidecars := corev1.ResourceList{}
	initPeak := corev1.ResourceList{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum(sidecars, c.Resources.Requests)
			continue
		}
		need := sidecars.DeepCopy()
		sum(need, c.Resources.Requests)
		for k, v := range need {
			if q, ok := initPeak[k]; !ok || v.Cmp(q) > 0 {
				initPeak[k] = v
			}
		}
	}
	sum(out, sidecars)
	for k, v := range initPeak {
		if q, ok := out[k]; !ok || v.Cmp(q) > 0 {
			out[k] = v
		}
	}
	return out
}

func allocated(pods []corev1.Pod, node string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := range pods {
		if pods[i].Spec.NodeName != node {
			continue
		}
		for k, v := range podRequests(&pods[i]) {
			if !IsGPUResource(string(k)) {
				continue
			}
			q := out[k]
			q.Add(v)
			out[k] = q
		}
	}
	return out
}

func summarize(n *corev1.Node, alloc corev1.ResourceList) GPUNode {
	g := GPUNode{
		Name: n.Name, Product: n.Labels[LabelGPUProduct], MemoryMiB: n.Labels[LabelGPUMemory],
		Count: n.Labels[LabelGPUCount], Family: n.Labels[LabelGPUFamily], MIGStrategy: n.Labels[LabelMIGStrategy],
		Resources: map[string]Amounts{}, Conditions: []Condition{}, Taints: []string{}, Unschedulable: n.Spec.Unschedulable,
	}
	names := map[corev1.ResourceName]bool{}
	for _, l := range []corev1.ResourceList{n.Status.Capacity, n.Status.Allocatable, alloc} {
		for k := range l {
			if IsGPUResource(string(k)) {
				names[k] = true
			}
		}
	}
	for k := range names {
		g.Resources[string(k)] = Amounts{Capacity: qty(n.Status.Capacity, k), Allocatable: qty(n.Status.Allocatable, k), Allocated: qty(alloc, k)}
	}
	for _, c := range n.Status.Conditions {
		g.Conditions = append(g.Conditions, Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason})
	}
	for _, t := range n.Spec.Taints {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		g.Taints = append(g.Taints, s+":"+string(t.Effect))
	}
	return g
}

func qty(l corev1.ResourceList, k corev1.ResourceName) string {
	if q, ok := l[k]; ok {
		return q.String()
	}
	return "0"
}

// ListGPUPods returns pods requesting GPU resources, optionally in one namespace or on one node.
func (r *Reader) ListGPUPods(ctx context.Context, namespace, node string) ([]GPUPod, error) {
	opts := metav1.ListOptions{}
	if node != "" {
		opts.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
	}
	pods, err := r.Client.CoreV1().Pods(namespace).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	out := []GPUPod{}
	for i := range pods.Items {
		if p, ok := gpuPod(&pods.Items[i]); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func gpuPod(raw *corev1.Pod) (GPUPod, bool) {
	p := redact.Pod(raw)
	out := GPUPod{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Node: p.Spec.NodeName, Phase: string(p.Status.Phase), Containers: []ContainerGPU{}}
	var hami [][]HAMiDevice
	if a := raw.Annotations[AnnotationHAMiUsed]; a != "" {
		var err error
		if hami, err = ParseHAMiAllocation(a); err != nil {
			out.HAMiError = err.Error()
		}
	}
	add := func(kind string, idx int, c corev1.Container) {
		cg := ContainerGPU{Name: c.Name, Kind: kind, Requests: gpuResources(c.Resources.Requests), Limits: gpuResources(c.Resources.Limits)}
		if kind == "container" && idx < len(hami) {
			cg.HAMi = hami[idx]
		}
		if len(cg.Requests) == 0 && len(cg.Limits) == 0 && len(cg.HAMi) == 0 {
			return
		}
		for _, e := range c.Env {
			cg.Env = append(cg.Env, EnvVar{Name: e.Name, Value: e.Value})
		}
		out.Containers = append(out.Containers, cg)
	}
	for i, c := range p.Spec.InitContainers {
		add("init", i, c)
	}
	for i, c := range p.Spec.Containers {
		add("container", i, c)
	}
	for i, c := range p.Spec.EphemeralContainers {
		add("ephemeral", i, corev1.Container(c.EphemeralContainerCommon))
	}
	return out, len(out.Containers) > 0 || out.HAMiError != ""
}

func gpuResources(l corev1.ResourceList) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if IsGPUResource(string(k)) {
			out[string(k)] = v.String()
		}
	}
	return out
}

// ParseHAMiAllocation parses hami.io/vgpu-devices-allocated: devices "UUID,Type,Usedmem,Usedcores"
// joined by ':' within a container, containers joined by ';'.
func ParseHAMiAllocation(s string) ([][]HAMiDevice, error) {
	var out [][]HAMiDevice
	for _, container := range strings.Split(strings.TrimSuffix(s, ";"), ";") {
		devs := []HAMiDevice{}
		for _, dev := range strings.Split(container, ":") {
			if dev == "" {
				continue
			}
			f := strings.Split(dev, ",")
			if len(f) != 4 {
				return nil, fmt.Errorf("malformed %s device %q: want UUID,Type,Usedmem,Usedcores", AnnotationHAMiUsed, dev)
			}
			mem, err := strconv.Atoi(f[2])
			if err != nil {
				return nil, fmt.Errorf("malformed %s memory %q: %w", AnnotationHAMiUsed, f[2], err)
			}
			cores, err := strconv.Atoi(f[3])
			if err != nil {
				return nil, fmt.Errorf("malformed %s cores %q: %w", AnnotationHAMiUsed, f[3], err)
			}
			devs = append(devs, HAMiDevice{UUID: f[0], Type: f[1], UsedMemMiB: mem, UsedCores: cores})
		}
		out = append(out, devs)
	}
	return out, nil
}

// QuotaUsage returns the GPU resources of ResourceQuotas, optionally in one namespace. A
// resource the quota does not limit is reported as not limited, never as zero.
func (r *Reader) QuotaUsage(ctx context.Context, namespace string) ([]Quota, error) {
	if namespace != "" {
		if _, err := r.Client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("namespace %q: %w", namespace, ErrNotFound)
			}
			return nil, fmt.Errorf("get namespace %s: %w", namespace, err)
		}
	}
	qs, err := r.Client.CoreV1().ResourceQuotas(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list resource quotas: %w", err)
	}
	out := []Quota{}
	for _, q := range qs.Items {
		keys := map[corev1.ResourceName]bool{}
		for k := range q.Spec.Hard {
			keys[k] = true
		}
		for k := range q.Status.Used {
			keys[k] = true
		}
		res := []QuotaResource{}
		for k := range keys {
			if !strings.Contains(string(k), "nvidia.com/") {
				continue
			}
			qr := QuotaResource{Resource: string(k), Used: "0"}
			if h, ok := q.Spec.Hard[k]; ok {
				qr.Limited, qr.Hard = true, h.String()
			}
			if u, ok := q.Status.Used[k]; ok {
				qr.Used = u.String()
			}
			res = append(res, qr)
		}
		if len(res) == 0 {
			continue
		}
		sort.Slice(res, func(i, j int) bool { return res[i].Resource < res[j].Resource })
		out = append(out, Quota{Namespace: q.Namespace, Name: q.Name, Resources: res})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out, nil
}

// DescribeNode returns a GPU node with its GPU pods and HAMi registration.
func (r *Reader) DescribeNode(ctx context.Context, name string) (NodeDetail, error) {
	n, err := r.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return NodeDetail{}, fmt.Errorf("node %q: %w", name, ErrNotFound)
		}
		return NodeDetail{}, fmt.Errorf("get node %s: %w", name, err)
	}
	if !isGPUNode(n) {
		return NodeDetail{}, fmt.Errorf("node %q has no NVIDIA GPUs (no %s label, GPU resources or HAMi registration)", name, LabelGPUPresent)
	}
	active, err := r.activePods(ctx, name)
	if err != nil {
		return NodeDetail{}, err
	}
	d := NodeDetail{Node: summarize(n, allocated(active, name)), Labels: n.Labels, Annotations: redact.Map(n.Annotations), Pods: []GPUPod{}}
	if d.Pods, err = r.ListGPUPods(ctx, "", name); err != nil {
		return NodeDetail{}, err
	}
	if reg := n.Annotations[AnnotationHAMiReg]; reg != "" {
		if err := json.Unmarshal([]byte(reg), &d.HAMiDevices); err != nil {
			d.HAMiError = fmt.Sprintf("malformed %s: want a JSON array of devices: %v", AnnotationHAMiReg, err)
			d.HAMiDevices = nil
		}
	}
	return d, nil
}

// PodsByUID indexes the pods on a node by UID, for naming the owners of GPU processes.
func (r *Reader) PodsByUID(ctx context.Context, node string) (map[string]*corev1.Pod, error) {
	pods, err := r.activePods(ctx, node)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*corev1.Pod, len(pods))
	for i := range pods {
		out[string(pods[i].UID)] = &pods[i]
	}
	return out, nil
}
