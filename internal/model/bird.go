package model

import (
	"maps"
	"strings"
)

// CheckBIRD reports every field of a valid Config that BIRD 2.0 cannot express, on the object that
// holds it. FRR runs these fields; a BIRD node would have to drop them, so they are reported instead
// and ForBIRD keeps the object's last good version or leaves the peer out: it is never rendered
// without them.
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

// ForBIRD returns the Config a BIRD node runs, and CheckBIRD's problems. A BFDProfile or BGPPeer
// with a problem keeps its version from lastGood (the Config ForBIRD returned last time) when BIRD
// can run that one, so an edit BIRD cannot express never withdraws what is announced; without one
// it is left out, and so is every peer whose profile is left out (rendering it without BFD would be
// a silent drop). cfg itself is not changed.
func ForBIRD(cfg, lastGood *Config) (*Config, Problems) {
	ps := CheckBIRD(cfg)
	if len(ps) == 0 {
		return cfg, ps
	}
	out := *cfg
	out.Peers, out.BFDProfiles = maps.Clone(cfg.Peers), maps.Clone(cfg.BFDProfiles)
	for _, name := range sortedKeys(cfg.BFDProfiles) {
		if ps.Has(Ref{Kind: KindBFD, Name: name}) {
			out.BFDProfiles[name] = lastGoodProfile(lastGood, name)
			if out.BFDProfiles[name] == nil {
				delete(out.BFDProfiles, name)
			}
		}
	}
	for _, name := range sortedKeys(cfg.Peers) {
		if birdPeerProblem(&out, cfg.Peers[name]) {
			out.Peers[name] = nil
			if lastGood != nil && lastGood.Peers[name] != nil && !birdPeerProblem(&out, lastGood.Peers[name]) {
				out.Peers[name] = lastGood.Peers[name]
			}
			if out.Peers[name] == nil {
				delete(out.Peers, name)
			}
		}
	}
	return &out, ps
}

// lastGoodProfile is lastGood's version of a profile when BIRD can run it.
func lastGoodProfile(lastGood *Config, name string) *BFDProfile {
	if lastGood == nil || lastGood.BFDProfiles[name] == nil {
		return nil
	}
	var ps Problems
	checkBIRDProfile(lastGood.BFDProfiles[name], &ps)
	if len(ps) > 0 {
		return nil
	}
	return lastGood.BFDProfiles[name]
}

// birdPeerProblem reports whether BIRD cannot run the peer against the profiles of cfg.
func birdPeerProblem(cfg *Config, p *Peer) bool {
	var ps Problems
	checkBIRDPeer(cfg, p, &ps)
	return len(ps) > 0 || p.BFDProfile != "" && cfg.BFDProfiles[p.BFDProfile] == nil
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
	if p.Addr.Is6() && p.Addr.IsLinkLocalUnicast() {
		ps.add(ref, "spec.peerAddress", "%s is a link-local address: BIRD needs the interface of a link-local neighbour and peerAddress cannot name one; give a global address", p.Addr)
	}
	// FRR opens the session from a link-local source; BIRD refuses the whole file ("Link-local
	// addresses require defined interface") and peerAddress cannot name one.
	if p.SrcAddr.Is6() && p.SrcAddr.IsLinkLocalUnicast() {
		ps.add(ref, "spec.sourceAddress", "%s is a link-local address: BIRD needs an interface to use a link-local source and a BGPPeer cannot name one; give a global address or leave sourceAddress unset", p.SrcAddr)
	}
	// BIRD strings are double-quoted with no escape: a quote cannot be written inside one.
	if strings.ContainsRune(p.Password, '"') {
		ps.add(ref, "spec.password", "contains a double quote, which BIRD cannot read in a password (also when it comes from passwordSecret)")
	}
	switch {
	case strings.ContainsRune(p.VRF, '"'):
		ps.add(ref, "spec.vrf", "contains a double quote, which BIRD cannot read in a VRF name")
	case p.BFDProfile != "" && !birdSymbolPart(p.VRF):
		// The VRF's BFD protocol is named after it (birdtemplates: rlb_bfd_VRF).
		ps.add(ref, "spec.vrf", "with bfdProfile, the VRF name becomes part of a BIRD protocol name, which takes lowercase letters, digits, '-', '.' and '_' only")
	}
	if p.EBGPMultiHop && p.BFDProfile != "" && !p.SrcAddr.IsValid() && !birdIBGP(p) {
		ps.add(ref, "spec.sourceAddress", "BIRD runs BFD on a multihop session only from a given local address: set sourceAddress, or drop ebgpMultiHop or bfdProfile")
	}
	if b := cfg.BFDProfiles[p.BFDProfile]; p.BFDProfile != "" && b != nil && (b.EchoMode || b.MinimumTTL != 0) {
		ps.addCross(ref, "spec.bfdProfile", Ref{Kind: KindBFD, Name: p.BFDProfile},
			"the BFDProfile uses a setting BIRD cannot express")
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

// birdSymbolPart reports whether s can be part of a BIRD symbol as birdtemplates writes them.
func birdSymbolPart(s string) bool {
	return !strings.ContainsFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_')
	})
}
