package redact

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestText(t *testing.T) {
	tests := []struct {
		name, in, wantAbsent string
	}{
		{"bearer header", "Authorization: Bearer abc.def-123", "abc.def-123"},
		{"jwt anywhere", "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here", "eyJhbGciOiJSUzI1NiJ9"},
		{"url credentials", "fetching https://admin:hunter2@registry.example.com/v2/", "hunter2"},
		{"url user only", "git clone https://ghp_abcdef@github.com/x/y", "ghp_abcdef"},
		{"key value", "starting with API_KEY=sk-live-123 and password: s3cret", "sk-live-123"},
		{"key value second", "starting with API_KEY=sk-live-123 and password: s3cret", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Text(tt.in)
			if strings.Contains(got, tt.wantAbsent) || !strings.Contains(got, Mask) {
				t.Fatalf("Text(%q) = %q still contains %q", tt.in, got, tt.wantAbsent)
			}
		})
	}
	if got := Text("GPU 0000:18:00.0 has fallen off the bus"); got != "GPU 0000:18:00.0 has fallen off the bus" {
		t.Fatalf("Text changed a harmless string: %q", got)
	}
}

func TestPodRedactsEveryContainerKind(t *testing.T) {
	secretEnv := []corev1.EnvVar{{Name: "HF_TOKEN", Value: "hf_live"}, {Name: "DB_PASSWORD", Value: "pw"}, {Name: "MODEL", Value: "llama"}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
			"example.com/api-key":            "k",
			"hami.io/vgpu-devices-allocated": "GPU-1,NVIDIA,1000,10:;",
		}},
		Spec: corev1.PodSpec{
			Containers:          []corev1.Container{{Name: "c", Env: secretEnv}},
			InitContainers:      []corev1.Container{{Name: "i", Env: append([]corev1.EnvVar(nil), secretEnv...)}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Env: append([]corev1.EnvVar(nil), secretEnv...)}}},
		},
	}
	got := Pod(pod)
	for _, env := range [][]corev1.EnvVar{got.Spec.Containers[0].Env, got.Spec.InitContainers[0].Env, got.Spec.EphemeralContainers[0].Env} {
		if env[0].Value != Mask || env[1].Value != Mask || env[2].Value != "llama" {
			t.Fatalf("env not redacted: %+v", env)
		}
	}
	if got.Annotations["example.com/api-key"] != Mask || got.Annotations["hami.io/vgpu-devices-allocated"] == Mask {
		t.Fatalf("annotations = %v", got.Annotations)
	}
	if pod.Spec.Containers[0].Env[0].Value != "hf_live" {
		t.Fatalf("Pod modified its input")
	}
}

func TestValueWalksNestedOutput(t *testing.T) {
	type env struct{ Name, Value string }
	type out struct {
		Msg  string
		Env  []env
		Ann  map[string]string
		Next *out
	}
	v := &out{
		Msg:  "see https://u:p@host/",
		Env:  []env{{"AWS_SECRET_ACCESS_KEY", "abc"}, {"PATH", "/bin"}},
		Ann:  map[string]string{"token": "t", "note": "Bearer xyz"},
		Next: &out{Msg: "Bearer nested"},
	}
	Value(v)
	if strings.Contains(v.Msg, "u:p") || v.Env[0].Value != Mask || v.Env[1].Value != "/bin" ||
		v.Ann["token"] != Mask || strings.Contains(v.Ann["note"], "xyz") || strings.Contains(v.Next.Msg, "nested") {
		t.Fatalf("Value left secrets: %+v %+v", v, v.Next)
	}
}
