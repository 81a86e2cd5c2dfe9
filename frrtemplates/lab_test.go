package frrtemplates_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

var labObjects = templatetest.LabObjects(`"64512:100"`)

func renderLab(t *testing.T, node, objects string) string {
	t.Helper()
	return string(templatetest.Render(t, nodeconfig.DaemonFRR, node, objects))
}

// TestLabECMPAndBFD runs the rendered configs of two nodes in real FRR, each in its own network
// namespace, against a router FRR over IPv4 and IPv6 sessions: the router's kernel gets one route for
// each VIP (IPv4 and IPv6) through both nodes, BFD sessions come up, and a new Service reaches the
// router without resetting a session.
//
// The nodes run each FRR version in turn (the routers the host's).
func TestLabECMPAndBFD(t *testing.T) {
	netlab.ForEachFRR(t, testLabECMPAndBFD)
}

func testLabECMPAndBFD(t *testing.T, v *netlab.FRRVersion) {
	lab := templatetest.NewClusterLab(t, "root and FRR")
	nodes := map[string]*netlab.FRR{}
	for name, cidrs := range templatetest.LabNodes {
		nodes[name] = templatetest.AddFRRVersion(lab.Lab, v, name, renderLab(t, name, labObjects), cidrs...).FRR
	}
	lab.WaitConverged(t)
	router := lab.Router

	// The community set by the advertisement reaches the router.
	out := router.FRR.MustVtysh("show bgp ipv4 unicast 203.0.113.10/32 json")
	if !strings.Contains(out, "64512:100") {
		t.Errorf("community 64512:100 missing on the router:\n%s", out)
	}
	checkServiceChurn(t, lab, nodes)
}

// checkServiceChurn: the config with one more Service, applied on top of the running one, announces
// the new VIP and leaves both sessions as they were.
func checkServiceChurn(t *testing.T, lab templatetest.ClusterLab, nodes map[string]*netlab.FRR) {
	t.Helper()
	router, router2 := lab.Router, lab.Router2
	before := router.FRR.EstablishedCounts()
	t.Logf("sessions established so far: %v", before)
	for name, f := range nodes {
		path := filepath.Join(f.ScratchDir(), name+"-new.conf") // readable by a chrooted vtysh too
		if err := os.WriteFile(path, []byte(renderLab(t, name, labObjects+templatetest.LabExtraService)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := f.Vtysh("-f", strings.TrimPrefix(path, f.Version.Root)); err != nil {
			t.Fatalf("applying the new config on %s: %v\n%s", name, err, out)
		}
	}
	router.Host.WaitNexthops("203.0.113.11", templatetest.BootTimeout, "198.51.100.11", "198.51.100.12")
	// By now router2's sessions have long been up and the router has both VIPs from both nodes.
	for name, f := range nodes {
		if n := advertised(t, f, "198.51.100.1"); n != 2 {
			t.Errorf("%s advertises %d prefixes to router, want 2", name, n)
		}
		if n := advertised(t, f, "198.51.100.2"); n != 0 {
			t.Errorf("%s advertises %d prefixes to router2, which no advertisement names", name, n)
		}
	}
	if out := router2.FRR.MustVtysh("show ip route bgp json"); strings.Contains(out, "203.0.113.") {
		t.Errorf("router2 got a VIP route:\n%s", out)
	}
	if after := router.FRR.EstablishedCounts(); !maps.Equal(after, before) {
		t.Errorf("a new Service reset sessions: established counts %v -> %v", before, after)
	}
}

// advertised is how many prefixes a node's FRR sends a neighbour after its outbound policy.
func advertised(t *testing.T, f *netlab.FRR, neighbor string) int {
	t.Helper()
	out := f.MustVtysh("show bgp ipv4 unicast neighbors " + neighbor + " advertised-routes json")
	var adv struct {
		Total *int `json:"totalPrefixCounter"`
	}
	if err := json.Unmarshal([]byte(out), &adv); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if adv.Total == nil {
		return 0 // FRR 8.4 prints {} when nothing is advertised
	}
	return *adv.Total
}
