package model

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
)

func meta(name string, age int) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "metallb-system",
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Duration(age) * time.Hour))}
}

func pool(name string, age int, addrs ...string) v1beta1.IPAddressPool {
	p := v1beta1.IPAddressPool{ObjectMeta: meta(name, age)}
	for _, a := range addrs {
		p.Spec.Addresses = append(p.Spec.Addresses, v1beta1.PoolAddress(a))
	}
	return p
}

func peer(name string, age int, mut ...func(*v1beta2.BGPPeerSpec)) v1beta2.BGPPeer {
	p := v1beta2.BGPPeer{ObjectMeta: meta(name, age), Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1"}}
	for _, m := range mut {
		m(&p.Spec)
	}
	return p
}

func bgpAdv(name string, mut func(*v1beta1.BGPAdvertisementSpec)) v1beta1.BGPAdvertisement {
	a := v1beta1.BGPAdvertisement{ObjectMeta: meta(name, 0)}
	if mut != nil {
		mut(&a.Spec)
	}
	return a
}

func node(name string, labels map[string]string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func ptr[T any](v T) *T { return &v }

func TestBuild(t *testing.T) {
	nodes := []corev1.Node{node("node1", map[string]string{"rack": "a"}), node("node2", map[string]string{"rack": "b"})}
	cases := []struct {
		name     string
		in       Input
		problems []string // substrings, one per expected problem, in order
		waits    bool     // every problem waits for another object (admission lets them in)
		check    func(t *testing.T, c *Config)
	}{
		{name: "seed pool", in: Input{Pools: []v1beta1.IPAddressPool{pool("bgp-pool", 0, "192.168.1.250/32")}},
			check: func(t *testing.T, c *Config) {
				p := c.Pools["bgp-pool"]
				want := Range{netip.MustParseAddr("192.168.1.250"), netip.MustParseAddr("192.168.1.250")}
				if p == nil || len(p.Ranges) != 1 || p.Ranges[0] != want || !p.AutoAssign {
					t.Fatalf("got %+v", p)
				}
			}},
		{name: "cidr with host bits and v6 range", in: Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.7/24", "2001:db8::10 - 2001:db8::1f")}},
			check: func(t *testing.T, c *Config) {
				r := c.Pools["p"].Ranges
				if r[0].First.String() != "203.0.113.0" || r[0].Last.String() != "203.0.113.255" || r[1].Last.String() != "2001:db8::1f" {
					t.Fatalf("got %v", r)
				}
			}},
		{name: "reversed range", in: Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.9-203.0.113.1")}},
			problems: []string{"IPAddressPool p: spec.addresses[0]: invalid range \"203.0.113.9-203.0.113.1\": it ends before it starts"}},
		{name: "mixed family range", in: Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.1-2001:db8::1")}},
			problems: []string{"same IP family"}},
		{name: "overlap inside one pool", in: Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.0/24", "203.0.113.5-203.0.113.6")}},
			problems: []string{"IPAddressPool p: spec.addresses[1]: \"203.0.113.5-203.0.113.6\" overlaps another entry"}},
		{name: "overlapping pools: the newer one is out, both named",
			in:       Input{Pools: []v1beta1.IPAddressPool{pool("new", 1, "203.0.113.128/25"), pool("old", 5, "203.0.113.0/24")}},
			problems: []string{"IPAddressPool new: spec.addresses: 203.0.113.128-203.0.113.255 overlaps addresses of IPAddressPool old, which is older (IPAddressPool old)"},
			check: func(t *testing.T, c *Config) {
				if c.Pools["old"] == nil || c.Pools["new"] != nil {
					t.Fatalf("want only old, got %v", c.Pools)
				}
			}},
		{name: "service allocation", in: Input{Pools: []v1beta1.IPAddressPool{func() v1beta1.IPAddressPool {
			p := pool("p", 0, "203.0.113.0/24")
			p.Spec.AutoAssign = ptr(false)
			p.Spec.AllocateTo = &v1beta1.ServiceAllocation{Priority: 10, Namespaces: []string{"a"},
				ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "web"}}}}
			return p
		}()}}, check: func(t *testing.T, c *Config) {
			p := c.Pools["p"]
			if p.AutoAssign || !p.HasPriority || p.Priority != 10 || len(p.ServiceSelectors) != 1 || !MatchesAny(p.ServiceSelectors, map[string]string{"tier": "web"}) {
				t.Fatalf("got %+v", p)
			}
		}},
		{name: "advertisement naming a missing pool names both",
			in:       Input{BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) { s.IPAddressPools = []v1beta1.ObjectName{"nope"} })}},
			problems: []string{"BGPAdvertisement adv: spec.ipAddressPools[0]: IPAddressPool \"nope\" does not exist; the advertisement applies to it once it is created (IPAddressPool nope)"},
			waits:    true,
			check: func(t *testing.T, c *Config) {
				if c.BGPAdvs["adv"] == nil {
					t.Fatal("an advertisement waiting for a pool is kept")
				}
			}},
		{name: "advertisement naming a present and a missing pool announces the present one",
			in: Input{Pools: []v1beta1.IPAddressPool{pool("a", 0, "203.0.113.0/25")}, BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
				s.IPAddressPools = []v1beta1.ObjectName{"later", "a"}
			})}},
			problems: []string{"BGPAdvertisement adv: spec.ipAddressPools[0]: IPAddressPool \"later\" does not exist"},
			waits:    true,
			check: func(t *testing.T, c *Config) {
				if a := c.BGPAdvs["adv"]; a == nil || strings.Join(a.Pools, ",") != "a" {
					t.Fatalf("got %+v", a)
				}
			}},
		{name: "advertisement with no pools announces all",
			in: Input{Pools: []v1beta1.IPAddressPool{pool("a", 0, "203.0.113.0/25"), pool("b", 0, "203.0.113.128/25")}, BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", nil)}},
			check: func(t *testing.T, c *Config) {
				if got := strings.Join(c.BGPAdvs["adv"].Pools, ","); got != "a,b" {
					t.Fatalf("pools %s", got)
				}
			}},
		{name: "advertisement pool selector",
			in: Input{Pools: []v1beta1.IPAddressPool{pool("a", 0, "203.0.113.0/25"), func() v1beta1.IPAddressPool {
				p := pool("b", 0, "203.0.113.128/25")
				p.Labels = map[string]string{"mode": "bgp"}
				return p
			}()}, BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
				s.IPAddressPoolSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"mode": "bgp"}}}
			})}},
			check: func(t *testing.T, c *Config) {
				if got := strings.Join(c.BGPAdvs["adv"].Pools, ","); got != "b" {
					t.Fatalf("pools %s", got)
				}
			}},
		{name: "advertisement naming a missing peer",
			in:       Input{BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) { s.Peers = []v1beta1.ObjectName{"ghost"} })}},
			problems: []string{"BGPAdvertisement adv: spec.peers[0]: BGPPeer \"ghost\" does not exist or is invalid; the advertisement applies to it once it is valid (BGPPeer ghost)"},
			waits:    true,
			check: func(t *testing.T, c *Config) {
				if a := c.BGPAdvs["adv"]; a == nil || strings.Join(a.Peers, ",") != "ghost" {
					t.Fatalf("an advertisement waiting for a peer is kept, with the peer: %+v", a)
				}
			}},
		{name: "communities and aliases resolved, duplicates dropped",
			in: Input{Communities: []v1beta1.Community{{ObjectMeta: meta("c", 0), Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: "no-adv", Value: "65535:65282"}}}}},
				BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
					s.Communities = []v1beta1.CommunityRef{"no-adv", "65535:65282", "large:4200000000:1:2"}
				})}},
			check: func(t *testing.T, c *Config) {
				got := c.BGPAdvs["adv"].Communities
				if len(got) != 2 || got[0] != (Community{Value: "65535:65282"}) || got[1] != (Community{Large: true, Value: "4200000000:1:2"}) {
					t.Fatalf("got %v", got)
				}
			}},
		{name: "missing alias", in: Input{BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) { s.Communities = []v1beta1.CommunityRef{"nope"} })}},
			problems: []string{"BGPAdvertisement adv: spec.communities[0]: \"nope\" is not a community value and no Community defines it as an alias; the advertisement waits for it (CommunityAlias nope)"},
			waits:    true,
			check: func(t *testing.T, c *Config) {
				if c.BGPAdvs["adv"] != nil {
					t.Fatal("an advertisement missing a community must wait as a whole")
				}
			}},
		{name: "community out of range", in: Input{BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) { s.Communities = []v1beta1.CommunityRef{"65536:1"} })}},
			problems: []string{"spec.communities[0]"}},
		{name: "alias defined twice names both Community objects",
			in: Input{Communities: []v1beta1.Community{
				{ObjectMeta: meta("new", 1), Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: "x", Value: "1:2"}}}},
				{ObjectMeta: meta("old", 3), Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: "x", Value: "1:1"}}}}}},
			problems: []string{"Community new: spec.communities[0].name: alias \"x\" is already defined (Community old)"}},
		{name: "peer naming a missing BFD profile",
			in:       Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.BFDProfile = "fast" })}},
			problems: []string{"BGPPeer r1: spec.bfdProfile: BFDProfile \"fast\" does not exist or is invalid; the session waits for it (BFDProfile fast)"},
			waits:    true,
			check: func(t *testing.T, c *Config) {
				if c.Peers["r1"] != nil {
					t.Fatal("a peer with a missing profile must be left out")
				}
			}},
		{name: "peer with existing BFD profile and defaults",
			in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.BFDProfile = "fast" })},
				BFDProfiles: []v1beta1.BFDProfile{{ObjectMeta: meta("fast", 0), Spec: v1beta1.BFDProfileSpec{ReceiveInterval: ptr(uint32(100))}}}},
			check: func(t *testing.T, c *Config) {
				b := c.BFDProfiles["fast"]
				if c.Peers["r1"] == nil || *b != (BFDProfile{Name: "fast", ReceiveInterval: 100, TransmitInterval: 300, DetectMultiplier: 3, EchoInterval: 50}) {
					t.Fatalf("got %+v %+v", c.Peers["r1"], b)
				}
			}},
		{name: "BFD echo and minimum TTL together, as MetalLB's full profile",
			in: Input{BFDProfiles: []v1beta1.BFDProfile{{ObjectMeta: meta("b", 0), Spec: v1beta1.BFDProfileSpec{EchoMode: ptr(true), MinimumTTL: ptr(uint32(5))}}}},
			check: func(t *testing.T, c *Config) {
				if b := c.BFDProfiles["b"]; b == nil || !b.EchoMode || b.MinimumTTL != 5 {
					t.Fatalf("got %+v", b)
				}
			}},
		{name: "BFD interval out of range", in: Input{BFDProfiles: []v1beta1.BFDProfile{{ObjectMeta: meta("b", 0), Spec: v1beta1.BFDProfileSpec{TransmitInterval: ptr(uint32(5))}}}},
			problems: []string{"BFDProfile b: spec.transmitInterval: must be 10 to 60000 ms"}},
		{name: "password secret missing", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "pw" })}},
			problems: []string{"BGPPeer r1: spec.passwordSecret: Secret \"pw\" does not exist; the session waits for it (Secret pw)"}, waits: true},
		{name: "password secret of the wrong type",
			in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "pw" })},
				Secrets: []corev1.Secret{{ObjectMeta: meta("pw", 0), Type: corev1.SecretTypeOpaque}}},
			problems: []string{"must be of type kubernetes.io/basic-auth"}, waits: true},
		{name: "password secret read",
			in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "pw" })},
				Secrets: []corev1.Secret{{ObjectMeta: meta("pw", 0), Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"password": []byte("s3cr3t")}}}},
			check: func(t *testing.T, c *Config) {
				if c.Peers["r1"].Password != "s3cr3t" {
					t.Fatalf("got %+v", c.Peers["r1"])
				}
			}},
		{name: "myASN 0 is reserved", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.MyASN = 0 })}},
			problems: []string{"BGPPeer r1: spec.myASN: must be an AS number from 1 to 4294967295"}},
		{name: "peerAddress unspecified", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "::" })}},
			problems: []string{`BGPPeer r1: spec.peerAddress: must be a unicast address, not unspecified, multicast or broadcast (got "::")`}},
		{name: "peerAddress 0.0.0.0", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "0.0.0.0" })}},
			problems: []string{`BGPPeer r1: spec.peerAddress: must be a unicast address`}},
		{name: "peerAddress multicast", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "ff02::1" })}},
			problems: []string{`BGPPeer r1: spec.peerAddress: must be a unicast address`}},
		{name: "peerAddress IPv4-mapped", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "::ffff:198.51.100.1" })}},
			problems: []string{`BGPPeer r1: spec.peerAddress: must be an IPv4 address or an IPv6 address, not an IPv4-mapped IPv6 address`}},
		{name: "peerAddress loopback is a peer", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "127.0.0.1" })}}},
		{name: "sourceAddress unspecified", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.SrcAddress = "0.0.0.0" })}},
			problems: []string{`BGPPeer r1: spec.sourceAddress: must be a unicast address, not unspecified, multicast or broadcast (got "0.0.0.0")`}},
		{name: "sourceAddress broadcast", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.SrcAddress = "255.255.255.255" })}},
			problems: []string{`BGPPeer r1: spec.sourceAddress: must be a unicast address`}},
		{name: "sourceAddress link-local is FRR's to judge", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "2001:db8::1"; s.SrcAddress = "fe80::1" })}}},
		{name: "keepaliveTime negative", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.KeepaliveTime = &metav1.Duration{Duration: -time.Second} })}},
			problems: []string{"BGPPeer r1: spec.keepaliveTime: must be whole seconds, not negative and not longer than holdTime 1m30s (got -1s)"}},
		{name: "holdTime of a fraction", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.HoldTime = &metav1.Duration{Duration: 3500 * time.Millisecond} })}},
			problems: []string{"BGPPeer r1: spec.holdTime: must be 0 or whole seconds from 3s to 65535s (got 3.5s)"}},
		{name: "inline password of 81 characters", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Password = v1beta1.ConfigToken(strings.Repeat("p", 81)) })}},
			problems: []string{"BGPPeer r1: spec.password: must be at most 80 characters"}},
		{name: "inline password of 80 characters", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Password = v1beta1.ConfigToken(strings.Repeat("p", 80)) })}}},
		{name: "password secret of 81 characters",
			in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "pw" })},
				Secrets: []corev1.Secret{{ObjectMeta: meta("pw", 0), Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"password": []byte(strings.Repeat("s", 81))}}}},
			problems: []string{`BGPPeer r1: spec.passwordSecret: the "password" key of Secret "pw" is 81 characters long; at most 80`}, waits: true},
		{name: "vrf default is the default VRF",
			in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0), peer("r2", 0, func(s *v1beta2.BGPPeerSpec) { s.VRFName = "default"; s.ASN = 64514; s.Address = "198.51.100.2" })}},
			check: func(t *testing.T, c *Config) {
				if c.Peers["r2"] == nil || c.Peers["r2"].VRF != "" {
					t.Fatalf("vrf default should map to the default VRF, got %+v", c.Peers["r2"])
				}
			}},
		{name: "vrf default with another myASN than the default VRF's peer",
			in:       Input{Peers: []v1beta2.BGPPeer{peer("r1", 0), peer("r2", 0, func(s *v1beta2.BGPPeerSpec) { s.VRFName = "default"; s.MyASN = 64999; s.Address = "198.51.100.2" })}, Nodes: nodes},
			problems: []string{"peers of one VRF need the same myASN as BGPPeer r1"}},
		{name: "peer ASN and dynamic ASN", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.DynamicASN = "external" })}},
			problems: []string{"BGPPeer r1: spec: exactly one of peerASN and dynamicASN"}},
		{name: "peer password injecting a line", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.Password = "x\n neighbor 1.2.3.4 remote-as 1" })}},
			problems: []string{"BGPPeer r1: spec.password: must not contain whitespace"}},
		{name: "peer hold time too short", in: Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.HoldTime = &metav1.Duration{Duration: time.Second} })}},
			problems: []string{"BGPPeer r1: spec.holdTime"}},
		{name: "two peers on one node with different ASNs: the newer is out",
			in:       Input{Nodes: nodes, Peers: []v1beta2.BGPPeer{peer("new", 1, func(s *v1beta2.BGPPeerSpec) { s.MyASN = 65000; s.Address = "198.51.100.2" }), peer("old", 4)}},
			problems: []string{"BGPPeer new: spec.myASN: on node node1, peers of one VRF need the same myASN as BGPPeer old (BGPPeer old)"},
			check: func(t *testing.T, c *Config) {
				if c.Peers["new"] != nil || c.Peers["old"] == nil {
					t.Fatalf("got %v", c.Peers)
				}
			}},
		// MetalLB's rule with no Node objects: every pair may share a node.
		{name: "no nodes: different myASNs clash",
			in:       Input{Peers: []v1beta2.BGPPeer{peer("new", 1, func(s *v1beta2.BGPPeerSpec) { s.MyASN = 65000; s.Address = "198.51.100.2" }), peer("old", 4)}},
			problems: []string{"BGPPeer new: spec.myASN: with no Node objects (every node may run both), peers of one VRF need the same myASN as BGPPeer old"}},
		{name: "no nodes: one address twice clashes",
			in:       Input{Peers: []v1beta2.BGPPeer{peer("new", 1, func(s *v1beta2.BGPPeerSpec) { s.ASN = 64999 }), peer("old", 4)}},
			problems: []string{"BGPPeer new: spec.peerAddress: with no Node objects (every node may run both), this address is already peered with by BGPPeer old"}},
		{name: "no nodes: different routerIDs clash, even in another VRF",
			in: Input{Peers: []v1beta2.BGPPeer{peer("new", 1, func(s *v1beta2.BGPPeerSpec) {
				s.RouterID, s.VRFName, s.Address = "10.0.0.9", "red", "198.51.100.2"
			}), peer("old", 4)}},
			problems: []string{"BGPPeer new: spec.routerID: with no Node objects (every node may run both), peers need the same routerID as BGPPeer old"}},
		{name: "a peer waiting for its Secret clashes too",
			in:       Input{Peers: []v1beta2.BGPPeer{peer("new", 1, func(s *v1beta2.BGPPeerSpec) { s.ASN = 64999; s.PasswordSecret.Name = "later" }), peer("old", 4)}},
			problems: []string{"BGPPeer new: spec.passwordSecret", "BGPPeer new: spec.peerAddress: with no Node objects (every node may run both), this address is already peered with by BGPPeer old"}},
		{name: "one address in two VRFs is fine",
			in: Input{Peers: []v1beta2.BGPPeer{peer("new", 1, func(s *v1beta2.BGPPeerSpec) { s.VRFName = "red"; s.MyASN = 65000 }), peer("old", 4)}}},
		{name: "different ASNs on disjoint nodes are fine",
			in: Input{Nodes: nodes, Peers: []v1beta2.BGPPeer{
				peer("a", 1, func(s *v1beta2.BGPPeerSpec) {
					s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "a"}}}
				}),
				peer("b", 1, func(s *v1beta2.BGPPeerSpec) {
					s.MyASN = 65000
					s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "b"}}}
				})}},
			check: func(t *testing.T, c *Config) {
				if len(c.Peers) != 2 {
					t.Fatalf("got %v", c.Peers)
				}
			}},
		{name: "aggregation shorter than the pool's CIDR",
			in:       Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.0/24")}, BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) { s.AggregationLength = ptr(int32(16)) })}},
			problems: []string{"BGPAdvertisement adv: spec.aggregationLength: 16 is shorter than the pool's CIDR 203.0.113.0/24 (IPAddressPool p)"}},
		{name: "aggregation shorter than every CIDR of a range",
			in: Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.10-203.0.113.20")},
				BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) { s.AggregationLength = ptr(int32(29)) })}},
			problems: []string{"BGPAdvertisement adv: spec.aggregationLength: 29 is shorter than the pool's CIDR 203.0.113.12/30 (IPAddressPool p)"}},
		{name: "aggregation as long as the widest CIDR of a range",
			in: Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.10-203.0.113.20", "2001:db8::1-2001:db8::ff")},
				BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
					s.AggregationLength, s.AggregationLengthV6 = ptr(int32(30)), ptr(int32(121))
				})}}},
		{name: "different localPref for the same prefixes, peers and nodes: the newer is out",
			in: Input{Nodes: nodes, Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.0/24")},
				BGPAdvs: []v1beta1.BGPAdvertisement{
					bgpAdv("new", func(s *v1beta1.BGPAdvertisementSpec) { s.LocalPref = 200 }),
					func() v1beta1.BGPAdvertisement {
						a := bgpAdv("old", func(s *v1beta1.BGPAdvertisementSpec) { s.LocalPref = 100 })
						a.CreationTimestamp = meta("old", 2).CreationTimestamp
						return a
					}()}},
			problems: []string{"BGPAdvertisement new: spec.localPref: localPref 200 differs from the 100 of BGPAdvertisement old"},
			check: func(t *testing.T, c *Config) {
				if c.BGPAdvs["new"] != nil || c.BGPAdvs["old"] == nil {
					t.Fatalf("got %v", c.BGPAdvs)
				}
			}},
		{name: "different localPref with other aggregation, peers, nodes or Service selectors is fine",
			in: Input{Nodes: nodes, Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.0/24")},
				BGPAdvs: []v1beta1.BGPAdvertisement{
					bgpAdv("base", func(s *v1beta1.BGPAdvertisementSpec) { s.LocalPref = 100; s.Peers = []v1beta1.ObjectName{"r1"} }),
					bgpAdv("aggr", func(s *v1beta1.BGPAdvertisementSpec) { s.LocalPref = 200; s.AggregationLength = ptr(int32(24)) }),
					bgpAdv("peer", func(s *v1beta1.BGPAdvertisementSpec) { s.LocalPref = 300; s.Peers = []v1beta1.ObjectName{"r2"} }),
					bgpAdv("node", func(s *v1beta1.BGPAdvertisementSpec) {
						s.LocalPref = 400
						s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "none"}}}
					}),
					bgpAdv("svc", func(s *v1beta1.BGPAdvertisementSpec) {
						s.LocalPref = 500
						s.ServiceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "web"}}}
					}),
				}, Peers: []v1beta2.BGPPeer{peer("r1", 0), peer("r2", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "198.51.100.2" })}},
			check: func(t *testing.T, c *Config) {
				if len(c.BGPAdvs) != 5 {
					t.Fatalf("got %v", c.BGPAdvs)
				}
			}},
		{name: "serviceSelectors need the default aggregation",
			in: Input{BGPAdvs: []v1beta1.BGPAdvertisement{bgpAdv("adv", func(s *v1beta1.BGPAdvertisementSpec) {
				s.AggregationLength = ptr(int32(24))
				s.ServiceSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "web"}}}
			})}},
			problems: []string{"BGPAdvertisement adv: spec.serviceSelectors: serviceSelectors and aggregationLength are mutually exclusive"}},
		{name: "a pool or selector listed twice",
			in: Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.0/24")},
				L2Advs: []v1beta1.L2Advertisement{{ObjectMeta: meta("l2", 0), Spec: v1beta1.L2AdvertisementSpec{
					IPAddressPools: []v1beta1.ObjectName{"p", "p"},
					NodeSelectors:  []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}, {MatchLabels: map[string]string{"a": "b"}}},
				}}}},
			problems: []string{`L2Advertisement l2: spec.ipAddressPools[1]: "p" is listed twice`, "L2Advertisement l2: spec.nodeSelectors[1]: selector a=b is listed twice"}},
		{name: "L2 preferences and service selectors",
			in: Input{L2Advs: []v1beta1.L2Advertisement{{ObjectMeta: meta("l2", 0), Spec: v1beta1.L2AdvertisementSpec{
				NodeSelectors:    []metav1.LabelSelector{{MatchLabels: map[string]string{"zone": "a"}}},
				ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "web"}}},
				PreferredNodeSelectors: []v1beta1.PreferredNodeSelector{
					{Weight: 70, Preference: metav1.LabelSelector{MatchLabels: map[string]string{"ssd": "yes"}}},
					{Weight: 20, Preference: metav1.LabelSelector{}},
				}}}}},
			check: func(t *testing.T, c *Config) {
				a := c.L2Advs["l2"]
				for _, tc := range []struct {
					labels map[string]string
					want   int64
				}{{map[string]string{"zone": "a", "ssd": "yes"}, 90}, {map[string]string{"zone": "a"}, 20}, {map[string]string{"ssd": "yes"}, 0}} {
					if got := a.Preference(tc.labels); got != tc.want {
						t.Errorf("Preference(%v) = %d, want %d", tc.labels, got, tc.want)
					}
				}
				web := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": "web"}}}
				if !a.SelectsService(web) || a.SelectsService(&corev1.Service{}) {
					t.Error("serviceSelectors: want web selected and an unlabelled Service not")
				}
			}},
		{name: "L2 interface with whitespace",
			in:       Input{L2Advs: []v1beta1.L2Advertisement{{ObjectMeta: meta("l2", 0), Spec: v1beta1.L2AdvertisementSpec{Interfaces: []v1beta1.InterfaceName{"eth0 eth1"}}}}},
			problems: []string{"L2Advertisement l2: spec.interfaces[0]"}},
		{name: "L2 advertisement",
			in: Input{Pools: []v1beta1.IPAddressPool{pool("p", 0, "203.0.113.0/24")},
				L2Advs: []v1beta1.L2Advertisement{{ObjectMeta: meta("l2", 0), Spec: v1beta1.L2AdvertisementSpec{Interfaces: []v1beta1.InterfaceName{"eth0"}, IPAddressPools: []v1beta1.ObjectName{"p"}}}}},
			check: func(t *testing.T, c *Config) {
				a := c.L2Advs["l2"]
				if a == nil || a.Pools[0] != "p" || a.Interfaces[0] != "eth0" {
					t.Fatalf("got %+v", a)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ps := Build(tc.in, nil)
			if len(ps) != len(tc.problems) {
				t.Fatalf("want %d problems, got %d:\n%v", len(tc.problems), len(ps), ps)
			}
			for i, want := range tc.problems {
				if !strings.Contains(ps[i].Error(), want) {
					t.Errorf("problem %d: want %q in %q", i, want, ps[i].Error())
				}
			}
			if len(ps) > 0 && ps.Waiting() != tc.waits {
				t.Errorf("problems wait for another object: %v, want %v", ps.Waiting(), tc.waits)
			}
			if tc.check != nil {
				tc.check(t, cfg)
			}
		})
	}
}

func TestBuildKeepsLastGood(t *testing.T) {
	good := Input{Peers: []v1beta2.BGPPeer{peer("r1", 0), peer("r2", 0, func(s *v1beta2.BGPPeerSpec) { s.Address = "198.51.100.2" })}}
	last, ps := Build(good, nil)
	if len(ps) != 0 {
		t.Fatal(ps)
	}
	bad := Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.BFDProfile = "missing" }), good.Peers[1]}}
	cfg, ps := Build(bad, last)
	if len(ps) != 1 || !ps.Has(Ref{Kind: KindPeer, Name: "r1"}) {
		t.Fatalf("want one problem on r1, got %v", ps)
	}
	if cfg.Peers["r1"] != last.Peers["r1"] || cfg.Peers["r2"] == nil {
		t.Fatalf("the last good r1 must stay: %v", cfg.Peers)
	}
	if len(ps.For(Ref{Kind: KindBFD, Name: "missing"})) != 1 {
		t.Fatal("the problem must be found from the profile's side too")
	}
}

func TestBuildDoesNotModifyInput(t *testing.T) {
	in := Input{Communities: []v1beta1.Community{{ObjectMeta: meta("b", 0)}, {ObjectMeta: meta("a", 5)}}}
	Build(in, nil)
	if in.Communities[0].Name != "b" {
		t.Fatal("Build reordered its input")
	}
}

// TestBuildOrderIndependent: the configuration and its problems do not depend on the order the
// objects are listed in (the order they arrived in), only on the objects, creation times included.
func TestBuildOrderIndependent(t *testing.T) {
	in := Input{
		Nodes: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}},
		Pools: []v1beta1.IPAddressPool{pool("a", 3, "203.0.113.0/25"), pool("b", 2, "203.0.113.64/26"), pool("c", 1, "203.0.113.128/25")},
		Peers: []v1beta2.BGPPeer{
			peer("r1", 0, func(s *v1beta2.BGPPeerSpec) { s.BFDProfile = "fast" }),
			peer("r2", 1, func(s *v1beta2.BGPPeerSpec) { s.Address = "198.51.100.2"; s.PasswordSecret.Name = "later" }),
		},
		BFDProfiles: []v1beta1.BFDProfile{{ObjectMeta: meta("fast", 0)}},
		Communities: []v1beta1.Community{{ObjectMeta: meta("c", 0), Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: "x", Value: "1:1"}}}}},
		BGPAdvs: []v1beta1.BGPAdvertisement{
			bgpAdv("one", func(s *v1beta1.BGPAdvertisementSpec) {
				s.IPAddressPools = []v1beta1.ObjectName{"a", "missing"}
				s.Communities = []v1beta1.CommunityRef{"x"}
			}),
			bgpAdv("two", func(s *v1beta1.BGPAdvertisementSpec) {
				s.Peers = []v1beta1.ObjectName{"r2", "ghost"}
				s.Communities = []v1beta1.CommunityRef{"nope"}
			}),
		},
		L2Advs: []v1beta1.L2Advertisement{{ObjectMeta: meta("l2", 0), Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"c"}}}},
	}
	want, wantPs := Build(in, nil)
	reversed := in
	for _, s := range []any{&reversed.Pools, &reversed.Peers, &reversed.BGPAdvs} {
		switch l := s.(type) {
		case *[]v1beta1.IPAddressPool:
			*l = append([]v1beta1.IPAddressPool(nil), *l...)
			slices.Reverse(*l)
		case *[]v1beta2.BGPPeer:
			*l = append([]v1beta2.BGPPeer(nil), *l...)
			slices.Reverse(*l)
		case *[]v1beta1.BGPAdvertisement:
			*l = append([]v1beta1.BGPAdvertisement(nil), *l...)
			slices.Reverse(*l)
		}
	}
	got, gotPs := Build(reversed, nil)
	if gotPs.Error() != wantPs.Error() {
		t.Errorf("problems differ with the order:\n%v\nvs\n%v", gotPs, wantPs)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("configuration differs with the order:\n%+v\nvs\n%+v", got, want)
	}
	// Pool b overlaps the older a; the rest waits for objects not there yet.
	if blocking := wantPs.Blocking(); len(blocking) != 1 || blocking[0].Object != (Ref{Kind: KindPool, Name: "b"}) {
		t.Errorf("want only pool b's overlap to block, got %v", wantPs)
	}
}
