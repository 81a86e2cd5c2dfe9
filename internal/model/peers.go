package model

import (
	"maps"
	"net/netip"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
)

const defaultHoldTime = 90 * time.Second

// maxPasswordLen is Linux's TCP_MD5SIG_MAXKEYLEN; FRR refuses longer passwords.
const maxPasswordLen = 80

// vrfName maps the VRF a peer names to the model's key: "default" is FRR's and BIRD's name for the
// default VRF, so it must land in the same BGP instance as an unset VRF (two "router bgp" blocks
// for one VRF are refused by FRR).
func vrfName(v v1beta1.VRFName) string {
	if v == "default" {
		return ""
	}
	return string(v)
}

func indexSecrets(secrets []corev1.Secret) map[string]*corev1.Secret {
	m := make(map[string]*corev1.Secret, len(secrets))
	for i := range secrets {
		m[secrets[i].Name] = &secrets[i]
	}
	return m
}

// buildPeer returns the peer and whether it is usable: a peer whose only problems wait for another
// object (a Secret, a BFDProfile) is returned unusable, for checkPeersPerNode; an invalid one is nil.
func buildPeer(p *v1beta2.BGPPeer, cfg *Config, secrets map[string]*corev1.Secret, ps *Problems) (*Peer, bool) {
	ref := Ref{Kind: KindPeer, Name: p.Name}
	before := len(*ps)
	s := p.Spec
	checkPeerFields(p, ref, ps)
	peer := &Peer{
		Name: p.Name, MyASN: s.MyASN, ASN: s.ASN, DynamicASN: string(s.DynamicASN), LocalASN: s.LocalASN,
		Interface: string(s.Interface), Port: s.Port, Password: string(s.Password),
		BFDProfile: string(s.BFDProfile), GracefulRestart: s.EnableGracefulRestart, EBGPMultiHop: s.EBGPMultiHop,
		VRF: vrfName(s.VRFName), DisableMP: s.DisableMP, DualStack: s.DualStackAddressFamily,
		HoldTime: duration(s.HoldTime), KeepaliveTime: duration(s.KeepaliveTime), ConnectTime: duration(s.ConnectTime),
		NodeSelectors: selectors(ps, ref, "spec.nodeSelectors", s.NodeSelectors),
		Receive:       buildReceive(s.ToReceive, ref, ps),
	}
	if peer.Port == 0 {
		peer.Port = 179
	}
	peer.Addr, _ = netip.ParseAddr(s.Address)
	peer.SrcAddr, _ = netip.ParseAddr(s.SrcAddress)
	peer.RouterID, _ = netip.ParseAddr(s.RouterID)
	if peer.BFDProfile != "" && cfg.BFDProfiles[peer.BFDProfile] == nil {
		ps.addWaiting(ref, "spec.bfdProfile", Ref{Kind: KindBFD, Name: peer.BFDProfile},
			"BFDProfile %q does not exist or is invalid; the session waits for it", peer.BFDProfile)
	}
	if name := s.PasswordSecret.Name; name != "" {
		peer.Password = secretPassword(ref, name, secrets, ps)
	}
	if len(*ps) > before {
		if (*ps)[before:].Waiting() {
			return peer, false
		}
		return nil, false
	}
	return peer, true
}

func checkPeerFields(p *v1beta2.BGPPeer, ref Ref, ps *Problems) {
	s := p.Spec
	runChecks(ps, ref, []check{
		{"metadata.name", p.Name, "dnslabel", "must be a lowercase DNS name, as it becomes part of FRR names"},
		{"spec.peerAddress", s.Address, "omitempty,ip", "must be an IP address"},
		{"spec.sourceAddress", s.SrcAddress, "omitempty,ip", "must be an IP address"},
		{"spec.routerID", s.RouterID, "omitempty,ipv4", "must be an IPv4 address"},
		{"spec.interface", string(s.Interface), "omitempty,token,max=15", "must be an interface name without whitespace"},
		{"spec.password", string(s.Password), "omitempty,token", "must not contain whitespace"},
		{"spec.password", string(s.Password), "max=80", "must be at most 80 characters, the longest TCP MD5 key Linux accepts"},
		{"spec.vrf", string(s.VRFName), "omitempty,token,max=15", "must be a VRF name without whitespace"},
		{"spec.bfdProfile", string(s.BFDProfile), "omitempty,token", "must be the name of a BFDProfile, without whitespace"},
		{"spec.dynamicASN", string(s.DynamicASN), "omitempty,oneof=internal external", "must be internal or external"},
		{"spec.peerPort", int(s.Port), "omitempty,min=1,max=16384", "must be 1 to 16384"},
	})
	checkSessionAddress(ref, "spec.peerAddress", s.Address, ps)
	checkSessionAddress(ref, "spec.sourceAddress", s.SrcAddress, ps)
	if s.MyASN == 0 {
		ps.add(ref, "spec.myASN", "must be an AS number from 1 to 4294967295 (0 is reserved)")
	}
	if (s.ASN != 0) == (s.DynamicASN != "") {
		ps.add(ref, "spec", "exactly one of peerASN and dynamicASN must be set")
	}
	if (s.Address != "") == (s.Interface != "") {
		ps.add(ref, "spec", "exactly one of peerAddress and interface must be set")
	}
	if s.Password != "" && s.PasswordSecret.Name != "" {
		ps.add(ref, "spec.passwordSecret", "password and passwordSecret are exclusive")
	}
	checkTimers(s, ref, ps)
}

// checkSessionAddress refuses an address no BGP session can have at either end: unspecified,
// multicast or broadcast, or IPv4-mapped IPv6 (which the API server's isIP refuses too, and which
// FRR 8.4 prints back in another form). BIRD refuses a file with neighbor ::, and FRR accepts all
// of them, so the node would run a session that never comes up. The CRDs have the same rule in CEL;
// this one covers objects stored before it and files `routelb render` reads.
func checkSessionAddress(ref Ref, field, s string, ps *Problems) {
	a, err := netip.ParseAddr(s)
	if s == "" || err != nil || a.Zone() != "" {
		return // not an address at all: runChecks reports it
	}
	switch {
	case a.Is4In6():
		ps.add(ref, field, "must be an IPv4 address or an IPv6 address, not an IPv4-mapped IPv6 address (got %q)", s)
	case !a.IsGlobalUnicast() && !a.IsLoopback() && !a.IsLinkLocalUnicast():
		ps.add(ref, field, "must be a unicast address, not unspecified, multicast or broadcast (got %q)", s)
	}
}

func checkTimers(s v1beta2.BGPPeerSpec, ref Ref, ps *Problems) {
	hold := defaultHoldTime
	if s.HoldTime != nil {
		hold = s.HoldTime.Duration
		if hold != 0 && hold < 3*time.Second || hold%time.Second != 0 || hold > 65535*time.Second {
			ps.add(ref, "spec.holdTime", "must be 0 or whole seconds from 3s to 65535s (got %s)", hold)
		}
	}
	if s.KeepaliveTime != nil {
		ka := s.KeepaliveTime.Duration
		if ka > hold || ka < 0 || ka%time.Second != 0 {
			ps.add(ref, "spec.keepaliveTime", "must be whole seconds, not negative and not longer than holdTime %s (got %s)", hold, ka)
		}
	}
	if s.ConnectTime != nil {
		ct := s.ConnectTime.Duration
		if ct < time.Second || ct > 65535*time.Second || ct%time.Second != 0 {
			ps.add(ref, "spec.connectTime", "must be whole seconds from 1s to 65535s (got %s)", ct)
		}
	}
}

// secretPassword reads a peer's password. Its problems all wait for the Secret to change: a Secret
// is not checked at admission (MetalLB does not check it either), so a peer must not be refused for
// its state.
func secretPassword(ref Ref, name string, secrets map[string]*corev1.Secret, ps *Problems) string {
	other := Ref{Kind: KindSecret, Name: name}
	sec, ok := secrets[name]
	switch {
	case !ok:
		ps.addWaiting(ref, "spec.passwordSecret", other, "Secret %q does not exist; the session waits for it", name)
	case sec.Type != corev1.SecretTypeBasicAuth:
		ps.addWaiting(ref, "spec.passwordSecret", other, "Secret %q must be of type %s, not %q", name, corev1.SecretTypeBasicAuth, sec.Type)
	default:
		pw := string(sec.Data[corev1.BasicAuthPasswordKey])
		if pw == "" {
			pw = sec.StringData[corev1.BasicAuthPasswordKey]
		}
		if pw == "" || validate.Var(pw, "token") != nil {
			ps.addWaiting(ref, "spec.passwordSecret", other, "Secret %q needs a %q key without whitespace", name, corev1.BasicAuthPasswordKey)
		}
		// The API server cannot check a Secret's content against the peer: an over-long key would
		// reach FRR, which refuses the whole config, and freeze the node.
		if len(pw) > maxPasswordLen {
			ps.addWaiting(ref, "spec.passwordSecret", other, "the %q key of Secret %q is %d characters long; at most %d are allowed (the longest TCP MD5 key Linux accepts)",
				corev1.BasicAuthPasswordKey, name, len(pw), maxPasswordLen)
		}
		return pw
	}
	return ""
}

func duration(d *metav1.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.Duration
	return &v
}

// checkPeersPerNode refuses the peers one node could not run together, with MetalLB's FRR-mode rule
// (internal/config/validation.go, checkFRRPeersCompatible): two peers that may share a node need the
// same routerID, the same myASN within a VRF, and different addresses (per VRF). Two peers share a
// node when one Node matches both; with no Node objects at all every pair is taken to share one, as
// MetalLB does, so a peer that would clash on the first node to join is refused before it can. Of two
// peers that clash, the newer is left out.
//
// Peers waiting for a reference take part (pending): they clash as they will once it exists, and
// MetalLB's webhook checks peers whatever they refer to.
func checkPeersPerNode(in Input, cfg *Config, pending []*Peer, ps *Problems) {
	peers := sortedPeers(in.Peers, cfg, pending)
	out := map[string]bool{}
	for i, p := range peers {
		for _, q := range peers[:i] {
			if out[q.Name] {
				continue // already left out: it runs nowhere
			}
			node, shares := sharedNode(p, q, in.Nodes)
			if !shares {
				continue
			}
			if field, why := peerClash(p, q); field != "" {
				ps.addCross(Ref{Kind: KindPeer, Name: p.Name}, field, Ref{Kind: KindPeer, Name: q.Name},
					"%s, %s BGPPeer %s", node, why, q.Name)
				delete(cfg.Peers, p.Name)
				out[p.Name] = true
				break
			}
		}
	}
}

// sharedNode reports whether two peers may run on one node, and names it for the problem.
func sharedNode(p, q *Peer, nodes []corev1.Node) (string, bool) {
	if len(nodes) == 0 {
		return "with no Node objects (every node may run both)", true
	}
	for _, n := range nodes {
		if MatchesAny(p.NodeSelectors, n.Labels) && MatchesAny(q.NodeSelectors, n.Labels) {
			return "on node " + n.Name, true
		}
	}
	return "", false
}

// peerClash is the field of p that one node cannot run beside q, and why; "" if none.
func peerClash(p, q *Peer) (string, string) {
	switch {
	case p.RouterID != q.RouterID:
		return "spec.routerID", "peers need the same routerID as"
	case p.VRF == q.VRF && p.Addr == q.Addr && p.Interface == q.Interface:
		return "spec.peerAddress", "this address is already peered with by"
	case p.VRF == q.VRF && p.MyASN != q.MyASN:
		return "spec.myASN", "peers of one VRF need the same myASN as"
	}
	return "", ""
}

// sortedPeers is the valid peers, those waiting for a reference included, oldest first.
func sortedPeers(api []v1beta2.BGPPeer, cfg *Config, pending []*Peer) []*Peer {
	byName := maps.Clone(cfg.Peers)
	for _, p := range pending {
		byName[p.Name] = p
	}
	idx := make([]int, 0, len(api))
	for i := range api {
		if byName[api[i].Name] != nil {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		pa, pb := &api[idx[a]], &api[idx[b]]
		return olderThan(pa.CreationTimestamp, pa.Name, pb.CreationTimestamp, pb.Name)
	})
	out := make([]*Peer, len(idx))
	for i, j := range idx {
		out[i] = byName[api[j].Name]
	}
	return out
}

func olderThan(ta metav1.Time, na string, tb metav1.Time, nb string) bool {
	if !ta.Equal(&tb) {
		return ta.Before(&tb)
	}
	return na < nb
}
