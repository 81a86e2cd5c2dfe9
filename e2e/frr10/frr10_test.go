// Package frr10 runs the lab's BGP scenario with FRR 10.x on the nodes (Debian 13's, from the root
// hack/frr-root.sh builds), each node's reloader running inside that root with its own vtysh and
// frr-reload.py, as the chart runs it inside the FRR image; the routers keep the host's FRR 8.4.
package frr10

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routelb/routelb/e2e/lab"
	"github.com/routelb/routelb/internal/daemonfile"
)

var cluster *lab.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(lab.Main(m, lab.Options{Out: os.Stderr, FRR10: true}, func(c *lab.Cluster) { cluster = c }))
}

// TestBGPWithFRR10 is the seed's BGP scenario on FRR 10 nodes: ECMP over the three, BFD taking node2
// out when its link goes down, and back.
func TestBGPWithFRR10(t *testing.T) { lab.BGPScenario(t, cluster.Use(t)) }

// TestReloadersStayedOnDeltas checks, after the scenario, that every node's reloader talked to FRR
// 10 and never needed frr-reload.py: the rendered config and FRR 10's running config converged by
// deltas alone (the fallback resets the sessions of BFD peers).
func TestReloadersStayedOnDeltas(t *testing.T) {
	c := cluster.Use(t)
	for _, n := range c.Nodes {
		b, err := os.ReadFile(filepath.Join(n.RenderDir, daemonfile.StatusFile))
		if err != nil {
			t.Fatal(err)
		}
		var st daemonfile.Status
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		if !strings.HasPrefix(st.FRRVersion, "10.") || st.Diverged {
			t.Errorf("%s: reloader status: want FRR 10.x and no divergence, got %s", n.Name, b)
		}
		log, err := os.ReadFile(n.Reloader.Log)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(log), "falling back to full reload") {
			t.Errorf("%s: the reloader fell back to frr-reload.py (log %s)", n.Name, n.Reloader.Log)
		}
	}
}
