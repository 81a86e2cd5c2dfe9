package birdtemplates_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

// labObjects' advertisement sets a large community as well, which BIRD writes with its own syntax.
var labObjects = templatetest.LabObjects(`"64512:100", "large:64512:1:1"`)

func renderLab(t *testing.T, node, objects string) []byte {
	t.Helper()
	return templatetest.Render(t, nodeconfig.DaemonBIRD, node, objects)
}

// startLabNodes starts LabNodes, each with BIRD configured from labObjects by the reloader.
func startLabNodes(t *testing.T, lab *netlab.Lab) map[string]*templatetest.BIRDNode {
	t.Helper()
	nodes := map[string]*templatetest.BIRDNode{}
	for name, cidrs := range templatetest.LabNodes {
		nodes[name] = templatetest.AddBIRDNode(t, lab, testr.New(t), name, cidrs...)
	}
	applyAll(t, nodes, labObjects)
	return nodes
}

func applyAll(t *testing.T, nodes map[string]*templatetest.BIRDNode, objects string) {
	t.Helper()
	for name, n := range nodes {
		n.Apply(t, renderLab(t, name, objects))
	}
}

// TestLabBIRD runs the rendered bird.conf of two nodes in real BIRD daemons, each in its own
// network namespace and configured through the reloader's BIRD applier, against an FRR router over
// IPv4 and IPv6: the router's kernel gets one route per VIP with both nodes as nexthops, with the
// advertisement's communities; the second router gets nothing; no VIP reaches a node's own kernel;
// a Service coming and going changes routes without resetting a session; and when a node's link
// goes down, BFD takes its nexthop away and the session comes back once the link is up.
func TestLabBIRD(t *testing.T) {
	lab := templatetest.NewClusterLab(t, "root, BIRD and FRR")
	nodes := startLabNodes(t, lab.Lab)
	lab.WaitConverged(t)
	router := lab.Router

	out := router.FRR.MustVtysh("show bgp ipv4 unicast 203.0.113.10/32 json")
	if !strings.Contains(out, "64512:100") || !strings.Contains(out, "64512:1:1") {
		t.Errorf("community 64512:100 or large community 64512:1:1 missing on the router:\n%s", out)
	}
	for name, n := range nodes {
		if out := n.Host.MustRun("ip", "route", "show", "table", "all", "203.0.113.10"); strings.TrimSpace(out) != "" {
			t.Errorf("%s's kernel has a route to its own VIP (BIRD must not export the blackhole): %s", name, out)
		}
	}
	checkServiceChurn(t, lab, nodes)
	checkLinkDown(t, router, nodes["node2"])
}

// checkServiceChurn: a VIP comes and goes; every session and BFD session stays up.
func checkServiceChurn(t *testing.T, lab templatetest.ClusterLab, nodes map[string]*templatetest.BIRDNode) {
	t.Helper()
	router, router2 := lab.Router, lab.Router2
	before := router.FRR.EstablishedCounts()
	applyAll(t, nodes, labObjects+templatetest.LabExtraService)
	router.Host.WaitNexthops("203.0.113.11", templatetest.BootTimeout, "198.51.100.11", "198.51.100.12")
	applyAll(t, nodes, labObjects)
	router.Host.WaitNexthops("203.0.113.11", templatetest.BootTimeout)
	if out := router2.FRR.MustVtysh("show ip route bgp json"); strings.Contains(out, "203.0.113.") {
		t.Errorf("router2 got a VIP route although no advertisement names it:\n%s", out)
	}
	if after := router.FRR.EstablishedCounts(); !maps.Equal(after, before) {
		t.Errorf("adding and removing a VIP reset sessions: established counts %v -> %v", before, after)
	}
}

// checkLinkDown: node2's link goes down and BFD takes it out (the hold time is 9 s; FRR says why it
// closed).
func checkLinkDown(t *testing.T, router templatetest.FRRHost, node2 *templatetest.BIRDNode) {
	t.Helper()
	node2.Host.SetLink(false)
	router.Host.WaitNexthops("203.0.113.10", templatetest.BootTimeout, "198.51.100.11")
	if reason := router.FRR.Neighbors()["198.51.100.12"].LastNotification; !strings.Contains(reason, "BFD Down") {
		t.Errorf("the router closed node2's session for %q, not BFD", reason)
	}
	// BIRD's shortened error wait time lets the session return (BIRD's default would keep it idle
	// for 60 s or more).
	node2.Host.SetLink(true)
	router.FRR.WaitEstablished("198.51.100.12", 30*time.Second)
	router.Host.WaitNexthops("203.0.113.10", templatetest.BootTimeout, "198.51.100.11", "198.51.100.12")
}
