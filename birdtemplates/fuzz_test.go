package birdtemplates_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/routelb/routelb/birdtemplates"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/templatetest"
)

// grammar is every line the renderer may write. A string (W) is printable ASCII without spaces or
// double quotes; a symbol (S) is what names are built from (DNS names, dashes, dots, underscores).
var grammar = func() *regexp.Regexp {
	const W, S, N, IP = `[!#-~]+`, `'[a-z0-9._-]+'`, `[0-9]+`, `[0-9a-f.:]+`
	P := IP + `/[0-9]+`
	lines := []string{
		``, `# .*`, `hostname "` + W + `";`, `router id [0-9.]+;`, `log stderr all;`, `timeformat log iso long ms;`,
		`protocol device 'routelb_device' \{`, `\}`,
		`define ` + S + ` = \[`, `  ` + P + `(\{` + N + `,` + N + `\})?,?`, `\];`,
		`filter ` + S + ` \{`, `  if net ~ ` + S + ` then (bgp_community.add\(\(` + N + `,` + N + `\)\)|bgp_large_community.add\(\(` +
			N + `,` + N + `,` + N + `\)\)|bgp_local_pref = ` + N + `|accept);`, `  reject;`,
		`protocol static 'routelb_vips_v[46]' \{`, `  ipv[46] \{ import all; export none; \};`, `  route ` + P + ` blackhole;`,
		`protocol bfd ` + S + ` \{`, `  vrf "` + W + `";`,
		`protocol bgp ` + S + ` \{`, `  description "` + W + `";`, `  local as ` + N + `;`,
		`  neighbor ` + IP + `( port ` + N + `)? (as ` + N + `|internal|external);`, `  router id [0-9.]+;`,
		`  source address ` + IP + `;`, `  (multihop|direct|graceful restart on);`,
		`  (hold|keepalive|connect retry) time ` + N + `;`, `  password "` + W + `";`,
		`  bfd \{`, `    min (rx|tx) interval ` + N + ` ms;`, `    multiplier ` + N + `;`, `    passive on;`, `  \};`,
		`  error wait time 1, 10;`, `  ipv[46] \{`, `    import (none|all|filter ` + S + `);`, `    export filter ` + S + `;`, `    next hop self;`,
	}
	return templatetest.Grammar(lines...)
}()

// FuzzRender drives object strings that reach the config (names, password, VRF, interface, BFD
// profile, community alias, node name, VIP) through model.Build, model.ForBIRD, model.BuildNode and
// Render. Whatever the strings, the output is only lines of the grammar, with exactly one hostname,
// one BGP protocol per neighbour and one neighbor line in each: no object can add or split a line.
func FuzzRender(f *testing.F) {
	f.Add("router", "pw\";\n  neighbor 192.0.2.1 as 1", "red", "", "fast", "tag", "64512:1", "node1", "203.0.113.5")
	f.Add("r", "x", "red\"; }\nprotocol bgp x {", "eth0", "fast'\n}", "a b", "1:1\n}", "node1\nhostname x", "2001:db8::1")
	templatetest.Fuzz{Adapt: forBIRD, Render: birdtemplates.Render, Check: checkGrammar}.Run(f)
}

func forBIRD(cfg *model.Config) *model.Config {
	cfg, _ = model.ForBIRD(cfg, nil)
	return cfg
}

func checkGrammar(t *testing.T, n *model.NodeBGP, out string) {
	t.Helper()
	counts := templatetest.GrammarLines(t, grammar, out, func(line string) string {
		switch {
		case strings.HasPrefix(line, "hostname "):
			return "hostname"
		case strings.HasPrefix(line, "protocol bgp "):
			return "protocol"
		case strings.HasPrefix(line, "  neighbor "):
			return "neighbor"
		}
		return ""
	})
	neighbors := templatetest.Neighbors(n)
	if counts["hostname"] != 1 || counts["protocol"] != neighbors || counts["neighbor"] != neighbors {
		t.Fatalf("structure mismatch: %v for %d neighbours:\n%s", counts, neighbors, out)
	}
}
