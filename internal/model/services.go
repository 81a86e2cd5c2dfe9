package model

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
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

// ReadyEndpointNodes returns the nodes running a ready endpoint of svc, which decide who announces a
// Service with externalTrafficPolicy Local. An unset ready condition counts as ready, as the
// EndpointSlice API asks consumers to do.
func ReadyEndpointNodes(svc *corev1.Service, slices []discoveryv1.EndpointSlice) map[string]bool {
	out := map[string]bool{}
	for i := range slices {
		s := &slices[i]
		if s.Namespace != svc.Namespace || s.Labels[discoveryv1.LabelServiceName] != svc.Name {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.NodeName != nil && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				out[*ep.NodeName] = true
			}
		}
	}
	return out
}
