package statusview

import (
	"bytes"
	"flag"
	"path/filepath"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/testing/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func lbService(ns, name string, ips ...string) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func bgpStatus(node, ns, svc string, peers ...string) v1beta1.ServiceBGPStatus {
	return v1beta1.ServiceBGPStatus{
		ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: "bgp-" + node + "-" + svc,
			Labels: map[string]string{LabelNode: node, LabelServiceNamespace: ns, LabelServiceName: svc}},
		Status: v1beta1.MetalLBServiceBGPStatus{Node: node, ServiceNamespace: ns, ServiceName: svc, Peers: peers},
	}
}

func peer(name, addr string, sessions ...v1beta2.BGPSessionStatus) v1beta2.BGPPeer {
	return v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: name},
		Spec: v1beta2.BGPPeerSpec{Address: addr}, Status: v1beta2.BGPPeerStatus{Sessions: sessions}}
}

func lease(node, claims string, renewed time.Duration) coordinationv1.Lease {
	r := metav1.NewMicroTime(now.Add(-renewed))
	return coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: "routelb-l2-" + node,
			Labels:      map[string]string{LeaseComponentLabel: LeaseComponentValue},
			Annotations: map[string]string{AnnotationClaims: claims, AnnotationDurationMillis: "10000"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](10), RenewTime: &r},
	}
}

func nodeEvent(node, reason, note string, at time.Duration) eventsv1.Event {
	return eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: node + "." + reason},
		Regarding: corev1.ObjectReference{Kind: "Node", Name: node}, Reason: reason, Note: note,
		EventTime: metav1.NewMicroTime(now.Add(-at))}
}

// applied is a speaker's RoutingConfigApplied condition, last changed at ago.
func applied(status metav1.ConditionStatus, reason, msg string, at time.Duration) metav1.Condition {
	return metav1.Condition{Type: v1beta1.ConditionRoutingConfigApplied, Status: status, Reason: reason, Message: msg,
		LastTransitionTime: ago(at)}
}

// cluster is two BGP nodes (one session down on node-b, whose FRR refused its last config), a
// dual-stack Layer 2 Service on node-c, an expired claim nobody explains and a status object
// without labels.
func cluster() Input {
	l2 := v1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: "l2-dns",
		Labels: map[string]string{LabelNode: "node-c", LabelServiceNamespace: "infra", LabelServiceName: "dns"}},
		Status: v1beta1.MetalLBServiceL2Status{Node: "node-c", ServiceNamespace: "infra", ServiceName: "dns",
			Interfaces: []v1beta1.InterfaceInfo{{Name: "eth0"}}}}
	return Input{
		Now: now,
		Services: []corev1.Service{
			lbService("shop", "web", "203.0.113.10"),
			lbService("infra", "dns", "203.0.113.20", "2001:db8::20"),
			lbService("shop", "pending"),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "internal"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}},
		},
		BGPStatuses: []v1beta1.ServiceBGPStatus{
			bgpStatus("node-b", "shop", "web", "router-b", "router-a"),
			bgpStatus("node-a", "shop", "web", "router-a"),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: "stray"}},
		},
		L2Statuses: []v1beta1.ServiceL2Status{l2},
		Peers: []v1beta2.BGPPeer{
			peer("router-a", "198.51.100.1",
				v1beta2.BGPSessionStatus{Node: "node-a", State: "Established", BFDState: "up", PrefixesSent: 1, LastTransitionTime: ago(5 * time.Minute)},
				v1beta2.BGPSessionStatus{Node: "node-b", State: "Established", BFDState: "up", PrefixesSent: 1, LastTransitionTime: ago(3 * time.Hour)}),
			peer("router-b", "198.51.100.2",
				v1beta2.BGPSessionStatus{Node: "node-b", State: "Active", PrefixesSent: 0, LastError: "Notification received (OPEN Message Error/Bad Peer AS)", LastTransitionTime: ago(40 * time.Second)}),
		},
		ConfigStates: []v1beta1.ConfigurationState{
			{ObjectMeta: metav1.ObjectMeta{Name: "controller", Labels: map[string]string{v1beta1.LabelComponentType: "controller"}},
				Status: v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationResultValid}},
			// node-a's verdict is only in its condition (its events expired, or a first good apply made none).
			{ObjectMeta: metav1.ObjectMeta{Name: "speaker-node-a", Labels: map[string]string{v1beta1.LabelComponentType: "speaker", v1beta1.LabelNodeName: "node-a"}},
				Status: v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationResultValid,
					Conditions: []metav1.Condition{applied(metav1.ConditionTrue, "Applied", "frr runs the node's config", 3*time.Hour)}}},
			// node-b's condition is older than its last event (the condition has not caught up): the event wins.
			{ObjectMeta: metav1.ObjectMeta{Name: "speaker-node-b", Labels: map[string]string{v1beta1.LabelComponentType: "speaker", v1beta1.LabelNodeName: "node-b"}},
				Status: v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationResultInvalid,
					ErrorSummary: "BGPPeer metallb-system/router-c: spec.bfdProfile: BFDProfile fast does not exist",
					Conditions:   []metav1.Condition{applied(metav1.ConditionTrue, "Applied", "frr runs the node's config", 2*time.Hour)}}},
		},
		Leases: []coordinationv1.Lease{
			lease("node-c", "203.0.113.20,2001:db8::20", 2*time.Second),
			lease("node-d", "203.0.113.30-203.0.113.31", 90*time.Second),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: "routelb-controller"}}, // not an L2 Lease
		},
		Events: []eventsv1.Event{
			nodeEvent("node-b", "RoutingConfigApplied", "frr runs the node's config again (applied)", 2*time.Hour),
			nodeEvent("node-b", "RoutingConfigRefused", "frr refused the node's config, the last good one keeps running: line 12: % Unknown command", 4*time.Minute),
			nodeEvent("node-a", "NodeReady", "unrelated", time.Minute),
		},
	}
}

func TestGolden(t *testing.T) {
	v := Build(cluster())
	var text, js bytes.Buffer
	if err := WriteText(&text, v); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, v); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, filepath.Join("testdata", "cluster.txt"), text.Bytes(), *update)
	golden.Compare(t, filepath.Join("testdata", "cluster.json"), js.Bytes(), *update)

	var empty bytes.Buffer
	if err := WriteText(&empty, Build(Input{Now: now})); err != nil {
		t.Fatal(err)
	}
	golden.Compare(t, filepath.Join("testdata", "empty.txt"), empty.Bytes(), *update)
}

// TestView checks the facts the golden file shows, so a regenerated golden cannot silently lose them.
func TestView(t *testing.T) {
	v := Build(cluster())
	byIP := map[string]VIP{}
	for _, vip := range v.VIPs {
		byIP[vip.IP] = vip
	}
	web := byIP["203.0.113.10"]
	if len(web.BGP) != 2 || web.BGP[0].Node != "node-a" || web.BGP[1].Peers[1] != (PeerRef{"router-b", "Active"}) {
		t.Errorf("web announcers: %+v", web.BGP)
	}
	dns := byIP["2001:db8::20"]
	if dns.Layer2 == nil || dns.Layer2.Owner != "node-c" || *dns.Layer2.LeaseAgeSeconds != 2 || dns.Layer2.LeaseExpired {
		t.Errorf("dns owner: %+v", dns.Layer2)
	}
	if o := byIP["203.0.113.31"].Layer2; o == nil || o.Owner != "node-d" || !o.LeaseExpired {
		t.Errorf("expired claim from a range: %+v", o)
	}
	if _, ok := byIP[""]; ok {
		t.Error("a pending Service has a VIP row")
	}
	var b Node
	for _, n := range v.Nodes {
		if n.Name == "node-b" {
			b = n
		}
	}
	if b.LastApply == nil || b.LastApply.Reason != "RoutingConfigRefused" || b.LastApply.OK || b.Config != "Invalid" || len(b.Sessions) != 2 {
		t.Errorf("node-b: %+v", b)
	}
	for _, n := range v.Nodes {
		if n.Name == "node-a" && (n.LastApply == nil || n.LastApply.Reason != "RoutingConfigApplied" || !n.LastApply.OK) {
			t.Errorf("node-a: the condition's verdict is not shown: %+v", n.LastApply)
		}
	}
	if len(v.Problems) != 1 {
		t.Errorf("problems: %q", v.Problems)
	}
}
