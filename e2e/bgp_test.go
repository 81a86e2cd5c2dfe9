package e2e

import (
	"testing"

	"github.com/routelb/routelb/e2e/lab"
)

// TestBGP is the seed's BGP scenario on nodes running FRR (e2e/bird runs it on BIRD).
func TestBGP(t *testing.T) { lab.BGPScenario(t, use(t)) }
