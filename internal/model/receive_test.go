package model

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/routelb/routelb/api/v1beta2"
)

func receiving(mode v1beta2.AllowMode, sels ...v1beta2.PrefixSelector) func(*v1beta2.BGPPeerSpec) {
	return func(s *v1beta2.BGPPeerSpec) {
		s.ToReceive = &v1beta2.Receive{Allowed: v1beta2.AllowedInPrefixes{Mode: mode, Prefixes: sels}}
	}
}

// TestBuildReceive: spec.toReceive is checked with FRR's prefix-list rules, a bad selector refuses
// the peer (naming the field), and a good one reaches the peer split by family.
func TestBuildReceive(t *testing.T) {
	pr := func(p string, ge, le int) PrefixRange {
		return PrefixRange{Prefix: netip.MustParsePrefix(p), GE: ge, LE: le}
	}
	for _, tc := range []struct {
		name    string
		mut     func(*v1beta2.BGPPeerSpec)
		want    Receive
		problem string // the only problem expected; the peer is then refused
	}{
		{name: "unset: nothing received", mut: func(*v1beta2.BGPPeerSpec) {}},
		{name: "empty filtered list: nothing received", mut: receiving("")},
		{name: "all", mut: receiving(v1beta2.AllowAll), want: Receive{All: true}},
		{name: "filtered, both families", mut: receiving(v1beta2.AllowFiltered,
			v1beta2.PrefixSelector{Prefix: "198.51.100.0/24", LE: 32},
			v1beta2.PrefixSelector{Prefix: "2001:db8::/32", GE: 48, LE: 64},
			v1beta2.PrefixSelector{Prefix: "0.0.0.0/0"}),
			want: Receive{V4: []PrefixRange{pr("198.51.100.0/24", 0, 32), pr("0.0.0.0/0", 0, 0)}, V6: []PrefixRange{pr("2001:db8::/32", 48, 64)}}},
		{name: "all with prefixes", mut: receiving(v1beta2.AllowAll, v1beta2.PrefixSelector{Prefix: "198.51.100.0/24"}),
			problem: "BGPPeer r1: spec.toReceive.allowed.prefixes: must be empty when mode is all"},
		{name: "unknown mode", mut: receiving("some"), problem: "spec.toReceive.allowed.mode: must be all or filtered"},
		{name: "not a CIDR", mut: receiving("", v1beta2.PrefixSelector{Prefix: "198.51.100.1"}),
			problem: "spec.toReceive.allowed.prefixes[0].prefix: must be a CIDR"},
		{name: "host bits", mut: receiving("", v1beta2.PrefixSelector{Prefix: "198.51.100.0/24"}, v1beta2.PrefixSelector{Prefix: "198.51.100.1/24"}),
			problem: "spec.toReceive.allowed.prefixes[1].prefix: must not have host bits set (got 198.51.100.1/24, did you mean 198.51.100.0/24?)"},
		{name: "ge not longer than the prefix", mut: receiving("", v1beta2.PrefixSelector{Prefix: "198.51.100.0/24", GE: 24}),
			problem: "spec.toReceive.allowed.prefixes[0].ge: must be longer than the prefix's length 24 and at most 32"},
		{name: "le beyond IPv4", mut: receiving("", v1beta2.PrefixSelector{Prefix: "198.51.100.0/24", LE: 33}),
			problem: "spec.toReceive.allowed.prefixes[0].le"},
		{name: "le up to 128 in IPv6", mut: receiving("", v1beta2.PrefixSelector{Prefix: "2001:db8::/32", LE: 128}),
			want: Receive{V6: []PrefixRange{pr("2001:db8::/32", 0, 128)}}},
		{name: "ge over le", mut: receiving("", v1beta2.PrefixSelector{Prefix: "2001:db8::/32", GE: 64, LE: 48}),
			problem: "spec.toReceive.allowed.prefixes[0].ge: must not be greater than le 48"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ps := Build(Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, tc.mut)}}, nil)
			if tc.problem != "" {
				if len(ps) != 1 || !strings.Contains(ps[0].Error(), tc.problem) {
					t.Fatalf("want one problem with %q, got %v", tc.problem, ps)
				}
				if cfg.Peers["r1"] != nil {
					t.Fatal("an invalid toReceive must refuse the peer, not drop the selector")
				}
				return
			}
			if len(ps) != 0 {
				t.Fatalf("problems: %v", ps)
			}
			if got := cfg.Peers["r1"].Receive; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
