// Package testenv starts a real kube-apiserver and etcd (envtest) with the Toolmesh CRDs installed, once per test package.
package testenv
