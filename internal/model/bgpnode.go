package model

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// KindService names Services in problems found while computing a node's announcements.
const KindService = "Service"

// NodeInput is what a node's BGP state needs beyond the validated Config: the node itself and the
// Services (with the VIPs the controller wrote into their status) and their EndpointSlices.
type NodeInput struct {
	Node           *corev1.Node
	Services       []corev1.Service
	EndpointSlices []discoveryv1.EndpointSlice
	// LBClass is the speaker's --lb-class: Services whose spec.loadBalancerClass differs are not ours.
	LBClass string
	// IgnoreExcludeLB is the speaker's --ignore-exclude-lb (see NodeMayAnnounce).
	IgnoreExcludeLB bool
}

// NodeBGP is one node's desired BGP state: what its FRR must run. Its shape (routers, neighbours,
// and per neighbour the set of communities and local preferences) depends only on the metallb.io
// objects; Services only fill in prefixes, so Service churn never changes a session.
type NodeBGP struct {
	NodeName    string
	Routers     []*Router     // default VRF first, then by VRF name
	BFDProfiles []*BFDProfile // the profiles this node's peers use, by name
	Services    []ServiceAnnouncement
	// LogLevel is FRR's log level, one of FRRLogLevels; it follows the speaker's own level (as in
	// MetalLB's FRR mode) and "debugging" also turns on FRR's debugs. Empty: informational.
	LogLevel string
	// Extras is FRR configuration appended verbatim after routelb's own (MetalLB's "bgpextras"
	// ConfigMap); ExtrasFrom names the ConfigMap it came from ("namespace/name").
	Extras, ExtrasFrom string
}

// FRRLogLevels are the levels FRR's `log` commands take, most severe first.
var FRRLogLevels = []string{"emergencies", "alerts", "critical", "errors", "warnings", "notifications",
	"informational", "debugging"}

// Sessions is a copy of n with its routers and neighbours but none of what they announce: what
// a reader of the sessions (which peers, in which VRF) keeps between computations. At 10,000
// Services the prefixes and Services are most of the model, and nothing reads them once the
// file is rendered.
func (n *NodeBGP) Sessions() *NodeBGP {
	out := &NodeBGP{NodeName: n.NodeName, Routers: make([]*Router, len(n.Routers))}
	for i, r := range n.Routers {
		nr := &Router{VRF: r.VRF, MyASN: r.MyASN, RouterID: r.RouterID, Neighbors: make([]*Neighbor, len(r.Neighbors))}
		for j, nb := range r.Neighbors {
			nr.Neighbors[j] = &Neighbor{Peer: nb.Peer, IPv4: nb.IPv4, IPv6: nb.IPv6}
		}
		out.Routers[i] = nr
	}
	return out
}

// Empty reports whether the node peers with nobody, and so needs no BGP at all.
func (n *NodeBGP) Empty() bool { return len(n.Routers) == 0 }

// Router is one BGP instance (`router bgp ASN [vrf V]`).
type Router struct {
	VRF       string
	MyASN     uint32
	RouterID  netip.Addr
	Neighbors []*Neighbor // by peer name
	Networks4 []netip.Prefix
	Networks6 []netip.Prefix
}

// Neighbor is one BGPPeer as seen from this node, with what is announced to it.
type Neighbor struct {
	Peer *Peer
	IPv4 bool // activated in address-family ipv4 unicast
	IPv6 bool
	// All is every prefix announced to this neighbour; Communities and LocalPrefs say which of them
	// carry which attribute. Communities and LocalPrefs list every value an advertisement applying to
	// this neighbour sets, even with no prefix, so their route-map entries outlive Service churn.
	All         PrefixSet
	Communities []CommunitySet
	LocalPrefs  []LocalPrefSet
}

// PrefixSet is a set of prefixes split by family, each sorted.
type PrefixSet struct {
	V4 []netip.Prefix
	V6 []netip.Prefix
}

// Len is the number of prefixes.
func (s PrefixSet) Len() int { return len(s.V4) + len(s.V6) }

// CommunitySet is the prefixes announced to a neighbour with one community.
type CommunitySet struct {
	Community Community
	Prefixes  PrefixSet
}

// LocalPrefSet is the prefixes announced to a neighbour with one local preference.
type LocalPrefSet struct {
	LocalPref uint32
	Prefixes  PrefixSet
}

// ServiceAnnouncement says to which peers this node announces a Service's VIPs.
type ServiceAnnouncement struct {
	Namespace string
	Name      string
	Prefixes  []netip.Prefix
	Peers     []string // peer names, sorted
}

// Key is "namespace/name".
func (s ServiceAnnouncement) Key() string { return s.Namespace + "/" + s.Name }

// BuildNode computes a node's BGP state from the validated Config. Peers whose strings are not safe
// as one FRR token are left out with a problem (Build checks them already; this is the last gate
// before a template, so it holds even for a Config that did not come from Build).
func BuildNode(cfg *Config, in NodeInput) (*NodeBGP, Problems) {
	var ps Problems
	n := &NodeBGP{}
	if in.Node == nil {
		return n, ps
	}
	n.NodeName = in.Node.Name
	if !validName(n.NodeName) {
		ps.add(Ref{Kind: KindNode, Name: n.NodeName}, "metadata.name", "must be a lowercase DNS name, as it becomes FRR's hostname")
		return n, ps.sorted()
	}
	b := newNodeBuilder(cfg, in.Node, len(in.Services), &ps)
	// An excluded node keeps its sessions (so it returns at once) and withdraws every prefix.
	mayAnnounce := NodeMayAnnounce(in.Node, in.IgnoreExcludeLB)
	serving := IndexServing(in.EndpointSlices)
	for _, svc := range sortedServices(in.Services) {
		if !Announces(svc, in.LBClass) {
			continue
		}
		// Problems are reported on every node, whether it announces the Service or not.
		vips := IngressVIPs(svc, &ps)
		if mayAnnounce && serving.For(svc).AnnouncesFrom(svc, n.NodeName) {
			b.addService(svc, vips)
		}
	}
	n.Routers, n.BFDProfiles, n.Services = b.finish()
	return n, ps.sorted()
}

// nodeBuilder accumulates prefixes per neighbour before they are sorted into a NodeBGP.
type nodeBuilder struct {
	cfg       *Config
	ps        *Problems
	routers   map[string]*routerAcc
	advs      []*BGPAdvertisement // those selecting this node, by name
	neighbors map[string]*neighborAcc
	services  []ServiceAnnouncement
	sizeHint  int
}

type routerAcc struct {
	r        *Router
	networks map[netip.Prefix]struct{}
}

type neighborAcc struct {
	n      *Neighbor
	router *routerAcc
	all    map[netip.Prefix]struct{}
	comms  map[Community]map[netip.Prefix]struct{}
	lps    map[uint32]map[netip.Prefix]struct{}
}

// sizeHint is the number of Services, used to size the prefix sets once instead of growing them.
func newNodeBuilder(cfg *Config, node *corev1.Node, sizeHint int, ps *Problems) *nodeBuilder {
	b := &nodeBuilder{cfg: cfg, ps: ps, routers: map[string]*routerAcc{}, neighbors: map[string]*neighborAcc{}, sizeHint: sizeHint}
	for _, name := range sortedKeys(cfg.BGPAdvs) {
		if a := cfg.BGPAdvs[name]; MatchesAny(a.NodeSelectors, node.Labels) {
			b.advs = append(b.advs, a)
		}
	}
	for _, name := range sortedKeys(cfg.Peers) {
		p := cfg.Peers[name]
		if !MatchesAny(p.NodeSelectors, node.Labels) || !safePeer(p, ps) {
			continue
		}
		b.addNeighbor(p)
	}
	return b
}

func (b *nodeBuilder) addNeighbor(p *Peer) {
	ra := b.routers[p.VRF]
	if ra == nil {
		ra = &routerAcc{r: &Router{VRF: p.VRF, MyASN: p.MyASN, RouterID: p.RouterID}, networks: make(map[netip.Prefix]struct{}, b.sizeHint)}
		b.routers[p.VRF] = ra
	}
	nb := &Neighbor{Peer: p}
	// Unnumbered sessions run over IPv6 link-local addresses and carry both families.
	nb.IPv4 = p.Interface != "" || p.DualStack || p.Addr.Is4()
	nb.IPv6 = p.Interface != "" || p.DualStack || p.Addr.Is6()
	acc := &neighborAcc{n: nb, router: ra, all: make(map[netip.Prefix]struct{}, b.sizeHint),
		comms: map[Community]map[netip.Prefix]struct{}{}, lps: map[uint32]map[netip.Prefix]struct{}{}}
	for _, a := range b.advs {
		if !appliesTo(a, p.Name) {
			continue
		}
		for _, c := range a.Communities {
			if acc.comms[c] == nil {
				acc.comms[c] = map[netip.Prefix]struct{}{}
			}
		}
		if a.LocalPref != 0 && acc.lps[a.LocalPref] == nil {
			acc.lps[a.LocalPref] = map[netip.Prefix]struct{}{}
		}
	}
	ra.r.Neighbors = append(ra.r.Neighbors, nb)
	b.neighbors[p.Name] = acc
}

func appliesTo(a *BGPAdvertisement, peer string) bool {
	if len(a.Peers) == 0 {
		return true
	}
	for _, p := range a.Peers {
		if p == peer {
			return true
		}
	}
	return false
}

// IngressVIPs parses the addresses in svc's status, reporting each one that is not an address.
// Both modes read a Service's VIPs through it, so they agree on which are valid.
func IngressVIPs(svc *corev1.Service, ps *Problems) []netip.Addr {
	vips := make([]netip.Addr, 0, len(svc.Status.LoadBalancer.Ingress))
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP == "" {
			continue
		}
		vip, err := netip.ParseAddr(ing.IP)
		if err != nil || vip.Zone() != "" {
			ps.add(Ref{Kind: KindService, Name: svc.Namespace + "/" + svc.Name},
				"status.loadBalancer.ingress["+strconv.Itoa(i)+"].ip", "%q is not an IP address", ing.IP)
			continue
		}
		vips = append(vips, vip.Unmap())
	}
	return vips
}

func (b *nodeBuilder) addService(svc *corev1.Service, vips []netip.Addr) {
	// A Service has a few VIPs and peers: slices with linear de-duplication allocate less than maps.
	peers := make([]string, 0, len(b.neighbors))
	prefixes := make([]netip.Prefix, 0, len(vips))
	for _, vip := range vips {
		for _, a := range b.advs {
			if !advCovers(b.cfg, a, vip) || !a.SelectsService(svc) {
				continue
			}
			pfx := aggregate(vip, a)
			for _, acc := range b.neighbors {
				if appliesTo(a, acc.n.Peer.Name) && acc.announce(pfx, a) {
					peers = appendNew(peers, acc.n.Peer.Name)
					prefixes = appendNew(prefixes, pfx)
				}
			}
		}
	}
	if len(peers) == 0 {
		return
	}
	slices.Sort(peers)
	slices.SortFunc(prefixes, comparePrefixes)
	b.services = append(b.services, ServiceAnnouncement{Namespace: svc.Namespace, Name: svc.Name, Prefixes: prefixes, Peers: peers})
}

func appendNew[T comparable](s []T, v T) []T {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func advCovers(cfg *Config, a *BGPAdvertisement, vip netip.Addr) bool {
	for _, name := range a.Pools {
		if p := cfg.Pools[name]; p != nil && p.Contains(vip) {
			return true
		}
	}
	return false
}

func aggregate(vip netip.Addr, a *BGPAdvertisement) netip.Prefix {
	bits := a.AggregationLength
	if vip.Is6() {
		bits = a.AggregationLengthV6
	}
	p, _ := vip.Prefix(bits)
	return p
}

// announce records pfx for this neighbour with a's attributes; it reports false when the neighbour
// does not carry pfx's family.
func (acc *neighborAcc) announce(pfx netip.Prefix, a *BGPAdvertisement) bool {
	if pfx.Addr().Is4() && !acc.n.IPv4 || pfx.Addr().Is6() && !acc.n.IPv6 {
		return false
	}
	acc.all[pfx] = struct{}{}
	acc.router.networks[pfx] = struct{}{}
	for _, c := range a.Communities {
		acc.comms[c][pfx] = struct{}{}
	}
	if a.LocalPref != 0 {
		acc.lps[a.LocalPref][pfx] = struct{}{}
	}
	return true
}

func (b *nodeBuilder) finish() ([]*Router, []*BFDProfile, []ServiceAnnouncement) {
	routers := make([]*Router, 0, len(b.routers))
	bfd := map[string]*BFDProfile{}
	for _, vrf := range sortedKeys(b.routers) { // "" (the default VRF) sorts first
		ra := b.routers[vrf]
		ra.r.Networks4, ra.r.Networks6 = splitFamilies(ra.networks)
		for _, nb := range ra.r.Neighbors {
			b.neighbors[nb.Peer.Name].fill()
			if p := b.cfg.BFDProfiles[nb.Peer.BFDProfile]; p != nil {
				bfd[p.Name] = p
			}
		}
		routers = append(routers, ra.r)
	}
	profiles := make([]*BFDProfile, 0, len(bfd))
	for _, name := range sortedKeys(bfd) {
		profiles = append(profiles, bfd[name])
	}
	return routers, profiles, b.services
}

func (acc *neighborAcc) fill() {
	nb := acc.n
	nb.All.V4, nb.All.V6 = splitFamilies(acc.all)
	comms := make([]Community, 0, len(acc.comms))
	for c := range acc.comms {
		comms = append(comms, c)
	}
	sort.Slice(comms, func(i, j int) bool { return communityLess(comms[i], comms[j]) })
	for _, c := range comms {
		s := CommunitySet{Community: c}
		s.Prefixes.V4, s.Prefixes.V6 = splitFamilies(acc.comms[c])
		nb.Communities = append(nb.Communities, s)
	}
	for _, lp := range sortedKeys(acc.lps) {
		s := LocalPrefSet{LocalPref: lp}
		s.Prefixes.V4, s.Prefixes.V6 = splitFamilies(acc.lps[lp])
		nb.LocalPrefs = append(nb.LocalPrefs, s)
	}
}

// communityLess orders standard communities before large ones, each numerically.
func communityLess(a, b Community) bool {
	if a.Large != b.Large {
		return !a.Large
	}
	pa, pb := communityParts(a.Value), communityParts(b.Value)
	for i := range pa {
		if i < len(pb) && pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return a.Value < b.Value
}

func communityParts(v string) []uint64 {
	var out []uint64
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || v[i] == ':' {
			n, _ := strconv.ParseUint(v[start:i], 10, 64)
			out = append(out, n)
			start = i + 1
		}
	}
	return out
}

func splitFamilies(set map[netip.Prefix]struct{}) (v4, v6 []netip.Prefix) {
	for _, p := range sortedPrefixes(set) {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

func sortedPrefixes(set map[netip.Prefix]struct{}) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefixes)
	return out
}

func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func sortedKeys[K interface{ ~string | ~uint32 }, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sortedServices(in []corev1.Service) []*corev1.Service {
	out := make([]*corev1.Service, len(in))
	for i := range in {
		out[i] = &in[i]
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// safePeer checks every string of a peer that reaches FRR as one token: printable ASCII, no
// whitespace. Build's checks are looser (they reject whitespace only), so a control character or a
// non-ASCII letter is caught here.
func safePeer(p *Peer, ps *Problems) bool {
	ref := Ref{Kind: KindPeer, Name: p.Name}
	ok := true
	for _, f := range []struct{ field, value string }{
		{"metadata.name", p.Name}, {"spec.interface", p.Interface}, {"spec.vrf", p.VRF},
		{"spec.password", p.Password}, {"spec.bfdProfile", p.BFDProfile},
	} {
		if !SafeToken(f.value) {
			ps.add(ref, f.field, "must be printable ASCII without whitespace, as FRR reads it as one word")
			ok = false
		}
	}
	if !validName(p.Name) || p.Addr.Zone() != "" || p.SrcAddr.Zone() != "" || (p.Interface == "") == !p.Addr.IsValid() {
		ps.add(ref, "spec", "needs a DNS name and exactly one of peerAddress (without zone) and interface")
		ok = false
	}
	return ok
}

// SafeToken reports whether s can be written as one word of FRR configuration: printable ASCII
// without whitespace (FRR splits lines on whitespace; a comment mark counts only at a line's start,
// which a token never is).
func SafeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
