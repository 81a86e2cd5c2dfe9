package model

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeMayAnnounce is the one rule, used by BGP and Layer 2 alike, for whether a node may announce
// any VIP: not while its network plugin reports NetworkUnavailable=True, and not while it carries
// node.kubernetes.io/exclude-from-external-load-balancers, unless ignoreExcludeLB (the speaker's
// --ignore-exclude-lb, as in MetalLB) turns the label off. A nil node (not yet seen) announces nothing.
func NodeMayAnnounce(n *corev1.Node, ignoreExcludeLB bool) bool {
	return n != nil && NodeWithdrawReason(n, ignoreExcludeLB) == ""
}

// NodeWithdrawReason is why NodeMayAnnounce refuses a node, in MetalLB's words, or "".
func NodeWithdrawReason(n *corev1.Node, ignoreExcludeLB bool) string {
	switch {
	case n == nil:
		return ""
	case NetworkUnavailable(n):
		return "nodeNetworkUnavailable"
	case !ignoreExcludeLB && ExcludedFromLB(n):
		return "nodeLabeledExcludeBalancers"
	}
	return ""
}

// ExcludedFromLB reports the well-known exclusion label; its value does not matter.
func ExcludedFromLB(n *corev1.Node) bool {
	_, ok := n.Labels[corev1.LabelNodeExcludeBalancers]
	return ok
}

// NetworkUnavailable reports the Node's NetworkUnavailable condition (set by the network plugin).
func NetworkUnavailable(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// EndpointCanServe is the one rule for whether an endpoint takes traffic: ready (an unset condition
// counts as ready, as the EndpointSlice API asks consumers to do), or serving while terminating, so
// a rolling update keeps the route while the old pod still answers (MetalLB's EndpointCanServe).
// An endpoint without addresses serves nothing.
func EndpointCanServe(ep *discoveryv1.Endpoint) bool {
	if len(ep.Addresses) == 0 {
		return false
	}
	c := ep.Conditions
	return c.Ready == nil || *c.Ready || c.Serving != nil && *c.Serving
}

// Serving is where one Service's endpoints can serve.
type Serving struct {
	Anywhere bool            // some endpoint can serve, on a known node or not
	Nodes    map[string]bool // nodes running an endpoint that can serve
}

// ServingIndex holds Serving for every Service that has EndpointSlices, computed in one pass so a
// node's announcements cost the slices once, not once per Service.
type ServingIndex map[types.NamespacedName]*Serving

// IndexServing reads every EndpointSlice once. Slices without the service-name label belong to no
// Service (as for MetalLB, which indexes them by that label).
func IndexServing(slices []discoveryv1.EndpointSlice) ServingIndex {
	idx := ServingIndex{}
	for i := range slices {
		s := &slices[i]
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		key := types.NamespacedName{Namespace: s.Namespace, Name: name}
		sv := idx[key]
		if sv == nil {
			sv = &Serving{Nodes: map[string]bool{}}
			idx[key] = sv
		}
		for j := range s.Endpoints {
			ep := &s.Endpoints[j]
			if !EndpointCanServe(ep) {
				continue
			}
			sv.Anywhere = true
			if ep.NodeName != nil {
				sv.Nodes[*ep.NodeName] = true
			}
		}
	}
	return idx
}

// For returns where svc's endpoints can serve; a Service without slices serves nowhere.
func (idx ServingIndex) For(svc *corev1.Service) Serving {
	if sv := idx[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}]; sv != nil {
		return *sv
	}
	return Serving{}
}

// Announceable reports whether svc's VIPs may be announced at all: as MetalLB, in both modes, only
// while some endpoint can serve. With externalTrafficPolicy Local that endpoint must also be on a
// node (AnnouncesFrom checks which).
func (s Serving) Announceable(svc *corev1.Service) bool {
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		return len(s.Nodes) > 0
	}
	return s.Anywhere
}

// AnnouncesFrom reports whether node may announce svc as far as endpoints go: with Cluster policy
// any serving endpoint anywhere will do, with Local one must run on that node.
func (s Serving) AnnouncesFrom(svc *corev1.Service, node string) bool {
	return s.WithdrawReason(svc, node) == ""
}

// WithdrawReason is why AnnouncesFrom refuses, in MetalLB's words, or "".
func (s Serving) WithdrawReason(svc *corev1.Service, node string) string {
	switch {
	case svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && !s.Nodes[node]:
		return "noLocalEndpoints"
	case !s.Anywhere:
		return "noEndpoints"
	}
	return ""
}
