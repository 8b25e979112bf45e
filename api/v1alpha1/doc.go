// Package v1alpha1 contains the toolmesh.io/v1alpha1 API: MCPServer, ClusterMCPServer, MCPGateway and MCPRoute.
// +kubebuilder:object:generate=true
// +groupName=toolmesh.io
package v1alpha1
