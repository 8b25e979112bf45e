package controller

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheOptions restricts the manager's cache to what the operator needs: owned objects are cached
// only when they carry the operator's managed-by label, so memory does not grow with the
// cluster's other Deployments and Services. Namespaces, when given, limit namespaced kinds.
func CacheOptions(namespaces []string) cache.Options {
	owned := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByOperator})}
	opts := cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:          owned,
			&corev1.Service{}:             owned,
			&corev1.ServiceAccount{}:      owned,
			&networkingv1.NetworkPolicy{}: owned,
		},
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// SetupServerReconcilers registers the MCPServer and ClusterMCPServer reconcilers.
func SetupServerReconcilers(mgr ctrl.Manager, opts ServerOptions) error {
	if err := NewMCPServerReconciler(mgr, opts).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up MCPServer controller: %w", err)
	}
	if err := NewClusterMCPServerReconciler(mgr, opts).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up ClusterMCPServer controller: %w", err)
	}
	return nil
}
