// Package birdtemplates renders one node's BGP state (model.NodeBGP) as the bird.conf (BIRD 2.0) its
// BIRD sidecar runs: the same model frrtemplates renders for FRR. Templates are embedded and split
// by concern (global, prefix sets and filters, static routes, BFD, BGP protocols); this file only
// turns the model into flat, sorted view data so the templates stay free of logic.
//
// Fields BIRD cannot express are caught before rendering by model.CheckBIRD, which reports them on
// their objects; the renderer itself refuses any string it cannot write safely.
package birdtemplates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"

	"github.com/routelb/routelb/internal/model"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var tmpl = template.Must(template.New("bird").Option("missingkey=error").
	Funcs(sprig.TxtFuncMap()).Funcs(template.FuncMap{"str": str, "sym": sym, "secret": secret}).
	ParseFS(templateFS, "templates/*.tmpl"))

// str is a BIRD string literal. BIRD's strings have no escapes, so a double quote (or anything
// that is not one printable word) fails the render instead of ending the string early.
func str(s string) (string, error) {
	if s == "" || !model.SafeToken(s) || strings.ContainsRune(s, '"') {
		return "", fmt.Errorf("refusing to render %q as a BIRD string", s)
	}
	return `"` + s + `"`, nil
}

// secret is str for a password: the error, which becomes an event and a log line, never quotes it.
func secret(s string) (string, error) {
	if _, err := str(s); err != nil {
		return "", errors.New("refusing to render a password that is not a BIRD string of one printable word")
	}
	return `"` + s + `"`, nil
}

// symMaxLen is BIRD's longest symbol (SYM_MAX_LEN); a longer one fails the whole file with
// "Symbol too long".
const symMaxLen = 64

// sym is a quoted BIRD symbol ('rlb_tor-a_v4'); our names are built from DNS names only. Names
// built from a long peer name and a large community exceed symMaxLen: they are cut and given a
// hash of the whole name, so every symbol stays unique and the same name always maps to the same
// symbol (definition and uses agree).
func sym(s string) (string, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", fmt.Errorf("refusing to render %q as a BIRD symbol", s)
		}
	}
	if s == "" {
		return "", fmt.Errorf("refusing to render an empty BIRD symbol")
	}
	if len(s) > symMaxLen {
		h := sha256.Sum256([]byte(s))
		s = s[:symMaxLen-13] + "_" + hex.EncodeToString(h[:6])
	}
	return "'" + s + "'", nil
}

// Render returns the bird.conf for the node.
func Render(n *model.NodeBGP) ([]byte, error) {
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, "bird", newView(n)); err != nil {
		return nil, fmt.Errorf("rendering bird.conf for node %s: %w", n.NodeName, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

type view struct {
	Hostname   string
	RouterID   string
	Routers    bool
	PrefixSets []prefixSet
	Filters    []filter
	Static4    []netip.Prefix
	Static6    []netip.Prefix
	BFD        []bfdProtocol
	Protocols  []protocol
}

type prefixSet struct {
	Name    string
	Entries []string // "  PREFIX," lines, the last without the comma
}

type filter struct {
	Name  string
	Rules []rule
}

// rule is one "if net ~ SET then ACTION;" line; exactly one action is set.
type rule struct {
	Set            string
	Community      string // "(64512,100)"
	LargeCommunity string // "(4200000000,1,2)"
	LocalPref      uint32
	Accept         bool
}

type bfdProtocol struct{ Name, VRF string }

type protocol struct {
	Name            string
	Description     string
	LocalAS         uint32
	Neighbor        string
	Port            uint16
	RemoteAS        string // "as N", "internal" or "external"
	RouterID        string
	VRF             string
	SourceAddress   string
	Multihop        bool
	Direct          bool
	Timers          bool
	Hold, Keepalive int64
	ConnectRetry    int64
	Password        string
	GracefulRestart bool
	BFD             *model.BFDProfile
	Channels        []channel
}

// channel is one address family of a session: Filter is its export filter. It imports nothing (as
// in MetalLB) unless the peer's toReceive sets ImportAll or names an ImportFilter.
type channel struct {
	Family, Filter, ImportFilter string
	ImportAll                    bool
}

func newView(n *model.NodeBGP) *view {
	v := &view{Hostname: n.NodeName, Routers: len(n.Routers) > 0}
	profiles := map[string]*model.BFDProfile{}
	for _, p := range n.BFDProfiles {
		profiles[p.Name] = p
	}
	for _, r := range n.Routers {
		if r.VRF == "" && r.RouterID.IsValid() {
			v.RouterID = r.RouterID.String()
		}
		v.Static4 = append(v.Static4, r.Networks4...)
		v.Static6 = append(v.Static6, r.Networks6...)
		bfd := false
		for _, nb := range r.Neighbors {
			pv := newProtocol(r, nb, profiles)
			bfd = bfd || pv.BFD != nil
			for _, fam := range families(nb) {
				ch := channel{Family: fam, Filter: v.addPolicy(nb, fam), ImportAll: nb.Peer.Receive.All}
				ch.ImportFilter = v.addImport(nb, fam)
				pv.Channels = append(pv.Channels, ch)
			}
			v.Protocols = append(v.Protocols, pv)
		}
		// BIRD matches a BGP protocol's BFD requests to a BFD protocol of the same VRF.
		if bfd {
			name := "routelb_bfd"
			if r.VRF != "" {
				name += "_" + r.VRF
			}
			v.BFD = append(v.BFD, bfdProtocol{Name: name, VRF: r.VRF})
		}
	}
	// Routers come sorted by VRF; a VIP announced in two VRFs is one static route.
	v.Static4, v.Static6 = dedup(v.Static4), dedup(v.Static6)
	return v
}

func newProtocol(r *model.Router, nb *model.Neighbor, profiles map[string]*model.BFDProfile) protocol {
	p := nb.Peer
	pv := protocol{
		Name: "rlb_" + p.Name, Description: p.Name, LocalAS: r.MyASN, Neighbor: p.Addr.String(),
		VRF: p.VRF, Password: p.Password, GracefulRestart: p.GracefulRestart,
	}
	if p.LocalASN != 0 {
		// FRR's "local-as N no-prepend replace-as": the peer sees only N. A BIRD protocol has its
		// own local AS, which is exactly that.
		pv.LocalAS = p.LocalASN
	}
	switch {
	case p.DynamicASN != "":
		pv.RemoteAS = p.DynamicASN
	default:
		pv.RemoteAS = "as " + strconv.FormatUint(uint64(p.ASN), 10)
	}
	if p.Port != 0 && p.Port != 179 {
		pv.Port = p.Port
	}
	if r.RouterID.IsValid() {
		pv.RouterID = r.RouterID.String()
	}
	if p.SrcAddr.IsValid() {
		pv.SourceAddress = p.SrcAddr.String()
	}
	ibgp := p.DynamicASN == "internal" || p.DynamicASN == "" && p.ASN == pv.LocalAS
	pv.Multihop = p.EBGPMultiHop && !ibgp // iBGP sessions are multihop in BIRD already
	if p.HoldTime != nil || p.KeepaliveTime != nil {
		hold := 90 * time.Second
		if p.HoldTime != nil {
			hold = *p.HoldTime
		}
		ka := hold / 3
		if p.KeepaliveTime != nil {
			ka = *p.KeepaliveTime
		}
		pv.Timers, pv.Hold, pv.Keepalive = true, int64(hold/time.Second), int64(ka/time.Second)
	}
	if p.ConnectTime != nil {
		pv.ConnectRetry = int64(*p.ConnectTime / time.Second)
	}
	if p.BFDProfile != "" {
		pv.BFD = profiles[p.BFDProfile]
		// BIRD treats iBGP as multihop, and would run multihop BFD, which needs a local address
		// and which FRR routers do not expect on a shared network: FRR runs single-hop BFD there.
		pv.Direct = ibgp && !pv.Multihop
	}
	return pv
}

// addPolicy adds the neighbour's prefix sets and export filter for one family to v and returns the
// filter's name. Rules add communities and local preferences in the order FRR's route-map entries
// apply them (communities, then local preferences ascending, so the highest wins), then accept what
// the peer gets; the rest is rejected. A set with no prefix is left out with its rule: BIRD compares
// filters by content on `birdc configure`, so Service churn re-exports routes without restarting
// the session whatever the shape of the filter.
func (v *view) addPolicy(nb *model.Neighbor, fam string) string {
	base := "rlb_" + nb.Peer.Name
	f := filter{Name: base + "_out_" + fam}
	add := func(suffix string, set model.PrefixSet, r rule) {
		prefixes := set.V4
		if fam == "v6" {
			prefixes = set.V6
		}
		if len(prefixes) == 0 {
			return
		}
		r.Set = base + suffix + "_" + fam
		v.PrefixSets = append(v.PrefixSets, newPrefixSet(r.Set, prefixes))
		f.Rules = append(f.Rules, r)
	}
	for _, c := range nb.Communities {
		parts := strings.Split(c.Community.Value, ":")
		tuple := "(" + strings.Join(parts, ",") + ")"
		if c.Community.Large {
			add("_large_"+strings.Join(parts, "_"), c.Prefixes, rule{LargeCommunity: tuple})
		} else {
			add("_comm_"+strings.Join(parts, "_"), c.Prefixes, rule{Community: tuple})
		}
	}
	for _, lp := range nb.LocalPrefs {
		add("_lp_"+strconv.FormatUint(uint64(lp.LocalPref), 10), lp.Prefixes, rule{LocalPref: lp.LocalPref})
	}
	add("", nb.All, rule{Accept: true})
	v.Filters = append(v.Filters, f)
	return f.Name
}

// addImport returns the name of the channel's import filter for the peer's toReceive, adding it
// and its prefix set to v, or "" when the peer lists no prefix of this family.
func (v *view) addImport(nb *model.Neighbor, fam string) string {
	rc := nb.Peer.Receive
	ranges := rc.V4
	if fam == "v6" {
		ranges = rc.V6
	}
	if len(ranges) == 0 {
		return ""
	}
	name := "rlb_" + nb.Peer.Name + "_in_" + fam
	s := prefixSet{Name: name + "_set", Entries: make([]string, len(ranges))}
	for i, r := range ranges {
		s.Entries[i] = "  " + birdPattern(r) + ","
	}
	last := len(s.Entries) - 1
	s.Entries[last] = strings.TrimSuffix(s.Entries[last], ",")
	v.PrefixSets = append(v.PrefixSets, s)
	v.Filters = append(v.Filters, filter{Name: name, Rules: []rule{{Set: s.Name, Accept: true}}})
	return name
}

// birdPattern writes a prefix range as BIRD's prefix pattern: FRR's "le L" alone is lengths from
// the prefix's own to L, "ge G" alone from G to the family's length.
func birdPattern(r model.PrefixRange) string {
	if r.GE == 0 && r.LE == 0 {
		return r.Prefix.String()
	}
	lo, hi := r.Prefix.Bits(), r.Prefix.Addr().BitLen()
	if r.GE != 0 {
		lo = r.GE
	}
	if r.LE != 0 {
		hi = r.LE
	}
	return r.Prefix.String() + "{" + strconv.Itoa(lo) + "," + strconv.Itoa(hi) + "}"
}

func newPrefixSet(name string, prefixes []netip.Prefix) prefixSet {
	s := prefixSet{Name: name, Entries: make([]string, len(prefixes))}
	for i, p := range prefixes {
		s.Entries[i] = "  " + p.String() + ","
	}
	last := len(s.Entries) - 1
	s.Entries[last] = strings.TrimSuffix(s.Entries[last], ",")
	return s
}

// families are the channel suffixes of the families the neighbour carries.
func families(nb *model.Neighbor) []string {
	var out []string
	if nb.IPv4 {
		out = append(out, "v4")
	}
	if nb.IPv6 {
		out = append(out, "v6")
	}
	return out
}

// dedup sorts and removes duplicates.
func dedup(ps []netip.Prefix) []netip.Prefix {
	if len(ps) == 0 {
		return nil
	}
	out := make([]netip.Prefix, len(ps))
	copy(out, ps)
	sortPrefixes(out)
	j := 0
	for i := 1; i < len(out); i++ {
		if out[i] != out[j] {
			j++
			out[j] = out[i]
		}
	}
	return out[:j+1]
}

func sortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}
