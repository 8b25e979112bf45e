package cluster

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseHAMiAllocation(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		containers int
		devices    []int
		wantErr    bool
	}{
		{"two containers", "GPU-a,NVIDIA,20000,30:GPU-b,NVIDIA,10000,0:;GPU-c,NVIDIA,4000,10:;", 2, []int{2, 1}, false},
		{"container without gpu", ";GPU-c,NVIDIA,4000,10:;", 2, []int{0, 1}, false},
		{"no trailing separators", "GPU-a,NVIDIA,20000,30", 1, []int{1}, false},
		{"three fields", "GPU-a,NVIDIA,20000:;", 0, nil, true},
		{"memory not a number", "GPU-a,NVIDIA,lots,30:;", 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHAMiAllocation(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if len(got) != tt.containers {
				t.Fatalf("containers = %d, want %d: %+v", len(got), tt.containers, got)
			}
			for i, n := range tt.devices {
				if len(got[i]) != n {
					t.Fatalf("container %d has %d devices, want %d", i, len(got[i]), n)
				}
			}
		})
	}
}

func TestPodRequests(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	gpus := func(n string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{ResourceGPU: resource.MustParse(n)}}
	}
	tests := []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{"app containers add", corev1.PodSpec{Containers: []corev1.Container{{Resources: gpus("2")}, {Resources: gpus("1")}}}, "3"},
		{"big init container wins", corev1.PodSpec{InitContainers: []corev1.Container{{Resources: gpus("4")}}, Containers: []corev1.Container{{Resources: gpus("1")}}}, "4"},
		{"small init container loses", corev1.PodSpec{InitContainers: []corev1.Container{{Resources: gpus("1")}}, Containers: []corev1.Container{{Resources: gpus("2")}}}, "2"},
		{"sidecar adds to the app", corev1.PodSpec{InitContainers: []corev1.Container{{RestartPolicy: &always, Resources: gpus("1")}}, Containers: []corev1.Container{{Resources: gpus("2")}}}, "3"},
		{"init after a sidecar counts both", corev1.PodSpec{InitContainers: []corev1.Container{{RestartPolicy: &always, Resources: gpus("1")}, {Resources: gpus("4")}}, Containers: []corev1.Container{{Resources: gpus("1")}}}, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := podRequests(&corev1.Pod{Spec: tt.spec})[ResourceGPU]
			if got.String() != tt.want {
				t.Fatalf("podRequests = %s, want %s", got.String(), tt.want)
			}
		})
	}
}
