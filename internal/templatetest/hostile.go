package templatetest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
)

// Hostile is one set of random but plausible objects for one node, as a careless or hostile user
// might write them: field values at and past the daemons' edges (AS numbers, names that grow into
// long symbols, odd addresses, passwords with spaces, quotes and newlines or over 80 characters,
// VRF names, timers, ports, communities, localPref). Objects name each other mostly correctly, so
// most sets reach the renderers. Namespaced objects go into ns; the Node (the first object, which
// becomes the hostname) has a name ending in unique, at times a long one.
func Hostile(r *rand.Rand, ns, unique string) []client.Object {
	g := hostileGen{r: r, ns: ns}
	node := "node-" + unique
	if g.odds(4) {
		node = strings.Repeat("rack-0.", 30) + node // a DNS subdomain of up to 253 characters
	}
	var objs []client.Object
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{"rack": g.pick("a", "b")}}})
	objs = append(objs, g.pool(), g.bfd(), g.community())
	var peers []string
	for i := 0; i < 1+r.IntN(3); i++ {
		p, secret := g.peer(i)
		peers = append(peers, p.Name)
		objs = append(objs, p)
		if secret != nil {
			objs = append(objs, secret)
		}
	}
	objs = append(objs, g.advertisement(peers))
	return append(objs, g.service()...)
}

type hostileGen struct {
	r  *rand.Rand
	ns string
}

func (g hostileGen) meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: g.ns}
}

func (g hostileGen) pick(vs ...string) string { return vs[g.r.IntN(len(vs))] }

// odds is true about once in n.
func (g hostileGen) odds(n int) bool { return g.r.IntN(n) == 0 }

func pickOf[T any](g hostileGen, vs ...T) T { return vs[g.r.IntN(len(vs))] }

// name is a DNS label, often long: BIRD symbols and FRR route-map names are built from it.
func (g hostileGen) name(base string) string {
	switch g.r.IntN(4) {
	case 0:
		return base
	case 1:
		return base + "." + g.pick("a", "tor-1", "x.y")
	default:
		n := 1 + g.r.IntN(63-len(base))
		return base + "-" + strings.Repeat(g.pick("a", "0", "z-9"), n)[:n-1] + "x"
	}
}

var hostileASNs = []uint32{0, 1, 23456, 64512, 64513, 65535, 65536, 4200000000, 4294967294, 4294967295}

func (g hostileGen) asn() uint32 {
	if !g.odds(4) {
		return pickOf[uint32](g, 64512, 64513)
	}
	return pickOf(g, hostileASNs...)
}

// address is mostly a lab address of the family, sometimes one no session can use.
func (g hostileGen) address(v6 bool) string {
	if !g.odds(4) {
		if v6 {
			return fmt.Sprintf("2001:db8::%x", 1+g.r.IntN(0xfffe))
		}
		return fmt.Sprintf("198.51.100.%d", 1+g.r.IntN(254))
	}
	if v6 {
		return g.pick("::", "::1", "fe80::1", "ff02::1", "fe80::1%eth0", "2001:db8::", "::ffff:198.51.100.1", "2001:DB8::A", "2001:db8:0:0:0:0:0:1")
	}
	return g.pick("0.0.0.0", "127.0.0.1", "169.254.0.1", "224.0.0.5", "255.255.255.255", "198.51.100.0", "198.51.100.255", "198.51.100.01")
}

func (g hostileGen) password() v1beta1.ConfigToken {
	return v1beta1.ConfigToken(g.pick("s3cret", "with space", `quo"te`, "it's", "new\nline", "tab\there",
		`back\slash`, "#hash", "!bang", strings.Repeat("p", 80), strings.Repeat("q", 81), "ünï", "a;b}c{", "$(reboot)"))
}

func (g hostileGen) duration(vs ...string) *metav1.Duration {
	d, err := time.ParseDuration(g.pick(vs...))
	if err != nil {
		panic(err)
	}
	return &metav1.Duration{Duration: d}
}

func (g hostileGen) peer(i int) (*v1beta2.BGPPeer, *corev1.Secret) {
	v6 := g.odds(3)
	p := &v1beta2.BGPPeer{ObjectMeta: g.meta(g.name(fmt.Sprintf("peer%d", i))), Spec: v1beta2.BGPPeerSpec{MyASN: g.asn(), ASN: g.asn()}}
	s := &p.Spec
	switch {
	case g.odds(8):
		s.Interface = v1beta1.InterfaceName(g.pick("eth0", "eth1", "a-very-long-ifname"))
	default:
		s.Address = g.address(v6)
	}
	if g.odds(4) {
		s.SrcAddress = g.address(v6 != g.odds(8))
	}
	if g.odds(8) {
		s.ASN, s.DynamicASN = 0, v1beta2.DynamicASNMode(g.pick("internal", "external"))
	}
	if g.odds(5) {
		s.LocalASN = g.asn()
	}
	if g.odds(3) {
		s.Port = pickOf[uint16](g, 0, 1, 179, 1179, 16384, 16385)
	}
	if g.odds(2) {
		s.HoldTime = g.duration("0s", "1s", "3s", "9s", "90s", "3500ms", "65535s", "65536s", "-3s")
	}
	if g.odds(2) {
		s.KeepaliveTime = g.duration("0s", "1s", "3s", "30s", "1500ms", "100s", "-1s")
	}
	if g.odds(4) {
		s.ConnectTime = g.duration("0s", "1s", "5s", "65535s", "1500ms")
	}
	if g.odds(4) {
		s.RouterID = g.pick("198.51.100.200", "0.0.0.0", "255.255.255.255", "2001:db8::1", "10.0.0.1")
	}
	if g.odds(3) {
		s.VRFName = v1beta1.VRFName(g.pick("default", "red", "vrf-with-16char", "vrf-15-chars-ab", "red.blue", "r-d", `r"d`, "Default", "r:d", "r/d", "r#d"))
	}
	if g.odds(3) {
		s.BFDProfile = v1beta1.ObjectName(g.pick("fast", "missing"))
	}
	s.EBGPMultiHop, s.EnableGracefulRestart = g.odds(4), g.odds(4)
	s.DisableMP, s.DualStackAddressFamily = g.odds(6), g.odds(6)
	if g.odds(4) {
		s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": g.pick("a", "b")}}}
	}
	if g.odds(5) {
		s.ToReceive = &v1beta2.Receive{Allowed: v1beta2.AllowedInPrefixes{Mode: v1beta2.AllowMode(g.pick("all", "filtered"))}}
		if s.ToReceive.Allowed.Mode == "filtered" {
			s.ToReceive.Allowed.Prefixes = []v1beta2.PrefixSelector{{Prefix: g.pick("198.18.0.0/15", "2001:db8:1::/48", "0.0.0.0/0")}}
		}
	}
	switch g.r.IntN(4) {
	case 0:
		s.Password = g.password()
	case 1:
		name := g.name(fmt.Sprintf("pw%d", i))
		s.PasswordSecret = corev1.SecretReference{Name: name, Namespace: g.ns}
		sec := &corev1.Secret{ObjectMeta: g.meta(name), Type: corev1.SecretTypeBasicAuth,
			Data: map[string][]byte{corev1.BasicAuthPasswordKey: []byte(g.password())}}
		if g.odds(6) {
			sec.Type = corev1.SecretTypeOpaque
		}
		return p, sec
	}
	return p, nil
}

func (g hostileGen) pool() *v1beta1.IPAddressPool {
	addrs := []v1beta1.PoolAddress{"203.0.113.0/24"}
	if g.odds(2) {
		addrs = append(addrs, v1beta1.PoolAddress(g.pick("2001:db8:ff::/120", "2001:db8:ff::10-2001:db8:ff::20", "2001:db8:ff::1/128")))
	}
	return &v1beta1.IPAddressPool{ObjectMeta: g.meta(g.name("vips")), Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs, AvoidBuggyIPs: g.odds(4)}}
}

func (g hostileGen) bfd() *v1beta1.BFDProfile {
	u := func(vs ...uint32) *uint32 {
		if g.odds(2) {
			return nil
		}
		v := pickOf(g, vs...)
		return &v
	}
	b := &v1beta1.BFDProfile{ObjectMeta: g.meta("fast"), Spec: v1beta1.BFDProfileSpec{
		ReceiveInterval: u(9, 10, 300, 60000, 60001), TransmitInterval: u(9, 10, 300, 60000, 60001),
		DetectMultiplier: u(1, 2, 3, 255, 256), EchoInterval: u(9, 10, 50, 60000, 60001), MinimumTTL: u(0, 1, 254, 255, 256)}}
	if g.odds(4) {
		on := true
		b.Spec.EchoMode = &on
	}
	if g.odds(4) {
		on := true
		b.Spec.PassiveMode = &on
	}
	return b
}

func (g hostileGen) community() *v1beta1.Community {
	c := &v1beta1.Community{ObjectMeta: g.meta("aliases")}
	for i := 0; i < 1+g.r.IntN(3); i++ {
		c.Spec.Communities = append(c.Spec.Communities, v1beta1.CommunityAlias{
			Name:  g.pick("tag", "no-export", "a b", "very-long-alias-name-that-grows-into-a-symbol-name-x", fmt.Sprintf("alias%d", i), fmt.Sprintf("alias%d", i)),
			Value: v1beta1.CommunityValue(g.pick(g.community1(), "64512:100", "large:64512:1:2"))})
	}
	return c
}

// community1 is one community value, standard or large, at or past its edges.
func (g hostileGen) community1() string {
	return g.pick("64512:100", "0:0", "65535:65535", "65536:1", "1:65536", "large:1:2:3", "large:4294967295:4294967295:4294967295",
		"large:4294967296:1:1", "no-export", "no-advertise", "64512:100 ", "4294967295", "large:1:2")
}

func (g hostileGen) advertisement(peers []string) *v1beta1.BGPAdvertisement {
	a := &v1beta1.BGPAdvertisement{ObjectMeta: g.meta(g.name("adv"))}
	s := &a.Spec
	if g.odds(2) {
		s.LocalPref = pickOf[uint32](g, 0, 1, 100, 4294967295)
	}
	for i := 0; i < g.r.IntN(3); i++ {
		s.Communities = append(s.Communities, v1beta1.CommunityRef(g.pick(g.community1(), "tag", "alias0", "alias0", "very-long-alias-name-that-grows-into-a-symbol-name-x", "unknown-alias")))
	}
	if g.odds(3) {
		v := pickOf[int32](g, 0, 8, 24, 32, 33)
		s.AggregationLength = &v
	}
	if g.odds(4) {
		v := pickOf[int32](g, 0, 64, 120, 128, 129)
		s.AggregationLengthV6 = &v
	}
	if g.odds(3) {
		s.Peers = []v1beta1.ObjectName{v1beta1.ObjectName(pickOf(g, peers...))}
	}
	return a
}

// service is a LoadBalancer Service with a VIP of the pool in its status, and its EndpointSlice
// with a ready pod, so the VIP is announced wherever the rest of the set allows.
func (g hostileGen) service() []client.Object {
	name := g.name("svc")
	svc := &corev1.Service{ObjectMeta: g.meta(name), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
		Ports: []corev1.ServicePort{{Port: 80}}}}
	if g.odds(4) {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	ingress := []corev1.LoadBalancerIngress{{IP: fmt.Sprintf("203.0.113.%d", g.r.IntN(256))}}
	if g.odds(2) {
		ingress = append(ingress, corev1.LoadBalancerIngress{IP: g.pick("2001:db8:ff::10", "2001:db8:ff::1")})
	}
	svc.Status.LoadBalancer.Ingress = ingress
	slice := &discoveryv1.EndpointSlice{ObjectMeta: g.meta(name + "-pods"), AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}, NodeName: ptr("pods"),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}}}
	slice.Labels = map[string]string{discoveryv1.LabelServiceName: name}
	return []client.Object{svc, slice}
}
