// Package frr is what the reloader knows of FRR's config language, without FRR: it parses
// configs into their block hierarchy, normalizes what each FRR release prints differently from
// what it was given, computes the commands that turn the running config into the target (the
// delta), and remembers which line shapes FRR's parser accepted. No process is run here.
package frr

import (
	"net/netip"
	"strings"
)

// Block is one level of FRR's config hierarchy: the root (Header ""), or a
// block such as "router bgp 64513", "address-family ipv4 unicast",
// "route-map X permit 10", "bfd" or "profile P". Lines are the block's own
// commands, whitespace-collapsed, deduplicated, in file order.
type Block struct {
	Header string
	Lines  []string
	Blocks []*Block

	index map[string]bool // Lines as a set; blocks hold 10,000+ network lines
}

// child returns the sub-block with the given header, or nil.
func (b *Block) child(header string) *Block {
	for _, c := range b.Blocks {
		if c.Header == header {
			return c
		}
	}
	return nil
}

// ensure returns the sub-block with the given header, creating it.
func (b *Block) ensure(header string) *Block {
	if c := b.child(header); c != nil {
		return c
	}
	c := &Block{Header: header}
	b.Blocks = append(b.Blocks, c)
	return c
}

func (b *Block) hasLine(l string) bool {
	if b.index == nil || len(b.index) != len(b.Lines) {
		b.index = set(b.Lines)
	}
	return b.index[l]
}

func (b *Block) addLine(l string) {
	if !b.hasLine(l) {
		b.Lines = append(b.Lines, l)
		b.index[l] = true
	}
}

// Parse reads an FRR config as vtysh would: block openers push a level,
// "exit"/"exit-address-family"/"end" pop, and an unindented global command
// met inside a block closes the block (vtysh falls back to the parent node
// the same way). The result is not normalized; see Normalize.
func Parse(text string) *Block {
	root := &Block{}
	stack := []*Block{root}
	for _, raw := range strings.Split(text, "\n") {
		line := canonicalLine(raw)
		if line == "" || line[0] == '!' || line[0] == '#' {
			continue
		}
		indented := raw[0] == ' ' || raw[0] == '\t'
		stack = parseLine(stack, line, indented)
	}
	return root
}

func parseLine(stack []*Block, line string, indented bool) []*Block {
	switch line {
	case "end":
		return stack[:1]
	case "exit", "quit", "exit-vrf":
		if len(stack) > 1 {
			return stack[:len(stack)-1]
		}
		return stack
	case "exit-address-family":
		if len(stack) > 1 && isAF(stack[len(stack)-1].Header) {
			return stack[:len(stack)-1]
		}
		return stack
	}
	if len(stack) > 1 && !indented && isGlobal(line) {
		stack = stack[:1]
	}
	// A block opener closes deeper blocks that cannot hold it, as vtysh falls
	// back to parent nodes (e.g. "profile b" right after "profile a").
	for j := len(stack) - 1; j >= 0; j-- {
		if opensIn(stack[j].Header, line) {
			return append(stack[:j+1], stack[j].ensure(line))
		}
	}
	cur := stack[len(stack)-1]
	cur.addLine(line)
	return stack
}

// opensIn reports whether line opens a sub-block inside a block with the
// given header (root is "").
func opensIn(header, line string) bool {
	switch {
	case header == "":
		return hasWordPrefix(line, "router", "route-map", "bfd", "interface", "vrf", "line", "key chain",
			"segment-routing", "nexthop-group", "rpki")
	case strings.HasPrefix(header, "router bgp"):
		return strings.HasPrefix(line, "address-family ")
	case header == "bfd":
		return hasWordPrefix(line, "profile", "peer")
	}
	return false
}

// isGlobal reports whether line, met unindented, belongs to the root node.
func isGlobal(line string) bool {
	if hasWordPrefix(line, "bgp as-path", "bgp community-list", "bgp large-community-list", "bgp extcommunity-list",
		"bgp route-map delay-timer") {
		return true
	}
	return opensIn("", line) || hasWordPrefix(line, "ip", "ipv6", "no ip", "no ipv6", "log", "no log", "hostname",
		"frr", "service", "password", "enable", "debug", "agentx", "access-list", "mpls", "no route-map",
		"no router")
}

func isAF(header string) bool { return strings.HasPrefix(header, "address-family ") }

// hasWordPrefix reports whether line starts with one of the prefixes
// followed by a space or the end of the line.
func hasWordPrefix(line string, prefixes ...string) bool {
	for _, p := range prefixes {
		if line == p || strings.HasPrefix(line, p+" ") {
			return true
		}
	}
	return false
}

// canonicalLine collapses whitespace and prints addresses and prefixes the
// way FRR does ("2001:db8::0/128" is shown as "2001:db8::/128").
func canonicalLine(raw string) string {
	f := strings.Fields(raw)
	for i, w := range f {
		if !strings.ContainsAny(w, ".:") || strings.ContainsAny(w, "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ") {
			continue // fast path: most words are keywords or names
		}
		if p, err := netip.ParsePrefix(w); err == nil {
			f[i] = p.String()
		} else if a, err := netip.ParseAddr(w); err == nil {
			f[i] = a.String()
		}
	}
	return strings.Join(f, " ")
}

// String renders the block tree in FRR's own layout (one space of indent per
// level, "exit" closers), e.g. for the redacted running config.
func (b *Block) String() string {
	var sb strings.Builder
	b.write(&sb, "")
	return sb.String()
}

func (b *Block) write(sb *strings.Builder, indent string) {
	for _, l := range b.Lines {
		sb.WriteString(indent + l + "\n")
	}
	for _, c := range b.Blocks {
		if b.Header == "" {
			sb.WriteString("!\n")
		}
		sb.WriteString(indent + c.Header + "\n")
		next := indent
		if b.Header != "" || c.Header != "" {
			next = indent + " "
		}
		c.write(sb, next)
		sb.WriteString(next[:len(next)-1] + exitCmd(c.Header) + "\n")
	}
}

func exitCmd(header string) string {
	if isAF(header) {
		return "exit-address-family"
	}
	return "exit"
}
