package frrtemplates_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/templatetest"
)

// grammar is every line the renderer may write. A word (W) is printable ASCII without spaces.
var grammar = func() *regexp.Regexp {
	const W, N, P = `[!-~]+`, `[0-9]+`, `[0-9a-f.:]+/[0-9]+`
	lines := []string{
		`frr defaults traditional`, `hostname ` + W, `log timestamp precision 3`,
		`log stdout( (emergencies|alerts|critical|errors|warnings|notifications|informational))?`, `debug (zebra|bgp|bfd)( [a-z-]+)+`, `ip(v6)? nht resolve-via-default`, `bgp route-map delay-timer 1`, `!`,
		`bfd`, ` profile ` + W, `  (receive-interval|transmit-interval|detect-multiplier|minimum-ttl) ` + N,
		`  echo-mode`, `  echo (transmit|receive)-interval ` + N, `  passive-mode`, ` exit`, `exit`,
		`bgp large-community-list expanded rlb_markers seq 5 permit \^4294967295:`,
		`bgp large-community-list standard ` + W + ` seq 5 permit 4294967295:` + N + `:` + N,
		`route-map ` + W + ` (permit|deny) ` + N, ` match large-community ` + W,
		`ipv6? prefix-list ` + W + ` seq ` + N + ` permit ` + P + `( ge ` + N + `)?( le ` + N + `)?`,
		` match ipv6? address prefix-list ` + W,
		` set large-community 4294967295:` + N + `:` + N + `( 4294967295:` + N + `:` + N + `)*`,
		` set community (` + N + `:` + N + `|[a-zA-Z0-9-]+) additive`, ` set large-community ` + N + `:` + N + `:` + N + ` additive`,
		` set local-preference ` + N, ` set large-comm-list rlb_markers delete`, ` on-match next`,
		`router bgp ` + N + `( vrf ` + W + `)?`, ` bgp router-id [0-9.]+`,
		` no bgp (ebgp-requires-policy|network import-check|default ipv4-unicast)`, ` bgp graceful-restart preserve-fw-state`,
		` neighbor ` + W + `( interface)? remote-as (` + N + `|internal|external)`,
		` neighbor ` + W + ` (description ` + W + `|local-as ` + N + ` no-prepend replace-as|port ` + N +
			`|update-source [0-9a-f.:]+|ebgp-multihop 255|timers ` + N + ` ` + N + `|timers connect ` + N +
			`|password ` + W + `|bfd|bfd profile ` + W + `|graceful-restart)`,
		` !`, ` address-family ipv(4|6) unicast`, `  network ` + P + ` route-map rlb_net_[0-9a-f]{8}`, `  neighbor ` + W + ` activate`,
		`  neighbor ` + W + ` route-map ` + W + ` (in|out)`, ` exit-address-family`,
	}
	return templatetest.Grammar(lines...)
}()

// FuzzRender drives object strings that reach the config (names, password, VRF, interface, BFD
// profile, community alias, node name, VIP) through model.Build, model.BuildNode and Render. Whatever
// the strings, the output is only lines of the grammar, with exactly one hostname, one router line
// per router and one remote-as line per neighbour: no object can add or split a line.
func FuzzRender(f *testing.F) {
	f.Add("router", "pw\n neighbor 192.0.2.1 remote-as 1", "red", "", "fast", "tag", "64512:1", "node1", "203.0.113.5")
	f.Add("r", "x", "red\nrouter bgp 1", "eth0 interface", "fast\n!", "a b", "1:1\nexit", "node1\nhostname x", "2001:db8::1")
	templatetest.Fuzz{Render: frrtemplates.Render, Check: checkGrammar}.Run(f)
}

func checkGrammar(t *testing.T, n *model.NodeBGP, out string) {
	t.Helper()
	counts := templatetest.GrammarLines(t, grammar, out, func(line string) string {
		f := strings.Fields(line)
		switch {
		case f[0] == "hostname":
			return "hostname"
		case f[0] == "router" && f[1] == "bgp":
			return "router"
		case f[0] == "neighbor" && strings.Contains(line, " remote-as "):
			return "neighbor"
		}
		return ""
	})
	checkPrefixes(t, n)
	if neighbors := templatetest.Neighbors(n); counts["hostname"] != 1 || counts["router"] != len(n.Routers) || counts["neighbor"] != neighbors {
		t.Fatalf("structure mismatch: %v for %d routers, %d neighbours:\n%s", counts, len(n.Routers), neighbors, out)
	}
}

// checkPrefixes: every prefix a neighbour gets is a valid, masked network without a zone, and an
// IPv4 one is never written in its IPv4-mapped IPv6 form.
func checkPrefixes(t *testing.T, n *model.NodeBGP) {
	t.Helper()
	for _, r := range n.Routers {
		for _, nb := range r.Neighbors {
			for _, p := range append(nb.All.V4, nb.All.V6...) {
				if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr() != p.Addr().Unmap() && p.Addr().Is4In6() {
					t.Fatalf("bad prefix %v", p)
				}
			}
		}
	}
}
