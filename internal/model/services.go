package model

import (
	corev1 "k8s.io/api/core/v1"
)

// Announces reports whether a speaker started with lbClass announces svc: a LoadBalancer Service of
// its class (no class when lbClass is empty). Both modes use it, so they agree on which Services count.
func Announces(svc *corev1.Service, lbClass string) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if svc.Spec.LoadBalancerClass == nil {
		return lbClass == ""
	}
	return *svc.Spec.LoadBalancerClass == lbClass
}
