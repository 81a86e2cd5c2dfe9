package speaker

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// Event reasons on Services for announcements, as MetalLB emits them (nodeReleased is routelb's).
const (
	EventNodeAssigned = "nodeAssigned"
	EventNodeReleased = "nodeReleased"
)

// reportAnnouncements sends nodeAssigned on each Service this node starts announcing over BGP (the
// event MetalLB users watch, in its words), and nodeReleased with MetalLB's withdrawal reason on each
// it stops announcing. A restarted speaker reports its announcements again, as MetalLB does on
// every sync. Callers hold r.mu.
func (r *SpeakerBGPReconciler) reportAnnouncements(in nodeconfig.SpeakerInput, n *model.NodeBGP) {
	now := make(map[string]bool, len(n.Services))
	for _, a := range n.Services {
		now[a.Key()] = true
	}
	prev := r.announced
	r.announced = now
	var self *corev1.Node
	for i := range in.Nodes {
		if in.Nodes[i].Name == r.NodeName {
			self = &in.Nodes[i]
		}
	}
	var serving model.ServingIndex
	for i := range in.Services {
		svc := &in.Services[i]
		key := svc.Namespace + "/" + svc.Name
		switch {
		case now[key] && !prev[key]:
			r.events.serviceEventf(svc, corev1.EventTypeNormal, EventNodeAssigned, "AnnounceBGP",
				"announcing from node %q with protocol %q", r.NodeName, "bgp")
		case prev[key] && !now[key]:
			if serving == nil {
				serving = model.IndexServing(in.EndpointSlices)
			}
			why := withdrawReason(self, r.IgnoreExcludeLB, svc, serving)
			// The recorder folds events of one action into a series keeping the first note: the
			// action names the cause, so a withdrawal for a new cause shows its own note.
			r.events.serviceEventf(svc, corev1.EventTypeNormal, EventNodeReleased, "WithdrawBGP:"+why,
				"node %q stopped announcing over BGP: %s", r.NodeName, why)
		}
	}
}

// withdrawReason names why a Service is no longer announced from a node, in MetalLB's words where
// MetalLB has them.
func withdrawReason(node *corev1.Node, ignoreExcludeLB bool, svc *corev1.Service, serving model.ServingIndex) string {
	if node == nil {
		return "nodeNotFound"
	}
	if r := model.NodeWithdrawReason(node, ignoreExcludeLB); r != "" {
		return r
	}
	if r := serving.For(svc).WithdrawReason(svc, node.Name); r != "" {
		return r
	}
	if !slices.ContainsFunc(svc.Status.LoadBalancer.Ingress, func(i corev1.LoadBalancerIngress) bool { return i.IP != "" }) {
		return "noIPAllocated"
	}
	return "noMatchingAdvertisement"
}
