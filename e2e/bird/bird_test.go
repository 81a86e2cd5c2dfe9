// Package bird runs the lab's BGP scenario with BIRD as the nodes' routing daemon
// (`--routing-daemon bird` on the speaker and the reloader); the router still runs FRR.
package bird

import (
	"flag"
	"os"
	"testing"

	"github.com/routelb/routelb/e2e/lab"
)

var cluster *lab.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(lab.Main(m, lab.Options{Out: os.Stderr, Daemon: "bird"}, func(c *lab.Cluster) { cluster = c }))
}

// TestBGPWithBIRD is the seed's BGP scenario on BIRD nodes: ECMP over the three, BFD taking node2 out
// when its link goes down, and back.
func TestBGPWithBIRD(t *testing.T) { lab.BGPScenario(t, cluster.Use(t)) }
