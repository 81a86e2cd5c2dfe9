package frrtemplates

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/routelb/routelb/internal/model"
)

// The rendered policy tags each route where it is originated and selects on the tags where it is
// exported, so that a VIP costs one line, its network line, whatever the number of peers and
// attributes (docs/bgp.md, "Rendered shape"):
//
//   - Every (neighbour, attribute) pair is a marker: a large community 4294967295:P:A, P naming the
//     neighbour and A the attribute (0: announced at all; otherwise a community or a local
//     preference the neighbour's advertisements set), and a large-community list holding it.
//   - `network PREFIX route-map rlb_net_H` sets the prefix's markers when bgpd originates it; every
//     prefix with the same markers shares the route-map (H hashes them), so Service churn adds and
//     removes network lines only.
//   - Each neighbour's outbound route-map matches its own markers: one entry per community or local
//     preference, and a final entry that permits what the neighbour gets and deletes every marker.
//     Anything else falls to the route-map's implicit deny.
//
// Prefix lists, which this replaces, cost FRR a re-evaluation of every route per entry added
// (docs/benchmarks.md, "Bulk changes"). The markers' global administrator is the last AS number,
// reserved by RFC 7300, so no routing policy of a real AS uses it; they never leave the node.
const markerAdmin = "4294967295"

// markersList matches every marker, for deleting them all on export.
const markersList = "rlb_markers"

// Route-map entries come in three sections at fixed starting numbers, so adding a community or a
// local preference to an advertisement inserts entries without renumbering the final one.
const (
	seqCommunities = 10
	seqLocalPrefs  = 30000
	seqAll         = 65000
	// seqDenyIn is the inbound route-maps' last entry: routes a peer sends are dropped, as in
	// MetalLB, and nothing a router sends reaches the node's routing table, unless the peer's
	// toReceive permits them in an entry before it (seqReceive4, seqReceive6).
	seqDenyIn   = 65535
	seqReceive4 = 10
	seqReceive6 = 20
)

// prefixList is an inbound "ip prefix-list" (or ipv6) of what a peer may send.
type prefixList struct {
	IPv6    bool
	Name    string
	Entries []string // "seq N permit PREFIX [ge G] [le L]"
}

type markerList struct {
	Name     string
	Expanded bool
	Entries  []string // "seq N permit VALUE"
}

type routeMap struct {
	Name    string
	Entries []routeMapEntry
}

type routeMapEntry struct {
	Deny           bool
	Seq            int
	Match          string // large-community list
	MatchIPv4      string // inbound: ip prefix-list
	MatchIPv6      string // inbound: ipv6 prefix-list
	Markers        string // origination: the markers to set
	Community      string
	LargeCommunity string
	LocalPref      uint32
	DeleteMarkers  bool
	Next           bool
}

type policy struct {
	byPrefix  map[netip.Prefix][]uint64 // markers, as P<<32|A
	peerIDs   map[uint32]bool
	lists     []markerList
	prefixes  []prefixList
	routeMaps []routeMap
	classes   map[string]string // markers (binary key) -> origination route-map name
	names     map[string]bool
	origins   []routeMap
	key       []byte // origin's scratch buffer
}

// newPolicy computes every neighbour's markers and its route-maps.
func newPolicy(n *model.NodeBGP) *policy {
	size := 0
	for _, r := range n.Routers {
		size += len(r.Networks4) + len(r.Networks6)
	}
	p := &policy{byPrefix: make(map[netip.Prefix][]uint64, size), peerIDs: map[uint32]bool{},
		classes: map[string]string{}, names: map[string]bool{}}
	p.lists = append(p.lists, markerList{Name: markersList, Expanded: true, Entries: []string{"seq 5 permit ^" + markerAdmin + ":"}})
	for _, r := range n.Routers {
		for _, nb := range r.Neighbors {
			p.addNeighbor(nb)
		}
	}
	return p
}

func (p *policy) addNeighbor(nb *model.Neighbor) {
	base := "rlb_" + nb.Peer.Name
	peer := uint64(probe(hash32(nb.Peer.Name), p.peerIDs))
	attrIDs := map[uint32]bool{0: true}
	out := routeMap{Name: base + "_out"}
	seq := seqCommunities
	add := func(suffix string, set model.PrefixSet, e routeMapEntry) {
		id := uint32(0)
		if suffix != "_all" {
			id = probe(hash32(suffix), attrIDs)
		}
		m := peer<<32 | uint64(id)
		e.Seq, e.Match = seq, base+suffix
		p.lists = append(p.lists, markerList{Name: e.Match, Entries: []string{"seq 5 permit " + markerString(m)}})
		out.Entries = append(out.Entries, e)
		for _, pfx := range set.V4 {
			p.byPrefix[pfx] = append(p.byPrefix[pfx], m)
		}
		for _, pfx := range set.V6 {
			p.byPrefix[pfx] = append(p.byPrefix[pfx], m)
		}
		seq += 10
	}
	for _, c := range nb.Communities {
		e := routeMapEntry{Next: true}
		suffix := "_comm_" + strings.ReplaceAll(c.Community.Value, ":", "_")
		if c.Community.Large {
			e.LargeCommunity, suffix = c.Community.Value, "_large_"+strings.ReplaceAll(c.Community.Value, ":", "_")
		} else {
			e.Community = communityName(c.Community.Value)
		}
		add(suffix, c.Prefixes, e)
	}
	seq = max(seq, seqLocalPrefs)
	for _, lp := range nb.LocalPrefs {
		add("_lp_"+strconv.FormatUint(uint64(lp.LocalPref), 10), lp.Prefixes, routeMapEntry{LocalPref: lp.LocalPref, Next: true})
	}
	seq = max(seq, seqAll)
	add("_all", nb.All, routeMapEntry{DeleteMarkers: true})
	p.routeMaps = append(p.routeMaps, out, p.inboundMap(base, nb.Peer.Receive))
}

// inboundMap permits what the peer's toReceive allows, one entry per family matching its prefix
// list (a route-map serves both address families; an IPv4 route never matches an ipv6 list), and
// denies the rest.
func (p *policy) inboundMap(base string, rc model.Receive) routeMap {
	in := routeMap{Name: base + "_in"}
	if rc.All {
		in.Entries = append(in.Entries, routeMapEntry{Seq: seqReceive4})
	}
	if len(rc.V4) > 0 {
		name := base + "_in4"
		p.prefixes = append(p.prefixes, prefixList{Name: name, Entries: prefixEntries(rc.V4)})
		in.Entries = append(in.Entries, routeMapEntry{Seq: seqReceive4, MatchIPv4: name})
	}
	if len(rc.V6) > 0 {
		name := base + "_in6"
		p.prefixes = append(p.prefixes, prefixList{IPv6: true, Name: name, Entries: prefixEntries(rc.V6)})
		in.Entries = append(in.Entries, routeMapEntry{Seq: seqReceive6, MatchIPv6: name})
	}
	in.Entries = append(in.Entries, routeMapEntry{Deny: true, Seq: seqDenyIn})
	return in
}

// prefixEntries writes FRR's prefix-list entries. "ge G le MAX" is written "ge G", as FRR stores
// and prints it, so the running config equals the file.
func prefixEntries(rs []model.PrefixRange) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		e := "seq " + strconv.Itoa(5*(i+1)) + " permit " + r.Prefix.String()
		if r.GE != 0 {
			e += " ge " + strconv.Itoa(r.GE)
		}
		if r.LE != 0 && (r.GE == 0 || r.LE != r.Prefix.Addr().BitLen()) {
			e += " le " + strconv.Itoa(r.LE)
		}
		out[i] = e
	}
	return out
}

func (p *policy) outbound(nb *model.Neighbor) string { return "rlb_" + nb.Peer.Name + "_out" }
func (p *policy) inbound(nb *model.Neighbor) string  { return "rlb_" + nb.Peer.Name + "_in" }

// networks formats each prefix's network line with the route-map setting its markers.
func (p *policy) networks(prefixes []netip.Prefix) []string {
	out := make([]string, 0, len(prefixes))
	var buf []byte
	for _, pfx := range prefixes {
		buf = pfx.AppendTo(buf[:0])
		buf = append(buf, " route-map "...)
		buf = append(buf, p.origin(p.byPrefix[pfx])...)
		out = append(out, string(buf))
	}
	return out
}

// origin returns the origination route-map for a set of markers, creating it on first use.
func (p *policy) origin(markers []uint64) string {
	slices.Sort(markers)
	key := p.key[:0]
	for _, m := range markers {
		key = binary.BigEndian.AppendUint64(key, m)
	}
	p.key = key
	if name, ok := p.classes[string(key)]; ok { // no allocation: most VIPs share a few marker sets
		return name
	}
	h := hash32(string(key))
	name := ""
	for name == "" || p.names[name] { // a collision of two marker sets takes the next number
		name = fmt.Sprintf("rlb_net_%08x", h)
		h++
	}
	p.names[name], p.classes[string(key)] = true, name
	values := make([]string, len(markers))
	for i, m := range markers {
		values[i] = markerString(m)
	}
	p.origins = append(p.origins, routeMap{Name: name, Entries: []routeMapEntry{{Seq: 10, Markers: strings.Join(values, " ")}}})
	return name
}

// finish returns the large-community lists, the inbound prefix lists and the route-maps: origination ones by name, then each
// neighbour's outbound and inbound ones in neighbour order.
func (p *policy) finish() ([]markerList, []prefixList, []routeMap) {
	slices.SortFunc(p.origins, func(a, b routeMap) int { return strings.Compare(a.Name, b.Name) })
	return p.lists, p.prefixes, append(p.origins, p.routeMaps...)
}

func markerString(m uint64) string {
	return markerAdmin + ":" + strconv.FormatUint(m>>32, 10) + ":" + strconv.FormatUint(m&0xffffffff, 10)
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// probe returns id, or the next number not taken when two names hash alike (rare in 2^32; the
// order of neighbours is deterministic, so the result is too), and takes it. 0 is never returned:
// it is the "announced" attribute.
func probe(id uint32, taken map[uint32]bool) uint32 {
	for id == 0 || taken[id] {
		id++
	}
	taken[id] = true
	return id
}

// wellKnown are the communities FRR prints by name in its running config (lib/community.c); writing
// them the same way keeps the rendered file and FRR's running config equal, line for line. 0:0 is
// written as a number: FRR 10 refuses the name "internet" (8.4 prints 0:0 so, which the reloader's
// normalization knows).
var wellKnown = map[string]string{
	"65535:0": "graceful-shutdown", "65535:1": "accept-own",
	"65535:2": "route-filter-translated-v4", "65535:3": "route-filter-v4",
	"65535:4": "route-filter-translated-v6", "65535:5": "route-filter-v6",
	"65535:6": "llgr-stale", "65535:7": "no-llgr", "65535:8": "accept-own-nexthop", "65535:666": "blackhole",
	"65535:65281": "no-export", "65535:65282": "no-advertise", "65535:65283": "local-AS", "65535:65284": "no-peer",
}

func communityName(v string) string {
	if name, ok := wellKnown[v]; ok {
		return name
	}
	return v
}
