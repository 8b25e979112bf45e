package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the server-side apply field manager of every object the operator writes.
const FieldOwner = "toolmesh-operator"

// applyOwned server-side applies desired, unless the live object already holds every field this
// field manager owns at the desired values. The comparison uses the object's managedFields, so
// SSA stays the only diff: a field another manager took over, or an object deleted by hand, is
// applied again, and an unchanged object costs no API write.
func applyOwned[O client.Object, AC runtime.ApplyConfiguration](
	ctx context.Context, c client.Client, key types.NamespacedName, live O, desired AC,
	extract func(O, string) (AC, error),
) (applied bool, err error) {
	switch err := c.Get(ctx, key, live); {
	case err == nil:
		if current, err := extract(live, FieldOwner); err == nil && sameJSON(current, desired) {
			return false, nil
		}
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("get %T %s: %w", live, key, err)
	}
	if err := c.Apply(ctx, desired, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply %T %s: %w", live, key, err)
	}
	return true, nil
}

func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
