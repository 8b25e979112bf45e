package controller

import (
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	"k8s.io/utils/ptr"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

// Labels the operator puts on every object it renders for a server.
const (
	LabelManagedBy    = "app.kubernetes.io/managed-by"
	LabelName         = "app.kubernetes.io/name"
	LabelInstance     = "app.kubernetes.io/instance"
	LabelComponent    = "app.kubernetes.io/component"
	LabelPartOf       = "app.kubernetes.io/part-of"
	LabelServerKind   = "toolmesh.io/server-kind"
	LabelServerName   = "toolmesh.io/server"
	LabelMCPClient    = "toolmesh.io/mcp-client"
	ManagedByOperator = "toolmesh-operator"
)

const (
	mcpPortName     = "mcp"
	bridgeDir       = "/toolmesh/bin"
	bridgeBinary    = bridgeDir + "/stdio-bridge"
	tmpVolume       = "tmp"
	bridgeVolume    = "toolmesh-bin"
	defaultUID      = int64(65532)
	serverContainer = "server"
)

// serverInput is everything the pure builders need to render a server's objects.
type serverInput struct {
	// Kind is MCPServer or ClusterMCPServer.
	Kind string
	// Name is the server object's name.
	Name string
	// Namespace is where the workload runs.
	Namespace string
	// Spec is the server's spec.
	Spec *toolmeshv1alpha1.MCPServerSpec
	// Owner is the controller reference for namespaced servers, nil for cluster servers.
	Owner *metav1ac.OwnerReferenceApplyConfiguration
	// BridgeImage is the image that holds the static stdio-bridge binary.
	BridgeImage string
}

// workloadName is the name of a server's Deployment, Service and ServiceAccount.
func workloadName(kind, name string) string {
	if kind == "ClusterMCPServer" {
		return "cmcp-" + name
	}
	return "mcp-" + name
}

// selectorLabels select a server's pods. They never change for the life of the server.
func selectorLabels(in serverInput) map[string]string {
	return map[string]string{
		LabelInstance:   workloadName(in.Kind, in.Name),
		LabelServerKind: in.Kind,
		LabelServerName: in.Name,
	}
}

// objectLabels are the labels of every object rendered for a server.
func objectLabels(in serverInput) map[string]string {
	l := selectorLabels(in)
	l[LabelName] = "mcp-server"
	l[LabelComponent] = "mcp-server"
	l[LabelPartOf] = "toolmesh"
	l[LabelManagedBy] = ManagedByOperator
	return l
}

// serverURL is the in-cluster MCP endpoint of a server.
func serverURL(in serverInput) string {
	if in.Spec.Remote != nil {
		return in.Spec.Remote.URL
	}
	t := in.Spec.Transport
	return fmt.Sprintf("http://%s.%s.svc.cluster.local:%d%s", workloadName(in.Kind, in.Name), in.Namespace, t.Port, t.Path)
}

func ownedMeta(in serverInput) *metav1ac.ObjectMetaApplyConfiguration {
	m := metav1ac.ObjectMeta().WithName(workloadName(in.Kind, in.Name)).WithNamespace(in.Namespace).WithLabels(objectLabels(in))
	if in.Owner != nil {
		m.WithOwnerReferences(in.Owner)
	}
	return m
}

// buildServiceAccount renders the ServiceAccount a server's pods run as, or nil when the spec
// names an existing one.
func buildServiceAccount(in serverInput) *corev1ac.ServiceAccountApplyConfiguration {
	if in.Spec.Deployment != nil && in.Spec.Deployment.ServiceAccountName != "" {
		return nil
	}
	sa := corev1ac.ServiceAccount(workloadName(in.Kind, in.Name), in.Namespace).WithAutomountServiceAccountToken(false)
	sa.ObjectMetaApplyConfiguration = ownedMeta(in)
	return sa
}

// buildService renders the ClusterIP Service in front of a server's pods.
func buildService(in serverInput) *corev1ac.ServiceApplyConfiguration {
	svc := corev1ac.Service(workloadName(in.Kind, in.Name), in.Namespace)
	svc.ObjectMetaApplyConfiguration = ownedMeta(in)
	return svc.WithSpec(corev1ac.ServiceSpec().
		WithType(corev1.ServiceTypeClusterIP).
		WithSelector(selectorLabels(in)).
		WithPorts(corev1ac.ServicePort().
			WithName(mcpPortName).
			WithProtocol(corev1.ProtocolTCP).
			WithAppProtocol("http").
			WithPort(in.Spec.Transport.Port).
			WithTargetPort(intstr.FromString(mcpPortName))))
}

// buildDeployment renders a server's Deployment. Its pods meet the Pod Security "restricted"
// profile unless the spec overrides the security context.
func buildDeployment(in serverInput) *appsv1ac.DeploymentApplyConfiguration {
	w := in.Spec.Deployment
	if w == nil {
		w = &toolmeshv1alpha1.WorkloadSpec{}
	}
	dep := appsv1ac.Deployment(workloadName(in.Kind, in.Name), in.Namespace)
	dep.ObjectMetaApplyConfiguration = ownedMeta(in)
	return dep.WithSpec(appsv1ac.DeploymentSpec().
		WithReplicas(ptr.Deref(w.Replicas, 1)).
		WithRevisionHistoryLimit(3).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(in))).
		WithTemplate(buildPodTemplate(in, w)))
}

func buildPodTemplate(in serverInput, w *toolmeshv1alpha1.WorkloadSpec) *corev1ac.PodTemplateSpecApplyConfiguration {
	labels := maps.Clone(w.PodLabels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, objectLabels(in))

	sa := workloadName(in.Kind, in.Name)
	automount := false
	if w.ServiceAccountName != "" {
		sa, automount = w.ServiceAccountName, true
	}

	pod := corev1ac.PodSpec().
		WithServiceAccountName(sa).
		WithAutomountServiceAccountToken(automount).
		WithEnableServiceLinks(false).
		WithSecurityContext(podSecurityContext(w.PodSecurityContext)).
		WithContainers(serverContainerSpec(in, w)).
		WithVolumes(corev1ac.Volume().WithName(tmpVolume).
			WithEmptyDir(corev1ac.EmptyDirVolumeSource().WithSizeLimit(resource.MustParse("256Mi"))))
	for i, t := range w.ProjectedTokens {
		pod.WithVolumes(corev1ac.Volume().WithName(projectedTokenVolume(i)).
			WithProjected(corev1ac.ProjectedVolumeSource().WithSources(corev1ac.VolumeProjection().
				WithServiceAccountToken(corev1ac.ServiceAccountTokenProjection().
					WithAudience(t.Audience).
					WithExpirationSeconds(ptr.Deref(t.ExpirationSeconds, 3600)).
					WithPath("token")))))
	}
	if in.Spec.Transport.Type == toolmeshv1alpha1.TransportStdio {
		pod.WithInitContainers(bridgeInstallContainer(in)).
			WithVolumes(corev1ac.Volume().WithName(bridgeVolume).
				WithEmptyDir(corev1ac.EmptyDirVolumeSource().WithSizeLimit(resource.MustParse("64Mi"))))
	}
	if len(w.NodeSelector) > 0 {
		pod.WithNodeSelector(w.NodeSelector)
	}
	for i := range w.Tolerations {
		pod.WithTolerations(tolerationAC(w.Tolerations[i]))
	}
	if w.Affinity != nil {
		pod.WithAffinity(convert[corev1ac.AffinityApplyConfiguration](w.Affinity))
	}
	for _, s := range w.ImagePullSecrets {
		pod.WithImagePullSecrets(corev1ac.LocalObjectReference().WithName(s.Name))
	}

	tpl := corev1ac.PodTemplateSpec().
		WithLabels(labels).
		WithSpec(pod)
	if len(w.PodAnnotations) > 0 {
		tpl.WithAnnotations(w.PodAnnotations)
	}
	return tpl
}

// serverContainerSpec renders the container that serves MCP on the transport port.
func serverContainerSpec(in serverInput, w *toolmeshv1alpha1.WorkloadSpec) *corev1ac.ContainerApplyConfiguration {
	t := in.Spec.Transport
	c := corev1ac.Container().
		WithName(serverContainer).
		WithImage(in.Spec.Image).
		WithPorts(corev1ac.ContainerPort().WithName(mcpPortName).WithContainerPort(t.Port).WithProtocol(corev1.ProtocolTCP)).
		WithSecurityContext(containerSecurityContext(w.SecurityContext)).
		WithVolumeMounts(corev1ac.VolumeMount().WithName(tmpVolume).WithMountPath("/tmp")).
		WithReadinessProbe(corev1ac.Probe().
			WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromString(mcpPortName))).
			WithPeriodSeconds(5).WithFailureThreshold(3)).
		WithResources(resourcesAC(w.Resources))

	if t.Type == toolmeshv1alpha1.TransportStdio {
		c.WithCommand(bridgeBinary).WithArgs(bridgeArgs(in)...).
			WithVolumeMounts(corev1ac.VolumeMount().WithName(bridgeVolume).WithMountPath(bridgeDir).WithReadOnly(true))
	} else {
		if len(in.Spec.Command) > 0 {
			c.WithCommand(in.Spec.Command...)
		}
		if len(in.Spec.Args) > 0 {
			c.WithArgs(in.Spec.Args...)
		}
	}
	for i, t := range w.ProjectedTokens {
		c.WithVolumeMounts(corev1ac.VolumeMount().WithName(projectedTokenVolume(i)).WithMountPath(t.MountPath).WithReadOnly(true))
	}
	for i := range in.Spec.Env {
		c.WithEnv(convert[corev1ac.EnvVarApplyConfiguration](&in.Spec.Env[i]))
	}
	for i := range in.Spec.EnvFrom {
		c.WithEnvFrom(convert[corev1ac.EnvFromSourceApplyConfiguration](&in.Spec.EnvFrom[i]))
	}
	return c
}

func projectedTokenVolume(i int) string { return "projected-token-" + strconv.Itoa(i) }

// bridgeArgs are stdio-bridge's arguments: its listener, then the server's command after "--".
func bridgeArgs(in serverInput) []string {
	t := in.Spec.Transport
	maxSessions, idle := int32(16), "10m0s"
	if t.Stdio != nil {
		if t.Stdio.MaxSessions > 0 {
			maxSessions = t.Stdio.MaxSessions
		}
		if t.Stdio.IdleTimeout != nil {
			idle = t.Stdio.IdleTimeout.Duration.String()
		}
	}
	args := []string{
		"--listen=:" + strconv.Itoa(int(t.Port)),
		"--path=" + t.Path,
		"--max-sessions=" + strconv.Itoa(int(maxSessions)),
		"--idle-timeout=" + idle,
		"--",
	}
	args = append(args, in.Spec.Command...)
	return append(args, in.Spec.Args...)
}

// bridgeInstallContainer copies the static stdio-bridge binary into the shared emptyDir.
func bridgeInstallContainer(in serverInput) *corev1ac.ContainerApplyConfiguration {
	return corev1ac.Container().
		WithName("install-stdio-bridge").
		WithImage(in.BridgeImage).
		WithCommand("/stdio-bridge", "install", bridgeBinary).
		WithSecurityContext(containerSecurityContext(nil)).
		WithVolumeMounts(corev1ac.VolumeMount().WithName(bridgeVolume).WithMountPath(bridgeDir)).
		WithResources(corev1ac.ResourceRequirements().
			WithRequests(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}).
			WithLimits(corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}))
}

// podSecurityContext is the restricted default, with the spec's overrides applied field by field.
func podSecurityContext(override *corev1.PodSecurityContext) *corev1ac.PodSecurityContextApplyConfiguration {
	sc := corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(defaultUID),
		RunAsGroup:     ptr.To(defaultUID),
		FSGroup:        ptr.To(defaultUID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if override != nil {
		mergeJSON(&sc, override)
	}
	return convert[corev1ac.PodSecurityContextApplyConfiguration](&sc)
}

// containerSecurityContext is the restricted default plus a read-only root filesystem, with the
// spec's overrides applied field by field.
func containerSecurityContext(override *corev1.SecurityContext) *corev1ac.SecurityContextApplyConfiguration {
	sc := corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if override != nil {
		mergeJSON(&sc, override)
	}
	return convert[corev1ac.SecurityContextApplyConfiguration](&sc)
}

// resourcesAC returns the spec's resources, or modest defaults with a memory limit.
func resourcesAC(r *corev1.ResourceRequirements) *corev1ac.ResourceRequirementsApplyConfiguration {
	if r == nil {
		r = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
	}
	return convert[corev1ac.ResourceRequirementsApplyConfiguration](r)
}

func tolerationAC(t corev1.Toleration) *corev1ac.TolerationApplyConfiguration {
	return convert[corev1ac.TolerationApplyConfiguration](&t)
}

// buildNetworkPolicy renders the NetworkPolicy of a server with spec.network, or nil without it.
// Ingress: only Toolmesh gateway and operator pods, only on the MCP port. Egress: DNS plus the
// listed destinations.
func buildNetworkPolicy(in serverInput) *networkingv1ac.NetworkPolicyApplyConfiguration {
	if in.Spec.Network == nil || in.Spec.Remote != nil {
		return nil
	}
	np := networkingv1ac.NetworkPolicy(workloadName(in.Kind, in.Name), in.Namespace)
	np.ObjectMetaApplyConfiguration = ownedMeta(in)

	spec := networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(in))).
		WithPolicyTypes(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress).
		WithIngress(networkingv1ac.NetworkPolicyIngressRule().
			WithFrom(networkingv1ac.NetworkPolicyPeer().
				WithNamespaceSelector(metav1ac.LabelSelector()).
				WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{LabelMCPClient: "true"}))).
			WithPorts(networkingv1ac.NetworkPolicyPort().
				WithProtocol(corev1.ProtocolTCP).
				WithPort(intstr.FromInt32(in.Spec.Transport.Port)))).
		WithEgress(networkingv1ac.NetworkPolicyEgressRule().
			WithPorts(
				networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolUDP).WithPort(intstr.FromInt32(53)),
				networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromInt32(53))))
	for _, e := range in.Spec.Network.Egress {
		rule := networkingv1ac.NetworkPolicyEgressRule().
			WithTo(networkingv1ac.NetworkPolicyPeer().WithIPBlock(networkingv1ac.IPBlock().WithCIDR(e.CIDR)))
		for _, p := range e.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			rule.WithPorts(networkingv1ac.NetworkPolicyPort().WithProtocol(proto).WithPort(intstr.FromInt32(p.Port)))
		}
		spec.WithEgress(rule)
	}
	return np.WithSpec(spec)
}

// ownerReference is the controller reference of a namespaced server on its objects.
func ownerReference(kind string, obj metav1.Object) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(toolmeshv1alpha1.GroupVersion.String()).
		WithKind(kind).
		WithName(obj.GetName()).
		WithUID(obj.GetUID()).
		WithController(true).
		WithBlockOwnerDeletion(true)
}
