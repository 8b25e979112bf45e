// Package validation proves every CEL rule of the toolmesh.io API against a real kube-apiserver.
package validation
