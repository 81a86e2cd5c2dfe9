package model

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeMayAnnounce(t *testing.T) {
	cond := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{{Type: corev1.NodeNetworkUnavailable, Status: s}}
	}
	excl := map[string]string{corev1.LabelNodeExcludeBalancers: ""}
	for _, c := range []struct {
		name   string
		labels map[string]string
		conds  []corev1.NodeCondition
		ignore bool
		want   bool
	}{
		{name: "plain node", want: true},
		{name: "excluded by label (any value)", labels: excl},
		{name: "excluded, --ignore-exclude-lb", labels: excl, ignore: true, want: true},
		{name: "network unavailable", conds: cond(corev1.ConditionTrue)},
		{name: "network unavailable, --ignore-exclude-lb", conds: cond(corev1.ConditionTrue), ignore: true},
		{name: "network available again", conds: cond(corev1.ConditionFalse), want: true},
		{name: "network condition unknown", conds: cond(corev1.ConditionUnknown), want: true},
	} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: c.labels}, Status: corev1.NodeStatus{Conditions: c.conds}}
		if got := NodeMayAnnounce(n, c.ignore); got != c.want {
			t.Errorf("%s: NodeMayAnnounce = %v, want %v", c.name, got, c.want)
		}
		if reason := NodeWithdrawReason(n, c.ignore); (reason == "") != c.want {
			t.Errorf("%s: NodeWithdrawReason %q disagrees", c.name, reason)
		}
	}
	if NodeMayAnnounce(nil, true) {
		t.Error("a node not yet seen may announce")
	}
}

func TestEndpointCanServe(t *testing.T) {
	addr := []string{"10.0.0.1"}
	for _, c := range []struct {
		name  string
		ep    discoveryv1.Endpoint
		serve bool
	}{
		{name: "conditions unset", ep: discoveryv1.Endpoint{Addresses: addr}, serve: true},
		{name: "ready", ep: discoveryv1.Endpoint{Addresses: addr, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}, serve: true},
		{name: "not ready", ep: discoveryv1.Endpoint{Addresses: addr, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}}},
		{name: "terminating, serving", ep: discoveryv1.Endpoint{Addresses: addr,
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(true), Terminating: ptr(true)}}, serve: true},
		{name: "terminating, no longer serving", ep: discoveryv1.Endpoint{Addresses: addr,
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(false), Serving: ptr(false), Terminating: ptr(true)}}},
		{name: "no address", ep: discoveryv1.Endpoint{}},
	} {
		if got := EndpointCanServe(&c.ep); got != c.serve {
			t.Errorf("%s: EndpointCanServe = %v, want %v", c.name, got, c.serve)
		}
	}
}

func TestServing(t *testing.T) {
	cluster := lbService("a", "web", nil)
	loc := lbService("a", "web", local)
	noNode := endpointSlice("a", "web", "", nil)
	noNode.Endpoints[0].NodeName = nil
	unlabelled := endpointSlice("a", "web", "n1", nil)
	unlabelled.Labels = nil
	for _, c := range []struct {
		name        string
		slices      []discoveryv1.EndpointSlice
		svc         corev1.Service
		any, fromN1 bool
		reason      string // for n1
	}{
		{name: "cluster, no slices", svc: cluster, reason: "noEndpoints"},
		{name: "cluster, serving elsewhere", svc: cluster, slices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "n2", nil)}, any: true, fromN1: true},
		{name: "cluster, serving on no known node", svc: cluster, slices: []discoveryv1.EndpointSlice{noNode}, any: true, fromN1: true},
		{name: "local, serving elsewhere", svc: loc, slices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "n2", nil)}, any: true, reason: "noLocalEndpoints"},
		{name: "local, serving on n1", svc: loc, slices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "n1", nil)}, any: true, fromN1: true},
		{name: "local, only on no known node", svc: loc, slices: []discoveryv1.EndpointSlice{noNode}, reason: "noLocalEndpoints"},
		{name: "slice without the service-name label", svc: cluster, slices: []discoveryv1.EndpointSlice{unlabelled}, reason: "noEndpoints"},
		{name: "another Service's slice", svc: cluster, slices: []discoveryv1.EndpointSlice{endpointSlice("a", "api", "n1", nil)}, reason: "noEndpoints"},
	} {
		sv := IndexServing(c.slices).For(&c.svc)
		if got := sv.Announceable(&c.svc); got != c.any {
			t.Errorf("%s: Announceable = %v, want %v", c.name, got, c.any)
		}
		if got := sv.AnnouncesFrom(&c.svc, "n1"); got != c.fromN1 {
			t.Errorf("%s: AnnouncesFrom(n1) = %v, want %v", c.name, got, c.fromN1)
		}
		if got := sv.WithdrawReason(&c.svc, "n1"); got != c.reason {
			t.Errorf("%s: WithdrawReason(n1) = %q, want %q", c.name, got, c.reason)
		}
	}
}
