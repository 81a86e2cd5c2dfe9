package model

import (
	"maps"
	"strings"
)

// CheckBIRD reports every field of a valid Config that BIRD 2.0 cannot express, on the object that
// holds it. FRR runs these fields; a BIRD node would have to drop them, so they are reported instead
// and the peer is left out of the BIRD config (ForBIRD), never rendered without them.
func CheckBIRD(cfg *Config) Problems {
	var ps Problems
	for _, name := range sortedKeys(cfg.BFDProfiles) {
		checkBIRDProfile(cfg.BFDProfiles[name], &ps)
	}
	for _, name := range sortedKeys(cfg.Peers) {
		checkBIRDPeer(cfg, cfg.Peers[name], &ps)
	}
	return ps.sorted()
}

// ForBIRD returns cfg without the peers that CheckBIRD finds a problem with (their own, or their
// BFDProfile's), and those problems. cfg itself is not changed: it stays the last good model.
func ForBIRD(cfg *Config) (*Config, Problems) {
	ps := CheckBIRD(cfg)
	if len(ps) == 0 {
		return cfg, ps
	}
	out := *cfg
	out.Peers = maps.Clone(cfg.Peers)
	for _, p := range ps {
		if p.Object.Kind == KindPeer {
			delete(out.Peers, p.Object.Name)
		}
	}
	return &out, ps
}

func checkBIRDProfile(b *BFDProfile, ps *Problems) {
	ref := Ref{Kind: KindBFD, Name: b.Name}
	if b.EchoMode {
		ps.add(ref, "spec.echoMode", "BIRD does not implement BFD echo mode; unset it to use this profile with --routing-daemon bird")
	}
	if b.MinimumTTL != 0 {
		ps.add(ref, "spec.minimumTtl", "BIRD has no minimum TTL setting for BFD (it requires TTL 255 on single-hop sessions); unset it to use this profile with --routing-daemon bird")
	}
}

func checkBIRDPeer(cfg *Config, p *Peer, ps *Problems) {
	ref := Ref{Kind: KindPeer, Name: p.Name}
	if p.Interface != "" {
		ps.add(ref, "spec.interface", "BGP unnumbered (a session on an interface, to a neighbour found by its link-local address) is not supported by BIRD 2.0; give peerAddress instead")
	}
	// BIRD strings are double-quoted with no escape: a quote cannot be written inside one.
	if strings.ContainsRune(p.Password, '"') {
		ps.add(ref, "spec.password", "contains a double quote, which BIRD cannot read in a password (also when it comes from passwordSecret)")
	}
	if strings.ContainsRune(p.VRF, '"') {
		ps.add(ref, "spec.vrf", "contains a double quote, which BIRD cannot read in a VRF name")
	}
	if p.EBGPMultiHop && p.BFDProfile != "" && !p.SrcAddr.IsValid() && !birdIBGP(p) {
		ps.add(ref, "spec.sourceAddress", "BIRD runs BFD on a multihop session only from a given local address: set sourceAddress, or drop ebgpMultiHop or bfdProfile")
	}
	if b := cfg.BFDProfiles[p.BFDProfile]; p.BFDProfile != "" && b != nil && (b.EchoMode || b.MinimumTTL != 0) {
		ps.addCross(ref, "spec.bfdProfile", Ref{Kind: KindBFD, Name: p.BFDProfile},
			"the BFDProfile uses a setting BIRD cannot express; the peer is left out of bird.conf")
	}
}

// birdIBGP reports whether the session is iBGP: BIRD compares the peer's AS with the protocol's
// local AS, which is localASN when set.
func birdIBGP(p *Peer) bool {
	local := p.MyASN
	if p.LocalASN != 0 {
		local = p.LocalASN
	}
	return p.DynamicASN == "internal" || p.DynamicASN == "" && p.ASN == local
}
