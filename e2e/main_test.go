package e2e

import (
	"flag"
	"os"
	"testing"

	"github.com/routelb/routelb/e2e/lab"
)

var cluster *lab.Cluster

// TestMain starts one lab (nodes running FRR) for every scenario.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(lab.Main(m, lab.Options{Out: os.Stderr, SpeakerArgs: l2SpeakerArgs()}, func(c *lab.Cluster) { cluster = c }))
}

func use(t *testing.T) *lab.Cluster {
	t.Helper()
	return cluster.Use(t)
}
