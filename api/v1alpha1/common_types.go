package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// SecretKeyReference names one key of a Secret in the namespace the referring object's workload
// runs in.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// ConfigMapKeyReference names one key of a ConfigMap in the referring object's namespace.
type ConfigMapKeyReference struct {
	// name of the ConfigMap.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key in the ConfigMap's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// WorkloadSpec overrides how the operator renders a Deployment. Unset fields keep the operator's
// secure defaults (Pod Security "restricted", read-only root filesystem).
type WorkloadSpec struct {
	// replicas is the desired number of pods.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the main container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// nodeSelector constrains the pods to nodes with these labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity of the pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// serviceAccountName runs the pods as an existing ServiceAccount instead of the one the operator
	// creates.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// podAnnotations are added to the pod template.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// podLabels are added to the pod template. They cannot replace the labels the operator selects
	// pods by.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('app.kubernetes.io/') && !k.startsWith('toolmesh.io/'))",message="podLabels may not use the app.kubernetes.io/ or toolmesh.io/ prefixes, which the operator selects pods by"
	PodLabels map[string]string `json:"podLabels,omitempty"`

	// imagePullSecrets for the pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// securityContext overrides fields of the main container's restricted default security context.
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`

	// podSecurityContext overrides fields of the pod's restricted default security context.
	// +optional
	PodSecurityContext *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`

	// projectedTokens mounts ServiceAccount tokens bound to other audiences into the main
	// container, so that it can prove its identity to a service without handing that service a
	// token the API server would accept. The kubelet rotates them.
	// +optional
	// +listType=map
	// +listMapKey=mountPath
	// +kubebuilder:validation:MaxItems=4
	ProjectedTokens []ProjectedToken `json:"projectedTokens,omitempty"`
}

// ProjectedToken is a ServiceAccount token for one audience, mounted as the file "token" in a
// directory of the main container.
type ProjectedToken struct {
	// audience the token is issued for: the service that will accept it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Audience string `json:"audience"`

	// mountPath is the directory holding the token file.
	// +required
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$') && !self.split('/').exists(s, s == '.' || s == '..')",message="mountPath must be a clean absolute directory path"
	// +kubebuilder:validation:XValidation:rule="self != '/tmp' && !self.startsWith('/tmp/') && self != '/toolmesh' && !self.startsWith('/toolmesh/')",message="mountPath must not be under /tmp or /toolmesh, which the operator mounts"
	MountPath string `json:"mountPath"`

	// expirationSeconds is the token's lifetime; the kubelet refreshes it well before it expires.
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=600
	// +kubebuilder:validation:Maximum=86400
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
}
