package frrtemplates_test

import (
	"testing"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/templatetest"
)

// Each testdata/*.yaml is a set of objects as `routelb render` reads them; its first line names the
// node ("# node: NAME", node1 if absent). The matching .conf is the exact frr.conf expected, checked
// by FRR's own parser; only problem-* cases may report problems. -update rewrites the .conf files.
func TestGolden(t *testing.T) {
	templatetest.Golden{Daemon: controllers.DaemonFRR, MinCases: 30, Parser: templatetest.FRRParser}.Run(t)
}
