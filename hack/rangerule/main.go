// Command rangerule writes the CEL rule that refuses reversed address ranges into the PoolAddress type.
//
// CEL has no IP comparison, and comprehensions or computed prefix strings make the API server's cost
// estimate exceed its budget, so the rule is a fixed binary search over CIDR containment with literal
// prefix lengths: it finds the length L of the common prefix of the range's ends, and the range is
// reversed when bit L of the end is 0. Its estimated cost is that of one path (8 containment checks).
package main

import (
	"fmt"
	"os"
	"strings"
)

const (
	first  = "self.split('-')[0].trim()"
	last   = "self.split('-')[1].trim()"
	marker = "// +kubebuilder:validation:XValidation:rule=\"isCIDR(self) || self.split('-').size() != 2 || !isIP("
	target = "api/v1beta1/ipaddresspool_types.go"
)

func leaf(l, width int) string {
	if l == width {
		return "true"
	}
	return fmt.Sprintf("!cidr(%s + '/%d').containsIP(cidr(%s + '/%d').masked().ip())", last, l+1, first, l)
}

func search(lo, hi, width int) string {
	if lo == hi {
		return leaf(lo, width)
	}
	mid := (lo + hi + 1) / 2
	return fmt.Sprintf("(cidr(%s + '/%d').containsIP(%s) ? %s : %s)", first, mid, last, search(mid, hi, width), search(lo, mid-1, width))
}

func rule() string {
	return "isCIDR(self) || self.split('-').size() != 2 || !isIP(" + first + ") || !isIP(" + last + ") || " +
		"self.split('-')[0].contains(':') != self.split('-')[1].contains(':') || " +
		"(" + first + ".contains(':') ? " + search(0, 128, 128) + " : " + search(0, 32, 32) + ")"
}

func main() {
	data, err := os.ReadFile(target)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lines := strings.Split(string(data), "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, marker) {
			lines[i] = "// +kubebuilder:validation:XValidation:rule=\"" + rule() + "\",message=\"a range must not end before it starts\""
			found = true
		}
	}
	if !found {
		fmt.Fprintf(os.Stderr, "%s: no reversed-range rule marker found\n", target)
		os.Exit(1)
	}
	if err := os.WriteFile(target, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
