// Package podresources asks the kubelet's PodResources API which pod and container each GPU is allocated to.
package podresources
