package model

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
)

func lbService(ns, name string, mut func(*corev1.Service), ips ...string) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	if mut != nil {
		mut(&s)
	}
	return s
}

func endpointSlice(ns, svc, node string, ready *bool) discoveryv1.EndpointSlice {
	return discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: svc + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: ready}}},
	}
}

// terminating marks the slice's endpoints as terminating, still serving or not.
func terminating(s discoveryv1.EndpointSlice, serving bool) discoveryv1.EndpointSlice {
	for i := range s.Endpoints {
		s.Endpoints[i].Conditions.Terminating, s.Endpoints[i].Conditions.Serving = ptr(true), ptr(serving)
	}
	return s
}

func local(s *corev1.Service) {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
}

// announced summarises a NodeBGP as "peer: prefixes" lines, the thing the table tests compare.
func announced(n *NodeBGP) []string {
	var out []string
	for _, r := range n.Routers {
		for _, nb := range r.Neighbors {
			var ps []string
			for _, p := range append(append([]netip.Prefix{}, nb.All.V4...), nb.All.V6...) {
				ps = append(ps, p.String())
			}
			out = append(out, nb.Peer.Name+": "+strings.Join(ps, " "))
		}
	}
	return out
}

func TestBuildNode(t *testing.T) {
	nodes := []corev1.Node{node("node1", map[string]string{"rack": "a"}), node("node2", map[string]string{"rack": "b"})}
	rackB := []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "b"}}}
	base := Input{
		Pools:   []v1beta1.IPAddressPool{pool("vips", 0, "203.0.113.0/24", "2001:db8:ff::/120")},
		Peers:   []v1beta2.BGPPeer{peer("r4", 0)},
		BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("all", nil)},
		Nodes:   nodes,
	}
	with := func(mut func(*Input)) Input {
		in := base
		in.Peers = append([]v1beta2.BGPPeer(nil), base.Peers...)
		in.BGPAdvs = append([]v1beta1.BGPAdvertisement(nil), base.BGPAdvs...)
		mut(&in)
		return in
	}
	cases := []struct {
		name     string
		in       Input
		node     string
		svcs     []corev1.Service
		slices   []discoveryv1.EndpointSlice
		lbClass  string
		ignoreEx bool
		want     []string
		problems []string
	}{
		{name: "cluster policy announces", in: base, svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")},
			want: []string{"r4: 203.0.113.5/32"}},
		{name: "v6 VIP does not go over a v4-only session", in: base, svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5", "2001:db8:ff::5")},
			want: []string{"r4: 203.0.113.5/32"}},
		{name: "dual-stack session carries both", in: with(func(in *Input) { in.Peers[0].Spec.DualStackAddressFamily = true }),
			svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5", "2001:db8:ff::5")},
			want: []string{"r4: 203.0.113.5/32 2001:db8:ff::5/128"}},
		{name: "local policy with a ready local endpoint", in: base, svcs: []corev1.Service{lbService("a", "web", local, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "node1", nil)}, want: []string{"r4: 203.0.113.5/32"}},
		{name: "local policy with the endpoint elsewhere", in: base, svcs: []corev1.Service{lbService("a", "web", local, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "node2", nil)}, want: []string{"r4: "}},
		{name: "local policy with an unready endpoint", in: base, svcs: []corev1.Service{lbService("a", "web", local, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "node1", ptr(false))}, want: []string{"r4: "}},
		{name: "endpoint slice of another namespace does not count", in: base, svcs: []corev1.Service{lbService("a", "web", local, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{endpointSlice("b", "web", "node1", nil)}, want: []string{"r4: "}},
		{name: "cluster policy with no endpoint anywhere is withdrawn", in: base, svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{}, want: []string{"r4: "}},
		{name: "cluster policy with only unready endpoints is withdrawn", in: base, svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "node2", ptr(false))}, want: []string{"r4: "}},
		{name: "cluster policy with a terminating endpoint still serving", in: base, svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{terminating(endpointSlice("a", "web", "node2", ptr(false)), true)}, want: []string{"r4: 203.0.113.5/32"}},
		{name: "local policy with a local terminating endpoint still serving", in: base, svcs: []corev1.Service{lbService("a", "web", local, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{terminating(endpointSlice("a", "web", "node1", ptr(false)), true)}, want: []string{"r4: 203.0.113.5/32"}},
		{name: "local policy with a local terminating endpoint no longer serving", in: base, svcs: []corev1.Service{lbService("a", "web", local, "203.0.113.5")},
			slices: []discoveryv1.EndpointSlice{terminating(endpointSlice("a", "web", "node1", ptr(false)), false)}, want: []string{"r4: "}},
		{name: "node excluded by label keeps its session and withdraws", in: with(func(in *Input) {
			in.Nodes = []corev1.Node{node("node1", map[string]string{corev1.LabelNodeExcludeBalancers: ""})}
		}), svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")}, want: []string{"r4: "}},
		{name: "--ignore-exclude-lb keeps a labelled node announcing", ignoreEx: true, in: with(func(in *Input) {
			in.Nodes = []corev1.Node{node("node1", map[string]string{corev1.LabelNodeExcludeBalancers: "true"})}
		}), svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")}, want: []string{"r4: 203.0.113.5/32"}},
		{name: "NetworkUnavailable withdraws even with --ignore-exclude-lb", ignoreEx: true, in: with(func(in *Input) {
			n := node("node1", nil)
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue}}
			in.Nodes = []corev1.Node{n}
		}), svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")}, want: []string{"r4: "}},
		{name: "other lb class", in: base, svcs: []corev1.Service{lbService("a", "web", func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr("x") }, "203.0.113.5")},
			want: []string{"r4: "}},
		{name: "our lb class", in: base, lbClass: "x", svcs: []corev1.Service{
			lbService("a", "web", func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr("x") }, "203.0.113.5"),
			lbService("a", "classless", nil, "203.0.113.6")},
			want: []string{"r4: 203.0.113.5/32"}},
		{name: "VIP outside every pool", in: base, svcs: []corev1.Service{lbService("a", "web", nil, "198.18.0.1")}, want: []string{"r4: "}},
		{name: "peer for another node", in: with(func(in *Input) { in.Peers[0].Spec.NodeSelectors = rackB }), want: nil},
		{name: "advertisement for another node", in: with(func(in *Input) { in.BGPAdvs[0].Spec.NodeSelectors = rackB }),
			svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")}, want: []string{"r4: "}},
		{name: "advertisement naming the other peer", in: with(func(in *Input) {
			in.Peers = append(in.Peers, peer("r2", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "198.51.100.2" }))
			in.BGPAdvs[0].Spec.Peers = []v1beta1.ObjectName{"r2"}
		}), svcs: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")}, want: []string{"r2: 203.0.113.5/32", "r4: "}},
		{name: "aggregation", in: with(func(in *Input) { in.BGPAdvs[0].Spec.AggregationLength = ptr(int32(24)) }),
			svcs: []corev1.Service{lbService("a", "x", nil, "203.0.113.5"), lbService("a", "y", nil, "203.0.113.77")},
			want: []string{"r4: 203.0.113.0/24"}},
		{name: "bad VIP in status", in: base, svcs: []corev1.Service{lbService("a", "web", nil, "not-an-ip", "203.0.113.5")},
			want: []string{"r4: 203.0.113.5/32"}, problems: []string{"Service a/web: status.loadBalancer.ingress[0].ip"}},
		{name: "control character in a password", in: with(func(in *Input) { in.Peers[0].Spec.Password = "a\x01b" }),
			want: nil, problems: []string{"BGPPeer r4: spec.password: must be printable ASCII"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, ps := Build(c.in, nil)
			if len(ps) > 0 {
				t.Fatalf("Build: %v", ps)
			}
			name := c.node
			if name == "" {
				name = "node1"
			}
			var n *corev1.Node
			for i := range c.in.Nodes {
				if c.in.Nodes[i].Name == name {
					n = &c.in.Nodes[i]
				}
			}
			slices := c.slices
			if slices == nil { // a case about something else: every Service has a serving endpoint elsewhere
				for _, svc := range c.svcs {
					slices = append(slices, endpointSlice(svc.Namespace, svc.Name, "node9", nil))
				}
			}
			got, nps := BuildNode(cfg, NodeInput{Node: n, Services: c.svcs, EndpointSlices: slices, LBClass: c.lbClass, IgnoreExcludeLB: c.ignoreEx})
			if !reflect.DeepEqual(announced(got), c.want) {
				t.Errorf("announced %q, want %q", announced(got), c.want)
			}
			if len(nps) != len(c.problems) {
				t.Fatalf("problems %v, want %q", nps, c.problems)
			}
			for i, p := range c.problems {
				if !strings.Contains(nps[i].Error(), p) {
					t.Errorf("problem %q does not contain %q", nps[i].Error(), p)
				}
			}
		})
	}
}

// shape is everything of a NodeBGP except prefixes: what must not move when Services come and go.
func shape(n *NodeBGP) string {
	var b strings.Builder
	for _, r := range n.Routers {
		fmt.Fprintf(&b, "router %s %d %v\n", r.VRF, r.MyASN, r.RouterID)
		for _, nb := range r.Neighbors {
			fmt.Fprintf(&b, " %s v4=%v v6=%v", nb.Peer.Name, nb.IPv4, nb.IPv6)
			for _, c := range nb.Communities {
				fmt.Fprintf(&b, " c=%v", c.Community)
			}
			for _, l := range nb.LocalPrefs {
				fmt.Fprintf(&b, " lp=%d", l.LocalPref)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestBuildNodeShapeIgnoresServices(t *testing.T) {
	in := Input{
		Pools: []v1beta1.IPAddressPool{pool("vips", 0, "203.0.113.0/24")},
		Peers: []v1beta2.BGPPeer{peer("r1", 0), peer("r2", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "198.51.100.2" })},
		BGPAdvs: []v1beta1.BGPAdvertisement{
			bgpAdv("tagged", func(s *v1beta1.BGPAdvertisementSpec) {
				s.Communities = []v1beta1.CommunityRef{"64512:1", "large:1:2:3"}
				s.LocalPref = 100
				s.Peers = []v1beta1.ObjectName{"r1"}
			}),
			// A localPref of 0 beside tagged's 100 on r1 would be refused (MetalLB's rule): r2 only.
			bgpAdv("plain", func(s *v1beta1.BGPAdvertisementSpec) { s.Peers = []v1beta1.ObjectName{"r2"} }),
		},
		Nodes: []corev1.Node{node("node1", nil)},
	}
	cfg, ps := Build(in, nil)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	empty, _ := BuildNode(cfg, NodeInput{Node: &in.Nodes[0]})
	full, _ := BuildNode(cfg, NodeInput{Node: &in.Nodes[0], Services: []corev1.Service{lbService("a", "web", nil, "203.0.113.5", "203.0.113.6")},
		EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "node1", nil)}})
	if shape(empty) != shape(full) {
		t.Fatalf("shape changed with Services:\n%s\nvs\n%s", shape(empty), shape(full))
	}
	if !strings.Contains(shape(full), "r1 v4=true v6=false c={false 64512:1} c={true 1:2:3} lp=100") {
		t.Fatalf("unexpected shape:\n%s", shape(full))
	}
	if got := full.Services; len(got) != 1 || !reflect.DeepEqual(got[0].Peers, []string{"r1", "r2"}) {
		t.Fatalf("service announcements %+v", got)
	}
}

func TestSessionsKeepsPeersOnly(t *testing.T) {
	in := Input{
		Pools: []v1beta1.IPAddressPool{pool("vips", 0, "203.0.113.0/24")},
		Peers: []v1beta2.BGPPeer{peer("r1", 0), peer("r2", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "198.51.100.2" })},
		BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("tagged", func(s *v1beta1.BGPAdvertisementSpec) {
			s.Communities = []v1beta1.CommunityRef{"64512:1"}
		})},
		Nodes: []corev1.Node{node("node1", nil)},
	}
	cfg, ps := Build(in, nil)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	full, _ := BuildNode(cfg, NodeInput{Node: &in.Nodes[0], Services: []corev1.Service{lbService("a", "web", nil, "203.0.113.5")},
		EndpointSlices: []discoveryv1.EndpointSlice{endpointSlice("a", "web", "node1", nil)}})
	got := full.Sessions()
	if len(got.Services) != 0 || got.NodeName != "node1" || len(got.Routers) != len(full.Routers) {
		t.Fatalf("sessions %+v of %+v", got, full)
	}
	for i, r := range got.Routers {
		want := full.Routers[i]
		if r.VRF != want.VRF || r.MyASN != want.MyASN || len(r.Networks4)+len(r.Networks6) != 0 || len(r.Neighbors) != len(want.Neighbors) {
			t.Fatalf("router %d: %+v, want the sessions of %+v", i, r, want)
		}
		for j, n := range r.Neighbors {
			if n.Peer != want.Neighbors[j].Peer || n.IPv4 != want.Neighbors[j].IPv4 || n.All.Len() != 0 || n.Communities != nil {
				t.Fatalf("neighbour %d: %+v, want the session of %+v", j, n, want.Neighbors[j])
			}
		}
	}
	if full.Routers[0].Neighbors[0].All.Len() == 0 {
		t.Fatal("the full model lost its prefixes")
	}
}

func TestSafeToken(t *testing.T) {
	for s, want := range map[string]bool{"": true, "s3!cr#t": true, "eth0": true, "a b": false, "a\nb": false, "a\x00": false, "é": false, "a\u2028b": false} {
		if got := SafeToken(s); got != want {
			t.Errorf("SafeToken(%q) = %v, want %v", s, got, want)
		}
	}
}
