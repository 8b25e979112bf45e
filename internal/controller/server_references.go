package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

// reference is one Secret or ConfigMap (and optionally one of its keys) a server needs.
type reference struct {
	Kind string // Secret or ConfigMap
	Name string
	Key  string // empty: the object as a whole
}

func (r reference) String() string {
	if r.Key == "" {
		return r.Kind + " " + r.Name
	}
	return fmt.Sprintf("key %q of %s %s", r.Key, r.Kind, r.Name)
}

// serverReferences lists the required (non-optional) Secrets and ConfigMaps of a spec, sorted
// and without duplicates.
func serverReferences(spec *toolmeshv1alpha1.MCPServerSpec) []reference {
	var refs []reference
	for _, e := range spec.Env {
		if e.ValueFrom == nil {
			continue
		}
		if s := e.ValueFrom.SecretKeyRef; s != nil && !ptr.Deref(s.Optional, false) {
			refs = append(refs, reference{Kind: "Secret", Name: s.Name, Key: s.Key})
		}
		if c := e.ValueFrom.ConfigMapKeyRef; c != nil && !ptr.Deref(c.Optional, false) {
			refs = append(refs, reference{Kind: "ConfigMap", Name: c.Name, Key: c.Key})
		}
	}
	for _, e := range spec.EnvFrom {
		if s := e.SecretRef; s != nil && !ptr.Deref(s.Optional, false) {
			refs = append(refs, reference{Kind: "Secret", Name: s.Name})
		}
		if c := e.ConfigMapRef; c != nil && !ptr.Deref(c.Optional, false) {
			refs = append(refs, reference{Kind: "ConfigMap", Name: c.Name})
		}
	}
	if spec.Remote != nil {
		for _, h := range spec.Remote.Headers {
			refs = append(refs, reference{Kind: "Secret", Name: h.ValueFrom.Name, Key: h.ValueFrom.Key})
		}
	}
	slices.SortFunc(refs, func(a, b reference) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(refs)
}

// resolveReferences reads each reference from the API server (not the cache: the operator does
// not watch Secrets). It returns a blocker naming every missing one, and the resolved values of
// the remote headers for discovery. Header values are never logged.
func resolveReferences(ctx context.Context, r client.Reader, namespace string, spec *toolmeshv1alpha1.MCPServerSpec) (*blocker, map[string]string, error) {
	var missing []string
	values := map[reference]string{}
	for _, ref := range serverReferences(spec) {
		data, found, err := readReference(ctx, r, namespace, ref)
		if err != nil {
			return nil, nil, err
		}
		if !found {
			missing = append(missing, ref.String())
			continue
		}
		if ref.Key != "" {
			values[ref] = data
		}
	}
	if len(missing) > 0 {
		return &blocker{
			Reason:  toolmeshv1alpha1.ReasonReferenceNotFound,
			Message: fmt.Sprintf("Waiting for %s in namespace %s.", strings.Join(missing, ", "), namespace),
		}, nil, nil
	}
	var headers map[string]string
	if spec.Remote != nil && len(spec.Remote.Headers) > 0 {
		headers = make(map[string]string, len(spec.Remote.Headers))
		for _, h := range spec.Remote.Headers {
			headers[h.Name] = values[reference{Kind: "Secret", Name: h.ValueFrom.Name, Key: h.ValueFrom.Key}]
		}
	}
	return nil, headers, nil
}

// readReference returns the value of ref's key (or "" for a whole object) and whether it exists.
func readReference(ctx context.Context, r client.Reader, namespace string, ref reference) (string, bool, error) {
	key := types.NamespacedName{Namespace: namespace, Name: ref.Name}
	if ref.Kind == "Secret" {
		var s corev1.Secret
		if err := r.Get(ctx, key, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("get Secret %s: %w", key, err)
		}
		if ref.Key == "" {
			return "", true, nil
		}
		v, ok := s.Data[ref.Key]
		return string(v), ok, nil
	}
	var cm corev1.ConfigMap
	if err := r.Get(ctx, key, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("get ConfigMap %s: %w", key, err)
	}
	if ref.Key == "" {
		return "", true, nil
	}
	if v, ok := cm.Data[ref.Key]; ok {
		return v, true, nil
	}
	_, ok := cm.BinaryData[ref.Key]
	return "", ok, nil
}

// namespaceExists reports whether a namespace exists.
func namespaceExists(ctx context.Context, r client.Reader, name string) (bool, error) {
	var ns corev1.Namespace
	if err := r.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("get Namespace %s: %w", name, err)
	}
	return true, nil
}
