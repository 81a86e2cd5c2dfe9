package netlab

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// RootPrefixes lists every address and route of the root namespace. Default
// routes are left out: they overlap everything by definition, and labs never
// route through the uplink anyway because nothing is added to the root
// namespace.
func RootPrefixes() ([]netip.Prefix, error) {
	var all []netip.Prefix
	for _, args := range [][]string{
		{"-4", "addr"}, {"-4", "route", "show", "table", "all"},
		{"-6", "addr"}, {"-6", "route", "show", "table", "all"},
	} {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
		all = append(all, parseIPOutput(string(out))...)
	}
	return all, nil
}

// parseIPOutput extracts prefixes from `ip addr` ("inet P" tokens) and
// `ip route` (destination, possibly after a route type such as "local").
func parseIPOutput(out string) []netip.Prefix {
	var ps []netip.Prefix
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		cand := ""
		switch {
		case f[0] == "inet" || f[0] == "inet6":
			if len(f) > 1 {
				cand = f[1]
			}
		case isRouteType(f[0]) && len(f) > 1:
			cand = f[1]
		case !strings.HasSuffix(f[0], ":"):
			cand = f[0]
		}
		if p, err := parsePrefix(cand); err == nil && p.Bits() > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

func isRouteType(s string) bool {
	switch s {
	case "local", "broadcast", "multicast", "unicast", "anycast", "unreachable", "blackhole", "prohibit", "throw":
		return true
	}
	return false
}

// parsePrefix accepts "a.b.c.d/n" and bare addresses (as host prefixes) and
// masks host bits so that overlap checks compare networks.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

// checkFree refuses p when it overlaps anything in the root namespace, so a
// lab can never shadow or hijack the machine's real networks.
func checkFree(p netip.Prefix, root []netip.Prefix) error {
	for _, r := range root {
		if r.Addr().Is4() != p.Addr().Is4() {
			continue
		}
		if r.Overlaps(p) && !r.Addr().IsLoopback() && !r.Addr().IsLinkLocalUnicast() && !r.Addr().IsMulticast() {
			return fmt.Errorf("range %s overlaps %s in the root namespace: pick another test range", p, r)
		}
	}
	return nil
}
