package birdtemplates_test

import (
	"testing"

	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

// Each testdata/*.yaml is a set of objects as `routelb render --routing-daemon bird` reads them (the
// FRR cases of ../frrtemplates/testdata plus BIRD-specific ones); its first line names the node
// ("# node: NAME", node1 if absent). The matching .conf is the exact bird.conf expected, checked by
// BIRD's own parser. A case whose objects use what BIRD cannot express also has a .problems file:
// the exact problems reported on the objects. -update rewrites both from the current output.
func TestGolden(t *testing.T) {
	templatetest.Golden{Daemon: nodeconfig.DaemonBIRD, MinCases: 40, ProblemFiles: true,
		Parser: templatetest.BIRDParser}.Run(t)
}
