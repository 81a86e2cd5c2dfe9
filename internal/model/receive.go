package model

import (
	"fmt"
	"net/netip"

	"github.com/routelb/routelb/api/v1beta2"
)

// Receive is the routes a node accepts from a peer. The zero value accepts none, as in MetalLB.
type Receive struct {
	All bool // every route; V4 and V6 are then empty
	V4  []PrefixRange
	V6  []PrefixRange
}

// Any reports whether some route may be accepted.
func (r Receive) Any() bool { return r.All || len(r.V4)+len(r.V6) > 0 }

// PrefixRange matches the routes inside Prefix whose length is from GE to LE. 0 means unset: with
// neither, only Prefix itself matches; GE alone extends LE to the family's length.
type PrefixRange struct {
	Prefix netip.Prefix
	GE, LE int
}

// buildReceive checks spec.toReceive as the API server's rules do (`routelb render` reads files no
// API server saw) and returns what it allows. A problem refuses the whole peer, never a part of it.
func buildReceive(tr *v1beta2.Receive, ref Ref, ps *Problems) Receive {
	if tr == nil {
		return Receive{}
	}
	a := tr.Allowed
	switch a.Mode {
	case v1beta2.AllowAll:
		if len(a.Prefixes) > 0 {
			ps.add(ref, "spec.toReceive.allowed.prefixes", "must be empty when mode is all")
		}
		return Receive{All: true}
	case "", v1beta2.AllowFiltered:
	default:
		ps.add(ref, "spec.toReceive.allowed.mode", "must be all or filtered (got %q)", a.Mode)
		return Receive{}
	}
	var r Receive
	for i, sel := range a.Prefixes {
		field := fmt.Sprintf("spec.toReceive.allowed.prefixes[%d]", i)
		pr, ok := prefixRange(sel, field, ref, ps)
		switch {
		case !ok:
		case pr.Prefix.Addr().Is4():
			r.V4 = append(r.V4, pr)
		default:
			r.V6 = append(r.V6, pr)
		}
	}
	return r
}

// prefixRange applies FRR's prefix-list rules (len < ge <= le <= family length), so that a
// selector FRR would refuse never reaches a node's config.
func prefixRange(sel v1beta2.PrefixSelector, field string, ref Ref, ps *Problems) (PrefixRange, bool) {
	pfx, err := netip.ParsePrefix(sel.Prefix)
	if err != nil {
		ps.add(ref, field+".prefix", "must be a CIDR such as 198.51.100.0/24 (got %q)", sel.Prefix)
		return PrefixRange{}, false
	}
	if pfx.Masked() != pfx {
		ps.add(ref, field+".prefix", "must not have host bits set (got %s, did you mean %s?)", pfx, pfx.Masked())
		return PrefixRange{}, false
	}
	ge, le, bits, ok := int(sel.GE), int(sel.LE), pfx.Addr().BitLen(), true
	for _, f := range []struct {
		name string
		v    int
	}{{"ge", ge}, {"le", le}} {
		if f.v != 0 && (f.v <= pfx.Bits() || f.v > bits) {
			ps.add(ref, field+"."+f.name, "must be longer than the prefix's length %d and at most %d (got %d)", pfx.Bits(), bits, f.v)
			ok = false
		}
	}
	if ge != 0 && le != 0 && ge > le {
		ps.add(ref, field+".ge", "must not be greater than le %d (got %d)", le, ge)
		ok = false
	}
	return PrefixRange{Prefix: pfx, GE: ge, LE: le}, ok
}
