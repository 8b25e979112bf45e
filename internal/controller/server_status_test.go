package controller

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

func TestComputeServerConditions(t *testing.T) {
	available := &appsv1.Deployment{Status: appsv1.DeploymentStatus{AvailableReplicas: 1}}
	rolling := &appsv1.Deployment{}
	tools := []toolmeshv1alpha1.ToolStatus{{Name: "a"}, {Name: "b"}}
	tests := []struct {
		name      string
		obs       serverObservation
		wantReady metav1.ConditionStatus
		reason    string
		message   string
	}{
		{name: "no deployment yet", obs: serverObservation{DesiredReplicas: 1},
			wantReady: metav1.ConditionFalse, reason: "Progressing", message: "Waiting for the Deployment to be created."},
		{name: "rolling out", obs: serverObservation{DesiredReplicas: 2, Deployment: rolling},
			wantReady: metav1.ConditionFalse, reason: "Progressing", message: "0 of 2 replicas are available."},
		{name: "scaled to zero", obs: serverObservation{DesiredReplicas: 0, Deployment: rolling},
			wantReady: metav1.ConditionFalse, reason: "ScaledToZero"},
		{name: "available", obs: serverObservation{DesiredReplicas: 1, Deployment: available},
			wantReady: metav1.ConditionTrue, reason: "Available", message: "The server is ready."},
		{name: "remote", obs: serverObservation{Remote: true},
			wantReady: metav1.ConditionTrue, reason: "Available"},
		{name: "blocked wins over available", obs: serverObservation{DesiredReplicas: 1, Deployment: available,
			Blocked: &blocker{Reason: "ReferenceNotFound", Message: "Waiting for Secret x in namespace y."}},
			wantReady: metav1.ConditionFalse, reason: "ReferenceNotFound", message: "Waiting for Secret x in namespace y."},
		{name: "pin matches", obs: serverObservation{Remote: true, ExpectedTools: []string{"b", "a"}, Discovery: &discoveryOutcome{Tools: tools}},
			wantReady: metav1.ConditionTrue, reason: "Available"},
		{name: "pin mismatch", obs: serverObservation{Remote: true, ExpectedTools: []string{"a", "c"}, Discovery: &discoveryOutcome{Tools: tools}},
			wantReady: metav1.ConditionFalse, reason: "ToolsMismatch",
			message: "The live tools differ from spec.discovery.expectedTools (missing: c; unexpected: b)."},
		{name: "pin waits for discovery without failing readiness", obs: serverObservation{Remote: true, ExpectedTools: []string{"a"}},
			wantReady: metav1.ConditionTrue, reason: "Available"},
		{name: "failed discovery does not fail readiness", obs: serverObservation{Remote: true, Discovery: &discoveryOutcome{Err: "Tool discovery timed out."}},
			wantReady: metav1.ConditionTrue, reason: "Available"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.obs.Generation = 7
			conds := computeServerConditions(tc.obs)
			ready := findCondition(conds, toolmeshv1alpha1.ConditionReady)
			if ready.Status != tc.wantReady || ready.Reason != tc.reason {
				t.Fatalf("Ready = %s/%s (%s), want %s/%s", ready.Status, ready.Reason, ready.Message, tc.wantReady, tc.reason)
			}
			if tc.message != "" && ready.Message != tc.message {
				t.Errorf("message %q, want %q", ready.Message, tc.message)
			}
			for _, c := range conds {
				if c.ObservedGeneration != 7 {
					t.Errorf("%s has observedGeneration %d", c.Type, c.ObservedGeneration)
				}
			}
		})
	}
}
