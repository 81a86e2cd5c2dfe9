package frr

import (
	"sort"
	"strings"
)

// Delta returns the vtysh commands (a config file for `vtysh -f`) that turn
// the running config into the target. Both are normalized first.
//
// Order matters because vtysh applies line by line: definitions (prefix
// lists, BFD profiles, route-maps) are added before the BGP lines that refer
// to them, and removed only after those references are gone; whole BGP
// instances are removed (VRFs first) before new ones are created, so an ASN
// change works; neighbors are created before their options are set. A value
// replaced in place (same key, e.g. "neighbor X timers") is only set, never
// removed first, so that nothing is torn down in between.
func Delta(running, target *Block) []string { return Rules{}.Delta(running, target) }

// Delta is the package's Delta under the release's rules.
func (rules Rules) Delta(running, target *Block) []string {
	r, t := rules.Normalize(running), rules.Normalize(target)
	var early, late []string
	adds, rems := diffLines(r.Lines, t.Lines, globalKey)
	early = append(early, adds...)
	for _, tb := range t.Blocks {
		if isBGP(tb.Header) {
			continue
		}
		e, l := blockDelta(sameEntity(r, tb.Header), tb)
		early, late = append(early, e...), append(late, l...)
	}
	for _, rb := range r.Blocks {
		if !isBGP(rb.Header) && sameEntity(t, rb.Header) == nil {
			late = append(late, removeBlock(rb, "")...)
		}
	}
	for _, l := range rems {
		late = append(late, invert(l))
	}
	out := append(early, bgpDelta(r, t)...)
	return append(out, late...)
}

// sameEntity finds the block of parent that header would configure: a
// route-map entry is identified by name and sequence, so "route-map X permit
// 10" changes an existing "route-map X deny 10" in place.
func sameEntity(parent *Block, header string) *Block {
	id := entityID(header)
	for _, c := range parent.Blocks {
		if entityID(c.Header) == id {
			return c
		}
	}
	return nil
}

func entityID(header string) string {
	if f := strings.Fields(header); len(f) == 4 && f[0] == "route-map" {
		return "route-map " + f[1] + " " + f[3]
	}
	return header
}

func isBGP(h string) bool { return strings.HasPrefix(h, "router bgp ") }

// bgpVRF is the identity of a BGP instance: one per VRF, whatever its ASN.
func bgpVRF(h string) string {
	if i := strings.Index(h, " vrf "); i >= 0 {
		return h[i+5:]
	}
	return ""
}

func bgpDelta(r, t *Block) []string {
	var out []string
	byVRF := map[string]*Block{}
	for _, tb := range t.Blocks {
		if isBGP(tb.Header) {
			byVRF[bgpVRF(tb.Header)] = tb
		}
	}
	var gone []*Block
	for _, rb := range r.Blocks {
		if tb := byVRF[bgpVRF(rb.Header)]; isBGP(rb.Header) && (tb == nil || tb.Header != rb.Header) {
			gone = append(gone, rb)
		}
	}
	// The default instance cannot go while VRF instances depend on it.
	sort.SliceStable(gone, func(i, j int) bool { return bgpVRF(gone[i].Header) > bgpVRF(gone[j].Header) })
	for _, g := range gone {
		out = append(out, "no "+g.Header)
	}
	for _, tb := range t.Blocks {
		if !isBGP(tb.Header) {
			continue
		}
		rb := r.child(tb.Header)
		if rb == nil {
			rb = &Block{Header: tb.Header}
		}
		out = append(out, bgpInstanceDelta(rb, tb)...)
	}
	return out
}

// bgpInstanceDelta changes one BGP instance. Neighbors that disappear are
// removed last with "no neighbor X", which drops all their options at once;
// their individual lines are therefore left out of the removals.
func bgpInstanceDelta(r, t *Block) []string {
	removed := map[string]bool{}
	tn := neighbors(t)
	for n := range neighbors(r) {
		if !tn[n] {
			removed[n] = true
		}
	}
	var body []string
	adds, rems := diffLines(dropNeighbors(r.Lines, removed), t.Lines, bgpKey)
	body = append(body, invertAll(rems)...)
	body = append(body, sortBGPAdds(adds)...)
	for _, ta := range t.Blocks {
		e, _ := blockDelta(filterBlock(r.child(ta.Header), removed), ta)
		body = append(body, e...)
	}
	for _, ra := range r.Blocks {
		if t.child(ra.Header) == nil {
			body = append(body, removeBlock(filterBlock(ra, removed), "")...)
		}
	}
	for _, n := range sortedKeys(removed) {
		body = append(body, "no neighbor "+n)
	}
	if len(body) == 0 {
		return nil
	}
	return append(append([]string{t.Header}, indent(body)...), "exit")
}

// neighbors lists the neighbors (and peer-groups) an instance defines.
func neighbors(b *Block) map[string]bool {
	ns := map[string]bool{}
	for _, l := range b.Lines {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "neighbor" && (f[2] == "remote-as" || f[2] == "interface" ||
			(f[2] == "peer-group" && len(f) == 3)) {
			ns[f[1]] = true
		}
	}
	return ns
}

func dropNeighbors(lines []string, removed map[string]bool) []string {
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) < 2 || f[0] != "neighbor" || !removed[f[1]] {
			out = append(out, l)
		}
	}
	return out
}

func filterBlock(b *Block, removed map[string]bool) *Block {
	if b == nil {
		return nil
	}
	return &Block{Header: b.Header, Lines: dropNeighbors(b.Lines, removed)}
}

// sortBGPAdds puts instance-wide switches first (they change how neighbors
// are created, e.g. "no bgp default ipv4-unicast"), then peer-group and
// neighbor definitions, then everything that refers to a neighbor.
func sortBGPAdds(adds []string) []string {
	rank := func(l string) int {
		f := strings.Fields(l)
		switch {
		case f[0] != "neighbor":
			return 0
		case len(f) == 3 && f[2] == "peer-group":
			return 1
		case f[2] == "remote-as" || f[2] == "interface":
			return 2
		}
		return 3
	}
	sort.SliceStable(adds, func(i, j int) bool { return rank(adds[i]) < rank(adds[j]) })
	return adds
}

// blockDelta changes one block (nil r: creates it). early holds additions
// and in-place changes; late holds removals of sub-blocks (e.g. a BFD
// profile), which must wait until references to them are gone.
func blockDelta(r, t *Block) (early, late []string) {
	created := r == nil || r.Header != t.Header // new, or an entry whose action changes
	if r == nil {
		r = &Block{Header: t.Header}
	}
	adds, rems := diffLines(r.Lines, t.Lines, keyFunc(t.Header))
	var body []string
	for _, l := range rems {
		body = append(body, removeLine(t.Header, l))
	}
	body = append(body, adds...)
	var lateBody []string
	for _, tc := range t.Blocks {
		e, l := blockDelta(r.child(tc.Header), tc)
		body, lateBody = append(body, e...), append(lateBody, l...)
	}
	for _, rc := range r.Blocks {
		if t.child(rc.Header) == nil {
			lateBody = append(lateBody, removeBlock(rc, t.Header)...)
		}
	}
	if created && len(body) == 0 {
		return []string{t.Header, exitCmd(t.Header)}, nil // an empty block still exists (route-map X deny 10)
	}
	return wrap(t.Header, body), wrap(t.Header, lateBody)
}

func wrap(header string, body []string) []string {
	if len(body) == 0 {
		return nil
	}
	return append(append([]string{header}, indent(body)...), exitCmd(header))
}

func indent(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = " " + l
	}
	return out
}

// removeBlock removes a whole block. Address families cannot be removed as
// such, only emptied; the BFD node itself stays, only its contents go.
func removeBlock(b *Block, parent string) []string {
	switch {
	case isAF(b.Header):
		var body []string
		for _, l := range b.Lines {
			body = append(body, invert(l))
		}
		return wrap(b.Header, body)
	case b.Header == "bfd":
		var body []string
		for _, c := range b.Blocks {
			body = append(body, removeBlock(c, "bfd")...)
		}
		for _, l := range b.Lines {
			body = append(body, invert(l))
		}
		return wrap("bfd", body)
	}
	return []string{"no " + b.Header}
}

// removeLine undoes one line; BFD timers have no "no" form in FRR 8.4, so
// they are set back to their default instead.
func removeLine(header, l string) string {
	if hasWordPrefix(header, "profile", "peer") {
		if k, _ := bfdKey(l); k != "" {
			return k + " " + bfdDefaults[k]
		}
	}
	return invert(l)
}

func invert(l string) string {
	if strings.HasPrefix(l, "no ") {
		return l[3:]
	}
	return "no " + l
}

func invertAll(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = invert(l)
	}
	return out
}

// diffLines returns target lines missing from running (adds), and running
// lines missing from target whose setting is not simply replaced by an add
// (rems). Removals are ordered so that a more specific line ("neighbor X
// bfd profile P") goes before the line it extends ("neighbor X bfd").
func diffLines(running, target []string, key func(string) string) (adds, rems []string) {
	rs, ts, tkeys := set(running), set(target), map[string]bool{}
	for _, l := range target {
		if k := key(l); k != "" {
			tkeys[k] = true
		}
		if !rs[l] {
			adds = append(adds, l)
		}
	}
	for _, l := range running {
		if !ts[l] && (key(l) == "" || !tkeys[key(l)]) {
			rems = append(rems, l)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(rems)))
	return adds, rems
}

func set(ls []string) map[string]bool {
	m := make(map[string]bool, len(ls))
	for _, l := range ls {
		m[l] = true
	}
	return m
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
