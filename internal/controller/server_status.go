package controller

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

// serverObservation is everything the reconciler gathered about a server. The status is a pure
// function of it.
type serverObservation struct {
	// Generation is the server's metadata.generation.
	Generation int64
	// Remote is true for servers declared with spec.remote.
	Remote bool
	// Blocked is a problem that stops the workload from being applied: a missing reference or
	// target namespace, or an apply the API server refused. Nil when there is none.
	Blocked *blocker
	// DesiredReplicas is spec.deployment.replicas.
	DesiredReplicas int32
	// Deployment is the server's Deployment as the cache has it; nil when it does not exist.
	Deployment *appsv1.Deployment
	// Discovery is the outcome of the last tool discovery; nil when none ran.
	Discovery *discoveryOutcome
	// ExpectedTools is spec.discovery.expectedTools.
	ExpectedTools []string
}

// blocker is a condition reason with a deterministic message.
type blocker struct {
	Reason  string
	Message string
}

// discoveryOutcome is the result of one tool discovery.
type discoveryOutcome struct {
	// Err is a deterministic description of the failure, empty on success.
	Err string
	// Tools are the discovered tools, sorted by name.
	Tools []toolmeshv1alpha1.ToolStatus
}

// computeServerConditions decides a server's conditions from what was observed, without I/O.
func computeServerConditions(o serverObservation) []metav1.Condition {
	available := availableCondition(o)
	conds := []metav1.Condition{available, toolsDiscoveredCondition(o)}
	pinned, hasPin := toolsPinnedCondition(o)
	if hasPin {
		conds = append(conds, pinned)
	}
	conds = append(conds, readyCondition(o, available, pinned, hasPin))
	for i := range conds {
		conds[i].ObservedGeneration = o.Generation
	}
	return conds
}

func availableCondition(o serverObservation) metav1.Condition {
	c := metav1.Condition{Type: toolmeshv1alpha1.ConditionAvailable, Status: metav1.ConditionFalse}
	d := o.Deployment
	switch {
	case o.Remote:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, toolmeshv1alpha1.ReasonRemote, "The server is remote: there is no workload to wait for."
	case o.DesiredReplicas == 0:
		c.Reason, c.Message = toolmeshv1alpha1.ReasonScaledToZero, "The Deployment is scaled to zero replicas."
	case d == nil:
		c.Reason, c.Message = toolmeshv1alpha1.ReasonProgressing, "Waiting for the Deployment to be created."
	case d.Status.AvailableReplicas > 0:
		c.Status, c.Reason = metav1.ConditionTrue, toolmeshv1alpha1.ReasonAvailable
		c.Message = fmt.Sprintf("%d of %d replicas are available.", d.Status.AvailableReplicas, o.DesiredReplicas)
	default:
		c.Reason, c.Message = toolmeshv1alpha1.ReasonProgressing, fmt.Sprintf("0 of %d replicas are available.", o.DesiredReplicas)
	}
	return c
}

func toolsDiscoveredCondition(o serverObservation) metav1.Condition {
	c := metav1.Condition{Type: toolmeshv1alpha1.ConditionToolsDiscovered}
	switch {
	case o.Discovery == nil:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, toolmeshv1alpha1.ReasonDiscoveryPending, "Tools are listed once the server is available."
	case o.Discovery.Err != "":
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, toolmeshv1alpha1.ReasonDiscoveryFailed, o.Discovery.Err
	default:
		c.Status, c.Reason = metav1.ConditionTrue, toolmeshv1alpha1.ReasonDiscovered
		c.Message = fmt.Sprintf("Listed %d tools.", len(o.Discovery.Tools))
	}
	return c
}

// toolsPinnedCondition compares the discovered tool names with the pin. It reports false for
// hasPin when the spec pins nothing.
func toolsPinnedCondition(o serverObservation) (c metav1.Condition, hasPin bool) {
	if len(o.ExpectedTools) == 0 {
		return metav1.Condition{}, false
	}
	c = metav1.Condition{Type: toolmeshv1alpha1.ConditionToolsPinned, Status: metav1.ConditionUnknown,
		Reason: toolmeshv1alpha1.ReasonDiscoveryPending, Message: "Waiting for a successful tool discovery."}
	if o.Discovery == nil || o.Discovery.Err != "" {
		return c, true
	}
	live := make([]string, 0, len(o.Discovery.Tools))
	for _, t := range o.Discovery.Tools {
		live = append(live, t.Name)
	}
	missing, unexpected := setDifference(o.ExpectedTools, live), setDifference(live, o.ExpectedTools)
	if len(missing) == 0 && len(unexpected) == 0 {
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, toolmeshv1alpha1.ReasonToolsMatch, "The live tools match spec.discovery.expectedTools."
		return c, true
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing: "+strings.Join(missing, ", "))
	}
	if len(unexpected) > 0 {
		parts = append(parts, "unexpected: "+strings.Join(unexpected, ", "))
	}
	c.Status, c.Reason = metav1.ConditionFalse, toolmeshv1alpha1.ReasonToolsMismatch
	c.Message = "The live tools differ from spec.discovery.expectedTools (" + strings.Join(parts, "; ") + ")."
	return c, true
}

// readyCondition is the first failing check of a chain, or True.
func readyCondition(o serverObservation, available, pinned metav1.Condition, hasPin bool) metav1.Condition {
	c := metav1.Condition{Type: toolmeshv1alpha1.ConditionReady, Status: metav1.ConditionFalse}
	switch {
	case o.Blocked != nil:
		c.Reason, c.Message = o.Blocked.Reason, o.Blocked.Message
	case available.Status != metav1.ConditionTrue:
		c.Reason, c.Message = available.Reason, available.Message
	case hasPin && pinned.Status == metav1.ConditionFalse:
		c.Reason, c.Message = pinned.Reason, pinned.Message
	default:
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, toolmeshv1alpha1.ReasonAvailable, "The server is ready."
	}
	return c
}

// setDifference returns the sorted elements of a that are not in b.
func setDifference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// setConditions sets conds on the status, keeping LastTransitionTime of unchanged statuses.
func setConditions(status *[]metav1.Condition, conds []metav1.Condition) {
	for _, c := range conds {
		meta.SetStatusCondition(status, c)
	}
}
