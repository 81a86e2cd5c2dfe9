package frrtemplates_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

// Each testdata/*.yaml is a set of objects as `routelb render` reads them; its first line names the
// node ("# node: NAME", node1 if absent). The matching .conf is the exact frr.conf expected, checked
// by FRR's own parser; only problem-* cases may report problems. -update rewrites the .conf files.
func TestGolden(t *testing.T) {
	templatetest.Golden{Daemon: nodeconfig.DaemonFRR, MinCases: 30, Parser: templatetest.FRRParser}.Run(t)
}

// TestGoldenParsesInFRR10: every golden frr.conf is accepted by FRR 10's parser too (TestGolden
// checks FRR 8.4's), as the chart's FRR image runs it.
func TestGoldenParsesInFRR10(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: needs the FRR 10 root (hack/frr-root.sh trixie), which the normal test run has")
	}
	parser := templatetest.FRRParserOf(netlab.FRR10(t))
	cases, err := filepath.Glob("testdata/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(c), ".conf"), func(t *testing.T) { parser.Check(t, c) })
	}
}
