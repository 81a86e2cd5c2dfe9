// Package frrtemplates renders one node's BGP state (model.NodeBGP) as the frr.conf its FRR sidecar
// runs. Templates are embedded and split by concern (global, BFD, prefix lists and route maps,
// neighbours, address families); this file only turns the model into flat, sorted view data so the
// templates stay free of logic.
package frrtemplates

import (
	"bytes"
	"embed"
	"fmt"
	"hash/fnv"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"

	"github.com/routelb/routelb/internal/model"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var tmpl = template.Must(template.New("frr").Option("missingkey=error").
	Funcs(sprig.TxtFuncMap()).Funcs(template.FuncMap{"tok": tok}).
	ParseFS(templateFS, "templates/*.tmpl"))

// tok is the templates' last gate against injection: every string that reaches a line goes through
// it, and anything that is not one printable word fails the render instead of splitting the line.
func tok(s string) (string, error) {
	if s == "" || !model.SafeToken(s) {
		return "", fmt.Errorf("refusing to render %q: not one printable word", s)
	}
	return s, nil
}

// Render returns the frr.conf for the node.
func Render(n *model.NodeBGP) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(estimateSize(n))
	if err := tmpl.ExecuteTemplate(&b, "frr", newView(n)); err != nil {
		return nil, fmt.Errorf("rendering frr.conf for node %s: %w", n.NodeName, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func estimateSize(n *model.NodeBGP) int {
	size := 512
	for _, r := range n.Routers {
		size += 48 * (len(r.Networks4) + len(r.Networks6))
		for _, nb := range r.Neighbors {
			size += 1024 + 64*nb.All.Len()
		}
	}
	return size
}

type view struct {
	Hostname    string
	Routers     []routerView
	BFDProfiles []*model.BFDProfile
	PrefixLists []prefixList
	RouteMaps   []routeMap
}

type routerView struct {
	ASN             uint32
	VRF             string
	RouterID        string
	Neighbors       []neighborView
	AddressFamilies []addressFamily
}

type neighborView struct {
	ID              string
	Interface       bool
	RemoteAS        string
	Description     string
	LocalAS         uint32
	Port            uint16
	UpdateSource    string
	EBGPMultiHop    bool
	Timers          *timers
	ConnectTime     int64
	Password        string
	BFDProfile      string
	GracefulRestart bool
}

type timers struct{ Keepalive, Hold int64 }

type addressFamily struct {
	Name      string // ipv4 or ipv6
	Networks  []netip.Prefix
	Neighbors []afNeighbor
}

type afNeighbor struct{ ID, RouteMap string }

type prefixList struct {
	Family string // ip or ipv6
	Name   string
	// Entries are "SEQ permit PREFIX" (and the final "deny any"), preformatted: with 10,000 VIPs
	// this is most of the file, and formatting them through the template's reflection costs 3x more.
	Entries []string
}

type routeMap struct {
	Name    string
	Entries []routeMapEntry
}

type routeMapEntry struct {
	Seq            int
	Family         string
	PrefixList     string
	Community      string
	LargeCommunity string
	LocalPref      uint32
	Next           bool
}

func newView(n *model.NodeBGP) *view {
	v := &view{Hostname: n.NodeName, BFDProfiles: n.BFDProfiles}
	for _, r := range n.Routers {
		rv := routerView{ASN: r.MyASN, VRF: r.VRF}
		if r.RouterID.IsValid() {
			rv.RouterID = r.RouterID.String()
		}
		af4 := addressFamily{Name: "ipv4", Networks: r.Networks4}
		af6 := addressFamily{Name: "ipv6", Networks: r.Networks6}
		for _, nb := range r.Neighbors {
			rv.Neighbors = append(rv.Neighbors, neighbor(r, nb))
			rm := neighborPolicy(nb, v)
			id := neighborID(nb.Peer)
			if nb.IPv4 {
				af4.Neighbors = append(af4.Neighbors, afNeighbor{ID: id, RouteMap: rm})
			}
			if nb.IPv6 {
				af6.Neighbors = append(af6.Neighbors, afNeighbor{ID: id, RouteMap: rm})
			}
		}
		// An address family without neighbours would announce to nobody: leave it out, networks too.
		for _, af := range []addressFamily{af4, af6} {
			if len(af.Neighbors) > 0 {
				rv.AddressFamilies = append(rv.AddressFamilies, af)
			}
		}
		v.Routers = append(v.Routers, rv)
	}
	return v
}

func neighborID(p *model.Peer) string {
	if p.Interface != "" {
		return p.Interface
	}
	return p.Addr.String()
}

func neighbor(r *model.Router, nb *model.Neighbor) neighborView {
	p := nb.Peer
	v := neighborView{
		ID: neighborID(p), Interface: p.Interface != "", Description: p.Name, LocalAS: p.LocalASN,
		Password: p.Password, BFDProfile: p.BFDProfile, GracefulRestart: p.GracefulRestart,
	}
	switch {
	case p.DynamicASN != "":
		v.RemoteAS = p.DynamicASN
	default:
		v.RemoteAS = strconv.FormatUint(uint64(p.ASN), 10)
	}
	ibgp := p.DynamicASN == "internal" || p.DynamicASN == "" && p.ASN == r.MyASN
	// FRR ignores multihop on iBGP sessions (they are multihop already); leave the line out so the
	// running config matches the file.
	v.EBGPMultiHop = p.EBGPMultiHop && !ibgp
	if p.Port != 0 && p.Port != 179 {
		v.Port = p.Port
	}
	if p.SrcAddr.IsValid() {
		v.UpdateSource = p.SrcAddr.String()
	}
	if p.HoldTime != nil || p.KeepaliveTime != nil {
		hold := 90 * time.Second
		if p.HoldTime != nil {
			hold = *p.HoldTime
		}
		ka := hold / 3
		if p.KeepaliveTime != nil {
			ka = *p.KeepaliveTime
		}
		v.Timers = &timers{Keepalive: int64(ka / time.Second), Hold: int64(hold / time.Second)}
	}
	if p.ConnectTime != nil {
		v.ConnectTime = int64(*p.ConnectTime / time.Second)
	}
	return v
}

// Route-map entries come in three sections at fixed starting numbers, so adding a community or a
// local preference to an advertisement inserts entries without renumbering the final ones.
const (
	seqCommunities = 10
	seqLocalPrefs  = 30000
	seqAll         = 65000
)

// neighborPolicy adds the neighbour's prefix lists and outbound route-map to v and returns the
// route-map's name. Entries with "on-match next" add attributes cumulatively; the last entries
// permit everything announced to the neighbour; anything else falls to the implicit deny. Every
// list and entry exists whether or not a prefix uses it, so Service churn only edits list entries.
func neighborPolicy(nb *model.Neighbor, v *view) string {
	base := "rlb_" + nb.Peer.Name
	rm := routeMap{Name: base + "_out"}
	seq := seqCommunities
	add := func(suffix string, set model.PrefixSet, e routeMapEntry) {
		for _, fam := range families(nb) {
			prefixes, name := set.V4, base+suffix+"_v4"
			if fam == "ipv6" {
				prefixes, name = set.V6, base+suffix+"_v6"
			}
			v.PrefixLists = append(v.PrefixLists, newPrefixList(fam, name, prefixes))
			e.Seq, e.Family, e.PrefixList = seq, fam, name
			rm.Entries = append(rm.Entries, e)
			seq += 10
		}
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
	add("", nb.All, routeMapEntry{})
	v.RouteMaps = append(v.RouteMaps, rm)
	return rm.Name
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

// families are the match keywords of the families the neighbour is activated in.
func families(nb *model.Neighbor) []string {
	var out []string
	if nb.IPv4 {
		out = append(out, "ip")
	}
	if nb.IPv6 {
		out = append(out, "ipv6")
	}
	return out
}

// sentinelSeq holds a "deny any" entry in every list. A list that exists with no entries permits
// everything in FRR, and one that does not exist matches nothing; the sentinel keeps every list in
// existence, with explicit deny-all semantics when no prefix is announced.
const sentinelSeq = 4294967295

func newPrefixList(family, name string, prefixes []netip.Prefix) prefixList {
	type entry struct {
		seq    uint32
		prefix netip.Prefix
	}
	entries := make([]entry, 0, len(prefixes))
	used := make(map[uint32]bool, len(prefixes))
	for _, p := range prefixes {
		entries = append(entries, entry{seqFor(p, used), p})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].seq < entries[j].seq })
	l := prefixList{Family: family, Name: name, Entries: make([]string, 0, len(entries)+1)}
	var buf []byte
	for _, e := range entries {
		buf = strconv.AppendUint(buf[:0], uint64(e.seq), 10)
		buf = append(buf, " permit "...)
		buf = e.prefix.AppendTo(buf)
		l.Entries = append(l.Entries, string(buf))
	}
	l.Entries = append(l.Entries, strconv.FormatUint(sentinelSeq, 10)+" deny any")
	return l
}

// seqFor numbers an entry by a hash of its prefix, so adding or removing one VIP changes exactly one
// line of each list (numbering by position would renumber every later entry). Collisions, rare in
// 2^32 numbers, take the next free number; prefixes come sorted, so the result is deterministic.
func seqFor(p netip.Prefix, used map[uint32]bool) uint32 {
	h := fnv.New32a()
	b, _ := p.Addr().MarshalBinary()
	_, _ = h.Write(b)
	_, _ = h.Write([]byte{byte(p.Bits())})
	seq := h.Sum32()%(sentinelSeq-1) + 1
	for used[seq] {
		seq = seq%(sentinelSeq-1) + 1
	}
	used[seq] = true
	return seq
}
