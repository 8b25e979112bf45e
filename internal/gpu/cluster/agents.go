package cluster

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// Agents finds the GPU agent pod on a node through the API.
type Agents struct {
	// Reader lists pods.
	Reader *Reader
	// Namespace is where the agent DaemonSet runs.
	Namespace string
	// Selector is the agent pods' label selector.
	Selector string
	// PortName is the name of the agent's container port.
	PortName string
	// Scheme is http (default) or https.
	Scheme string
}

// Endpoint returns the base URL of the running agent on node.
func (a *Agents) Endpoint(ctx context.Context, node string) (string, error) {
	pods, err := a.Reader.Client.CoreV1().Pods(a.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: a.Selector,
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return "", fmt.Errorf("list agent pods on %s: %w", node, err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				if port.Name == a.PortName {
					scheme := a.Scheme
					if scheme == "" {
						scheme = "http"
					}
					return scheme + "://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort))), nil
				}
			}
		}
	}
	return "", fmt.Errorf("no running GPU agent on node %q (pods %q in namespace %s with port %q)", node, a.Selector, a.Namespace, a.PortName)
}
