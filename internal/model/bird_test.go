package model

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestCheckBIRD(t *testing.T) {
	addr := netip.MustParseAddr("198.51.100.1")
	cases := []struct {
		name    string
		peer    Peer
		profile *BFDProfile
		want    []string // problems, as Problem.Error
		left    bool     // the peer stays in ForBIRD's config
	}{
		{name: "plain peer", peer: Peer{Name: "p", Addr: addr, Password: `a\b#c`, VRF: "red"}, left: true},
		{name: "plain profile", peer: Peer{Name: "p", Addr: addr, BFDProfile: "fast"},
			profile: &BFDProfile{Name: "fast", ReceiveInterval: 100, PassiveMode: true}, left: true},
		{name: "unnumbered", peer: Peer{Name: "p", Interface: "eth0"},
			want: []string{"BGPPeer p: spec.interface: BGP unnumbered (a session on an interface, to a neighbour found by its link-local address) is not supported by BIRD 2.0; give peerAddress instead"}},
		{name: "link-local peer", peer: Peer{Name: "p", Addr: netip.MustParseAddr("fe80::1")},
			want: []string{"BGPPeer p: spec.peerAddress: fe80::1 is a link-local address: BIRD needs the interface of a link-local neighbour and peerAddress cannot name one; give a global address"}},
		{name: "link-local source", peer: Peer{Name: "p", Addr: netip.MustParseAddr("2001:db8::1"), SrcAddr: netip.MustParseAddr("fe80::1")},
			want: []string{"BGPPeer p: spec.sourceAddress: fe80::1 is a link-local address: BIRD needs an interface to use a link-local source and a BGPPeer cannot name one; give a global address or leave sourceAddress unset"}},
		{name: "IPv4 link-local source", peer: Peer{Name: "p", Addr: addr, SrcAddr: netip.MustParseAddr("169.254.0.1")}, left: true},
		{name: "quote in password", peer: Peer{Name: "p", Addr: addr, Password: `a"b`},
			want: []string{`BGPPeer p: spec.password: contains a double quote, which BIRD cannot read in a password (also when it comes from passwordSecret)`}},
		{name: "quote in vrf", peer: Peer{Name: "p", Addr: addr, VRF: `r"d`},
			want: []string{`BGPPeer p: spec.vrf: contains a double quote, which BIRD cannot read in a VRF name`}},
		{name: "upper-case vrf with BFD", peer: Peer{Name: "p", Addr: addr, VRF: "Default", BFDProfile: "b"}, profile: &BFDProfile{Name: "b"},
			want: []string{"BGPPeer p: spec.vrf: with bfdProfile, the VRF name becomes part of a BIRD protocol name, which takes lowercase letters, digits, '-', '.' and '_' only"}},
		{name: "upper-case vrf without BFD", peer: Peer{Name: "p", Addr: addr, VRF: "Red"}, left: true},
		{name: "echo mode", peer: Peer{Name: "p", Addr: addr, BFDProfile: "echo"},
			profile: &BFDProfile{Name: "echo", EchoMode: true, EchoInterval: 50},
			want: []string{
				"BFDProfile echo: spec.echoMode: BIRD does not implement BFD echo mode; unset it to use this profile with --routing-daemon bird",
				"BGPPeer p: spec.bfdProfile: the BFDProfile uses a setting BIRD cannot express (BFDProfile echo)",
			}},
		{name: "multihop BFD without source", peer: Peer{Name: "p", Addr: addr, MyASN: 1, ASN: 2, EBGPMultiHop: true, BFDProfile: "b"},
			profile: &BFDProfile{Name: "b"},
			want:    []string{"BGPPeer p: spec.sourceAddress: BIRD runs BFD on a multihop session only from a given local address: set sourceAddress, or drop ebgpMultiHop or bfdProfile"}},
		{name: "multihop BFD with source", peer: Peer{Name: "p", Addr: addr, MyASN: 1, ASN: 2, EBGPMultiHop: true, BFDProfile: "b", SrcAddr: addr},
			profile: &BFDProfile{Name: "b"}, left: true},
		{name: "iBGP BFD without source", peer: Peer{Name: "p", Addr: addr, MyASN: 1, ASN: 1, EBGPMultiHop: true, BFDProfile: "b"},
			profile: &BFDProfile{Name: "b"}, left: true},
		{name: "minimum ttl", peer: Peer{Name: "p", Addr: addr},
			profile: &BFDProfile{Name: "ttl", MinimumTTL: 254}, left: true, // no peer uses it
			want: []string{"BFDProfile ttl: spec.minimumTtl: BIRD has no minimum TTL setting for BFD (it requires TTL 255 on single-hop sessions); unset it to use this profile with --routing-daemon bird"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{Peers: map[string]*Peer{c.peer.Name: &c.peer}, BFDProfiles: map[string]*BFDProfile{}}
			if c.profile != nil {
				cfg.BFDProfiles[c.profile.Name] = c.profile
			}
			var got []string
			for _, p := range CheckBIRD(cfg) {
				got = append(got, p.Error())
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, c.want)
			}
			out, _ := ForBIRD(cfg, nil)
			if _, ok := out.Peers[c.peer.Name]; ok != c.left {
				t.Errorf("peer kept in ForBIRD: %v, want %v", ok, c.left)
			}
			if len(cfg.Peers) != 1 {
				t.Errorf("ForBIRD changed its input")
			}
		})
	}
}

// An edit BIRD cannot express keeps the last good version, so nothing announced is withdrawn; with no
// good version the peer is left out, and so is a peer whose profile is.
func TestForBIRDKeepsLastGood(t *testing.T) {
	addr := netip.MustParseAddr("198.51.100.1")
	goodPeer := &Peer{Name: "p", Addr: addr, BFDProfile: "b"}
	goodProfile := &BFDProfile{Name: "b", ReceiveInterval: 300}
	lastGood := &Config{Peers: map[string]*Peer{"p": goodPeer}, BFDProfiles: map[string]*BFDProfile{"b": goodProfile}}

	// The profile turns on echo mode: the last good profile stays, and the peer with it.
	cfg := &Config{Peers: map[string]*Peer{"p": goodPeer}, BFDProfiles: map[string]*BFDProfile{"b": {Name: "b", EchoMode: true}}}
	out, ps := ForBIRD(cfg, lastGood)
	if out.BFDProfiles["b"] != goodProfile || out.Peers["p"] != goodPeer || !ps.Has(Ref{Kind: KindBFD, Name: "b"}) {
		t.Errorf("echo edit: profile %+v, peer %+v, problems %v", out.BFDProfiles["b"], out.Peers["p"], ps)
	}
	// The peer becomes unnumbered: its last good version stays.
	cfg = &Config{Peers: map[string]*Peer{"p": {Name: "p", Interface: "eth0", BFDProfile: "b"}}, BFDProfiles: lastGood.BFDProfiles}
	if out, ps = ForBIRD(cfg, lastGood); out.Peers["p"] != goodPeer || !ps.Has(Ref{Kind: KindPeer, Name: "p"}) {
		t.Errorf("unnumbered edit: peer %+v, problems %v", out.Peers["p"], ps)
	}
	// No last good version: both are left out.
	cfg = &Config{Peers: map[string]*Peer{"p": goodPeer}, BFDProfiles: map[string]*BFDProfile{"b": {Name: "b", EchoMode: true}}}
	if out, _ = ForBIRD(cfg, nil); len(out.Peers) != 0 || len(out.BFDProfiles) != 0 {
		t.Errorf("without a last good config: peers %v, profiles %v", out.Peers, out.BFDProfiles)
	}
	if cfg.BFDProfiles["b"].EchoMode != true || len(cfg.Peers) != 1 {
		t.Errorf("ForBIRD changed its input")
	}
}
