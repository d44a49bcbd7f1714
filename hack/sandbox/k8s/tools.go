//go:build tools

// Package tools pins the Kubernetes control-plane commands the sandbox runs.
// k8s.io/kubernetes carries replace directives, so `go install pkg@version`
// refuses it; this wrapper module requires it and pins every staging module
// to the matching v0.34.x instead. hack/sandbox/build.sh builds from here.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
)
