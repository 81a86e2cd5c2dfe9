package frr

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ignoredGlobal are root lines that never show in, or cannot be changed
// through, FRR 8.4's running config: the version is FRR's own, defaults are
// fixed at daemon start, hostname has no effect in 8.4.4, and forwarding
// lines are printed by zebra whether configured or not.
var ignoredGlobal = []string{"frr version", "frr defaults", "hostname", "service integrated-vtysh-config",
	"no ip forwarding", "no ipv6 forwarding", "no service integrated-vtysh-config",
	// preamble of `show running-config`
	"Building configuration...", "Current configuration:"}

// bfdDefaults are BFD session settings FRR omits from its running config
// when they equal the default; they are also what "removing" one means.
var bfdDefaults = map[string]string{
	"receive-interval": "300", "transmit-interval": "300", "detect-multiplier": "3",
	"echo-interval": "50", "echo receive-interval": "50", "echo transmit-interval": "50", "minimum-ttl": "254",
}

// afNeighborOpts are neighbor options that FRR moves from the bgp level into
// "address-family ipv4 unicast" when given outside any address family.
var afNeighborOpts = []string{"activate", "route-map", "prefix-list", "filter-list", "next-hop-self",
	"soft-reconfiguration", "allowas-in", "maximum-prefix", "default-originate", "send-community",
	"remove-private-AS", "weight", "unsuppress-map", "distribute-list", "attribute-unchanged", "addpath-tx-all-paths",
	"route-reflector-client", "as-override"}

// Normalize returns a copy of cfg in the shape FRR's `show running-config`
// prints it, so that a rendered file and a running config compare equal when
// they mean the same: defaults removed, implied lines added, legacy
// placements moved, empty blocks dropped.
//
// Normalize uses the rules of FRR 8.4; Rules.Normalize those of a given release.
func Normalize(cfg *Block) *Block { return Rules{}.Normalize(cfg) }

// Normalize is the package's Normalize with the release's own defaults dropped too.
func (r Rules) Normalize(cfg *Block) *Block {
	out := &Block{}
	for _, l := range cfg.Lines {
		if !hasWordPrefix(l, ignoredGlobal...) && !slices.Contains(r.defaults, l) {
			out.addLine(l)
		}
	}
	out.Lines, out.index = numberPrefixLists(out.Lines), nil
	for _, b := range cfg.Blocks {
		var n *Block
		switch {
		case strings.HasPrefix(b.Header, "router bgp "):
			n = r.normalizeBGP(b)
		case b.Header == "bfd":
			n = normalizeBFD(b)
		case hasWordPrefix(b.Header, "line"):
			continue // vty settings: not ours to manage
		case hasWordPrefix(b.Header, "route-map"):
			n = normalizeRouteMap(b)
		default:
			n = copyBlock(b)
		}
		mergeInto(out, n)
	}
	return out
}

// mergeInto adds n to parent, merging with a block of the same header (a
// file may open the same block twice).
func mergeInto(parent, n *Block) {
	if n == nil {
		return
	}
	ex := parent.child(n.Header)
	if ex == nil {
		parent.Blocks = append(parent.Blocks, n)
		return
	}
	for _, l := range n.Lines {
		ex.addLine(l)
	}
	for _, c := range n.Blocks {
		mergeInto(ex, c)
	}
}

// normalizeRouteMap writes community 0:0 as a number: FRR 8.4 prints it as "internet", a name
// FRR 10 no longer accepts.
func normalizeRouteMap(b *Block) *Block {
	n := &Block{Header: b.Header}
	for _, l := range b.Lines {
		if hasWordPrefix(l, "set community") {
			f := strings.Fields(l)
			for i := range f {
				if f[i] == "internet" {
					f[i] = "0:0"
				}
			}
			l = strings.Join(f, " ")
		}
		n.addLine(l)
	}
	return n
}

func copyBlock(b *Block) *Block {
	n := &Block{Header: b.Header, Lines: append([]string(nil), b.Lines...)}
	for _, c := range b.Blocks {
		n.Blocks = append(n.Blocks, copyBlock(c))
	}
	return n
}

func (r Rules) normalizeBGP(b *Block) *Block {
	n := &Block{Header: strings.TrimSuffix(b.Header, " vrf default")}
	v4 := &Block{Header: "address-family ipv4 unicast"}
	for _, l := range b.Lines {
		l = r.bgpLine(l)
		switch {
		case strings.HasPrefix(l, "network ") && !strings.Contains(l, ":"):
			v4.addLine(l)
		case isNeighborOpt(l, afNeighborOpts...):
			v4.addLine(l)
		case isNeighborOpt(l, "port") && strings.HasSuffix(l, " port 179"):
		default:
			n.addLine(l)
		}
		if f := strings.Fields(l); isNeighborOpt(l, "bfd") && len(f) > 3 && f[3] == "profile" {
			n.addLine("neighbor " + f[1] + " bfd")
		}
	}
	ipv4Default := !n.hasLine("no bgp default ipv4-unicast")
	for _, c := range append([]*Block{v4}, b.Blocks...) {
		mergeInto(n, normalizeAF(c, ipv4Default))
	}
	return n
}

// normalizeAF drops what FRR does not print: with "bgp default ipv4-unicast"
// (the traditional default) every neighbor is active in ipv4 unicast, and an
// address family without lines is not shown.
func normalizeAF(b *Block, ipv4Default bool) *Block {
	n := &Block{Header: b.Header}
	for _, l := range b.Lines {
		if ipv4Default && b.Header == "address-family ipv4 unicast" && isNeighborOpt(l, "activate") {
			continue
		}
		n.addLine(l)
	}
	if len(n.Lines) == 0 {
		return nil
	}
	return n
}

// isNeighborOpt reports whether l is "neighbor X OPT ...", OPT one of opts.
func isNeighborOpt(l string, opts ...string) bool {
	f := strings.Fields(l)
	if len(f) < 3 || f[0] != "neighbor" {
		return false
	}
	for _, o := range opts {
		if f[2] == o {
			return true
		}
	}
	return false
}

func normalizeBFD(b *Block) *Block {
	n := &Block{Header: "bfd", Lines: append([]string(nil), b.Lines...)}
	for _, c := range b.Blocks {
		p := &Block{Header: c.Header}
		for _, l := range c.Lines {
			// FRR stores "echo-interval X" as both echo intervals.
			if v, ok := strings.CutPrefix(l, "echo-interval "); ok {
				addUnlessDefault(p, "echo transmit-interval "+v)
				addUnlessDefault(p, "echo receive-interval "+v)
				continue
			}
			addUnlessDefault(p, l)
		}
		mergeInto(n, p)
	}
	if len(n.Lines) == 0 && len(n.Blocks) == 0 {
		return nil
	}
	return n
}

func addUnlessDefault(b *Block, l string) {
	if !isBFDDefault(l) {
		b.addLine(l)
	}
}

func isBFDDefault(l string) bool {
	k, v := bfdKey(l)
	return k != "" && bfdDefaults[k] == v
}

// bfdKey splits a BFD setting into its name and value ("echo
// receive-interval 50" -> "echo receive-interval", "50").
func bfdKey(l string) (string, string) {
	i := strings.LastIndexByte(l, ' ')
	if i < 0 {
		return "", ""
	}
	if _, ok := bfdDefaults[l[:i]]; !ok {
		return "", ""
	}
	return l[:i], l[i+1:]
}

// numberPrefixLists gives prefix-list entries without "seq" the number FRR
// assigns (the next multiple of 5 above the list's highest), so that they
// compare equal to the running config.
func numberPrefixLists(lines []string) []string {
	maxSeq := map[string]int{}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 4 || (f[0] != "ip" && f[0] != "ipv6") || f[1] != "prefix-list" || f[3] == "description" {
			out = append(out, l)
			continue
		}
		list := f[0] + " " + f[2]
		if f[3] == "seq" && len(f) > 4 {
			if s, err := strconv.Atoi(f[4]); err == nil && s > maxSeq[list] {
				maxSeq[list] = s
			}
			out = append(out, l)
			continue
		}
		s := (maxSeq[list]/5 + 1) * 5
		maxSeq[list] = s
		out = append(out, fmt.Sprintf("%s prefix-list %s seq %d %s", f[0], f[2], s, strings.Join(f[3:], " ")))
	}
	return out
}

// Flatten lists every line of the tree with its block path, sorted: two
// normalized configs are semantically equal when their flattenings are.
func Flatten(b *Block) []string {
	var out []string
	var walk func(b *Block, path string)
	walk = func(b *Block, path string) {
		for _, l := range b.Lines {
			out = append(out, path+l)
		}
		for _, c := range b.Blocks {
			p := path + c.Header + " > "
			out = append(out, p)
			walk(c, p)
		}
	}
	walk(b, "")
	sort.Strings(out)
	return out
}

// Compare returns the semantic differences between two configs (each
// normalized first): lines only in want prefixed "+", only in got "-".
func Compare(want, got *Block) []string { return Rules{}.Compare(want, got) }

// Compare is the package's Compare under the release's rules.
func (r Rules) Compare(want, got *Block) []string {
	w, g := Flatten(r.Normalize(want)), Flatten(r.Normalize(got))
	var diff []string
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case j >= len(g) || (i < len(w) && w[i] < g[j]):
			diff = append(diff, "+ "+w[i])
			i++
		case i >= len(w) || g[j] < w[i]:
			diff = append(diff, "- "+g[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return diff
}
