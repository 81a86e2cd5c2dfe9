package nodeconfig

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/model"
)

func l2Node(name string, labels map[string]string, conds ...corev1.NodeCondition) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.NodeStatus{Conditions: conds}}
}

func l2Svc(name string, etp corev1.ServiceExternalTrafficPolicy, class *string, ips ...string) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: etp, LoadBalancerClass: class}}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func l2Pool(name string, addrs ...v1beta1.PoolAddress) v1beta1.IPAddressPool {
	return v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs}}
}

func l2Sel(k, v string) []metav1.LabelSelector {
	return []metav1.LabelSelector{{MatchLabels: map[string]string{k: v}}}
}

func TestComputeL2(t *testing.T) {
	ready, notReady := true, false
	addr := []string{"10.0.0.1"}
	other := "other"
	nodes := []corev1.Node{
		l2Node("a", map[string]string{"zone": "1", "fast": "yes"}),
		l2Node("b", map[string]string{"zone": "1"}),
		l2Node("c", map[string]string{"zone": "2"}),
		l2Node("d", map[string]string{"zone": "1", corev1.LabelNodeExcludeBalancers: ""}),
		l2Node("e", map[string]string{"zone": "1"}, corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue}),
	}
	slice := discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "local-x", Labels: map[string]string{discoveryv1.LabelServiceName: "local"}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: addr, NodeName: l2Ptr("b"), Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{Addresses: addr, NodeName: l2Ptr("c")},
			{Addresses: addr, NodeName: l2Ptr("a"), Conditions: discoveryv1.EndpointConditions{Ready: &notReady}},
		}}
	eps := []discoveryv1.EndpointSlice{slice}
	for _, name := range []string{"cluster", "shared", "bgp", "classy"} { // served somewhere
		eps = append(eps, l2Slice(name, "z"))
	}
	in := SpeakerInput{NodeName: "a", Input: model.Input{
		Nodes: nodes,
		Pools: []v1beta1.IPAddressPool{l2Pool("p1", "203.0.113.0/28"), l2Pool("p2", "2001:db8::/120"), l2Pool("bgp-only", "203.0.113.64/28")},
		L2Advs: []v1beta1.L2Advertisement{
			{ObjectMeta: metav1.ObjectMeta{Name: "zone1"}, Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"p1"},
				NodeSelectors: l2Sel("zone", "1"), PreferredNodeSelectors: []v1beta1.PreferredNodeSelector{{Weight: 50, Preference: l2Sel("fast", "yes")[0]}}, Interfaces: []v1beta1.InterfaceName{"eth1", "eth0"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "v6"}, Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"p2"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "zone2"}, Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"p1"},
				NodeSelectors: l2Sel("zone", "2"), Interfaces: []v1beta1.InterfaceName{"bond0"}}},
		},
	}, Services: []corev1.Service{
		l2Svc("cluster", corev1.ServiceExternalTrafficPolicyCluster, nil, "203.0.113.1", "2001:db8::1"),
		l2Svc("shared", corev1.ServiceExternalTrafficPolicyCluster, nil, "203.0.113.1"),
		l2Svc("local", corev1.ServiceExternalTrafficPolicyLocal, nil, "203.0.113.2"),
		l2Svc("bgp", corev1.ServiceExternalTrafficPolicyCluster, nil, "203.0.113.65"),
		l2Svc("classy", corev1.ServiceExternalTrafficPolicyCluster, &other, "203.0.113.3"),
		l2Svc("broken", corev1.ServiceExternalTrafficPolicyCluster, nil, "not-an-ip"),
	}, EndpointSlices: eps}

	res := ComputeL2(in, nil)
	want := map[netip.Addr]L2VIP{
		netip.MustParseAddr("203.0.113.1"): {
			Services: []types.NamespacedName{{Namespace: "ns", Name: "cluster"}, {Namespace: "ns", Name: "shared"}},
			Eligible: []string{"a", "b", "c"}, Preferred: []string{"a"}, Interfaces: []string{"eth0", "eth1"},
			Key: netip.MustParseAddr("203.0.113.1"),
		},
		netip.MustParseAddr("2001:db8::1"): {
			// The dual-stack Service's second VIP is elected by its first: one owner for both.
			Services: []types.NamespacedName{{Namespace: "ns", Name: "cluster"}}, Eligible: []string{"a", "b", "c"},
			Key: netip.MustParseAddr("203.0.113.1"),
		},
		// Local: only b (ready) and c (ready unset); a's endpoint is not ready.
		netip.MustParseAddr("203.0.113.2"): {
			Services: []types.NamespacedName{{Namespace: "ns", Name: "local"}}, Eligible: []string{"b", "c"}, Interfaces: []string{"eth0", "eth1"},
			Key: netip.MustParseAddr("203.0.113.2"),
		},
	}
	if len(res.VIPs) != len(want) {
		t.Fatalf("VIPs %v, want %d of them", l2Keys(res.VIPs), len(want))
	}
	for vip, w := range want {
		got := res.VIPs[vip]
		if got == nil {
			t.Fatalf("%s missing", vip)
		}
		if !slices.Equal(got.Services, w.Services) || !slices.Equal(got.Eligible, w.Eligible) ||
			!slices.Equal(got.Preferred, w.Preferred) || !slices.Equal(got.Interfaces, w.Interfaces) || got.Key != w.Key {
			t.Errorf("%s: got %+v, want %+v", vip, *got, w)
		}
	}
	if len(res.Problems.For(model.Ref{Kind: model.KindService, Name: "ns/broken"})) != 1 {
		t.Errorf("no problem reported for the bad ingress IP: %v", res.Problems)
	}

	// Seen from c, the zone2 advertisement's interfaces apply.
	in.NodeName = "c"
	if got := ComputeL2(in, nil).VIPs[netip.MustParseAddr("203.0.113.1")].Interfaces; !slices.Equal(got, []string{"bond0"}) {
		t.Errorf("interfaces on c: %v, want [bond0]", got)
	}
	// The class filter.
	in.LBClass = "other"
	if vips := ComputeL2(in, nil).VIPs; len(vips) != 1 || vips[netip.MustParseAddr("203.0.113.3")] == nil {
		t.Errorf("with --lb-class other: %v", l2Keys(vips))
	}
}

// TestComputeL2Withdraws: the node and endpoint rules of both modes, seen in Layer 2.
func TestComputeL2Withdraws(t *testing.T) {
	in := SpeakerInput{NodeName: "a", Input: model.Input{
		Nodes: []corev1.Node{l2Node("a", nil), l2Node("b", map[string]string{corev1.LabelNodeExcludeBalancers: "yes"})},
		Pools: []v1beta1.IPAddressPool{l2Pool("p1", "203.0.113.0/28")},
		L2Advs: []v1beta1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "all"},
			Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"p1"}}}},
	}, Services: []corev1.Service{l2Svc("web", corev1.ServiceExternalTrafficPolicyCluster, nil, "203.0.113.1")}}
	vip := netip.MustParseAddr("203.0.113.1")
	eligible := func() []string {
		t.Helper()
		v := ComputeL2(in, nil).VIPs[vip]
		if v == nil {
			t.Fatal("VIP missing")
		}
		return v.Eligible
	}
	if got := eligible(); len(got) != 0 {
		t.Errorf("no endpoint anywhere: eligible %v, want none (withdrawn, as MetalLB)", got)
	}
	served := l2Slice("web", "a")
	f := false
	served.Endpoints[0].Conditions = discoveryv1.EndpointConditions{Ready: &f, Serving: &f}
	in.EndpointSlices = []discoveryv1.EndpointSlice{served}
	if got := eligible(); len(got) != 0 {
		t.Errorf("only an endpoint that stopped serving: eligible %v, want none", got)
	}
	in.EndpointSlices = []discoveryv1.EndpointSlice{l2Slice("web", "z")}
	if got := eligible(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("served elsewhere: eligible %v, want [a] (b is excluded)", got)
	}
	in.IgnoreExcludeLB = true
	if got := eligible(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("--ignore-exclude-lb: eligible %v, want [a b]", got)
	}
}

// l2Slice is an EndpointSlice of Service ns/svc with one ready endpoint on node.
func l2Slice(svc, node string) discoveryv1.EndpointSlice {
	return discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: svc + "-" + node,
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.2"}, NodeName: &node}}}
}

func l2Keys(m map[netip.Addr]*L2VIP) []netip.Addr {
	var out []netip.Addr
	for k := range m {
		out = append(out, k)
	}
	return out
}

func l2Ptr(s string) *string { return &s }

// TestL2PreferenceAndServiceSelectors: preference weights add up over the advertisements of a VIP and
// the nodes with the top score are preferred; serviceSelectors keep an advertisement to its Services.
func TestL2PreferenceAndServiceSelectors(t *testing.T) {
	pref := func(w int32, k, v string) v1beta1.PreferredNodeSelector {
		return v1beta1.PreferredNodeSelector{Weight: w, Preference: l2Sel(k, v)[0]}
	}
	web := l2Svc("web", corev1.ServiceExternalTrafficPolicyCluster, nil, "203.0.113.1")
	web.Labels = map[string]string{"tier": "web"}
	in := SpeakerInput{NodeName: "a", Input: model.Input{
		Nodes: []corev1.Node{
			l2Node("a", map[string]string{"rack": "1"}),
			l2Node("b", map[string]string{"rack": "1", "ssd": "yes"}),
			l2Node("c", map[string]string{"ssd": "yes", "gpu": "yes"}),
		},
		Pools: []v1beta1.IPAddressPool{l2Pool("p1", "203.0.113.0/28")},
		L2Advs: []v1beta1.L2Advertisement{
			{ObjectMeta: metav1.ObjectMeta{Name: "rack"}, Spec: v1beta1.L2AdvertisementSpec{
				PreferredNodeSelectors: []v1beta1.PreferredNodeSelector{pref(60, "rack", "1")}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "ssd"}, Spec: v1beta1.L2AdvertisementSpec{
				PreferredNodeSelectors: []v1beta1.PreferredNodeSelector{pref(30, "ssd", "yes")}}},
			// Only for tier=db: must not add node c's weight to web.
			{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: v1beta1.L2AdvertisementSpec{
				ServiceSelectors:       l2Sel("tier", "db"),
				PreferredNodeSelectors: []v1beta1.PreferredNodeSelector{pref(100, "gpu", "yes")}}},
		},
	}, Services: []corev1.Service{web}, EndpointSlices: []discoveryv1.EndpointSlice{l2Slice("web", "a")}}
	res := ComputeL2(in, nil)
	if len(res.Problems) > 0 {
		t.Fatal(res.Problems)
	}
	v := res.VIPs[netip.MustParseAddr("203.0.113.1")]
	if v == nil {
		t.Fatalf("no VIP: %v", l2Keys(res.VIPs))
	}
	// a: 60, b: 60+30, c: 30 (db's 100 does not count for web).
	if !slices.Equal(v.Preferred, []string{"b"}) || !slices.Equal(v.Eligible, []string{"a", "b", "c"}) {
		t.Errorf("preferred %v eligible %v, want [b] and [a b c]", v.Preferred, v.Eligible)
	}
	// Every candidate keeps its score (MetalLB orders them all), not only the top tier.
	if want := map[string]int64{"a": 60, "b": 90, "c": 30}; !maps.Equal(v.Scores, want) {
		t.Errorf("scores %v, want %v", v.Scores, want)
	}
	// Only the db advertisement selects a db Service.
	in.Services[0].Labels = map[string]string{"tier": "db"}
	v = ComputeL2(in, nil).VIPs[netip.MustParseAddr("203.0.113.1")]
	if v == nil || !slices.Equal(v.Preferred, []string{"c"}) {
		t.Errorf("db Service: %+v, want preferred [c] (30+100 over b's 90)", v)
	}
}
