//go:build tools

// Package tools pins the Kubernetes commands that hack/kube-bin.sh builds: kube-apiserver and
// kubectl for envtest, and the node's commands for the real-node test (e2e/realnode).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
