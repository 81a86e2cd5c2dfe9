package frr

import (
	"net/netip"
	"strings"
)

// Shapes remembers the shapes of delta lines that FRR's parser (vtysh -C)
// has accepted, so that a delta made only of known shapes, such as one more
// "network A.B.C.D/M", does not pay for another vtysh process (half the time
// of adding one network to 10,000). A shape is the line with its valid
// addresses and prefixes replaced by their type, in the context of its
// enclosing block shapes: FRR's grammar matches an IPv4 prefix token the same
// way whatever its value, and every other token (ASNs, sequence numbers,
// names, ranges) is kept as is and so still checked by FRR when new.
type Shapes map[string]bool

const maxShapes = 10000

// Known reports whether every line of the delta has a known shape.
func (s Shapes) Known(delta []string) bool {
	all := true
	walkShapes(delta, func(k string) {
		if !s[k] {
			all = false
		}
	})
	return all
}

// Learn records the shapes of a delta FRR's parser accepted.
func (s Shapes) Learn(delta []string) {
	if len(s) > maxShapes {
		clear(s)
	}
	walkShapes(delta, func(k string) { s[k] = true })
}

// walkShapes calls f with the context-qualified shape of each line; the
// context comes from the indentation Delta writes (one space per level).
func walkShapes(delta []string, f func(string)) {
	var stack []string
	for _, l := range delta {
		depth := len(l) - len(strings.TrimLeft(l, " "))
		if depth < len(stack) {
			stack = stack[:depth]
		}
		sh := shapeOf(strings.TrimSpace(l))
		f(strings.Join(stack, " > ") + " > " + sh)
		stack = append(stack, sh)
	}
}

func shapeOf(line string) string {
	f := strings.Fields(line)
	for i, w := range f {
		if !strings.ContainsAny(w, ".:") {
			continue
		}
		if p, err := netip.ParsePrefix(w); err == nil && p.String() == w {
			f[i] = map[bool]string{true: "<P4>", false: "<P6>"}[p.Addr().Is4()]
		} else if a, err := netip.ParseAddr(w); err == nil && a.String() == w {
			f[i] = map[bool]string{true: "<A4>", false: "<A6>"}[a.Is4()]
		}
	}
	return strings.Join(f, " ")
}
