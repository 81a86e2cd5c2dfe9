package templatetest

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/reloader"
)

// NewLab is a lab with the given ranges reserved. Under -short the test is skipped instead: it
// needs what needs names (root, daemons), which the normal test run has and a quick run may not.
func NewLab(t *testing.T, needs string, reserve ...string) *netlab.Lab {
	t.Helper()
	if testing.Short() {
		t.Skipf("skipped under -short: needs %s, which the normal test run has", needs)
	}
	lab := netlab.New(t)
	lab.Reserve(reserve...)
	return lab
}

// FRRHost is a lab host running FRR: a router, or a node running a rendered frr.conf.
type FRRHost struct {
	Host *netlab.Host
	FRR  *netlab.FRR
}

// AddFRR adds a host with the given addresses and starts the host's FRR in it with config.
func AddFRR(lab *netlab.Lab, name, config string, cidrs ...string) FRRHost {
	return AddFRRVersion(lab, netlab.HostFRR, name, config, cidrs...)
}

// AddFRRVersion is AddFRR with FRR version v.
func AddFRRVersion(lab *netlab.Lab, v *netlab.FRRVersion, name, config string, cidrs ...string) FRRHost {
	h := lab.AddHost(name, cidrs...)
	return FRRHost{Host: h, FRR: lab.StartFRRVersion(v, h, name, config)}
}

// BIRDNode is a node's BIRD and the reloader's applier that configures it, as in a speaker pod.
type BIRDNode struct {
	Host    *netlab.Host
	BIRD    *netlab.BIRD
	Applier *reloader.BIRDApplier
}

// AddBIRDNode adds a host with the given addresses and starts BIRD in it with the minimal config
// the reloader replaces. Benchmarks pass logr.Discard(): what they log is always printed.
func AddBIRDNode(tb testing.TB, lab *netlab.Lab, log logr.Logger, name string, cidrs ...string) *BIRDNode {
	tb.Helper()
	h := lab.AddHost(name, cidrs...)
	b := lab.StartBIRD(h, name, "")
	return &BIRDNode{Host: h, BIRD: b, Applier: &reloader.BIRDApplier{
		BIRD:       &reloader.BIRD{Bird: "bird", Birdc: "birdc", Socket: b.Socket},
		ConfigPath: b.ConfPath, Scratch: tb.TempDir(), Log: log}}
}

// Apply applies cfg through the reloader, failing the test unless BIRD runs it.
func (n *BIRDNode) Apply(tb testing.TB, cfg []byte) {
	tb.Helper()
	if res := n.Applier.Apply(context.Background(), cfg, false); res.Outcome != reloader.OutcomeApplied {
		tb.Fatalf("applying bird.conf on %s: %s %v\n%s", n.Host.Name, res.Outcome, res.Err, cfg)
	}
}

// LabNodes are LabObjects' nodes and their addresses in a ClusterLab.
var LabNodes = map[string][]string{
	"node1": {"198.51.100.11/24", "2001:db8::11/64"},
	"node2": {"198.51.100.12/24", "2001:db8::12/64"},
}

// BootTimeout bounds sessions and routes coming up, daemons' start-up included: generous, as
// the tests assert behaviour, not speed.
const BootTimeout = 60 * time.Second

// ClusterLab is the network of LabObjects: LabRouter and LabRouter2 running, for the test to add
// LabNodes.
type ClusterLab struct {
	*netlab.Lab
	Router, Router2 FRRHost
}

// NewClusterLab starts the routers; see NewLab for needs.
func NewClusterLab(t *testing.T, needs string) ClusterLab {
	t.Helper()
	lab := NewLab(t, needs, "203.0.113.0/24", "2001:db8:ff::/120")
	return ClusterLab{Lab: lab,
		Router:  AddFRR(lab, "router", LabRouter, "198.51.100.1/24", "2001:db8::1/64"),
		Router2: AddFRR(lab, "router2", LabRouter2, "198.51.100.2/24")}
}

// WaitConverged waits until both routers have their sessions with both nodes, the router routes
// the Service's VIPs through both nodes and its BFD sessions are up.
func (c ClusterLab) WaitConverged(t *testing.T) {
	t.Helper()
	for _, peer := range []string{"198.51.100.11", "198.51.100.12"} {
		c.Router.FRR.WaitEstablished(peer, BootTimeout)
		c.Router2.FRR.WaitEstablished(peer, BootTimeout)
	}
	c.Router.Host.WaitNexthops("203.0.113.10", BootTimeout, "198.51.100.11", "198.51.100.12")
	c.Router.Host.WaitDistinctNexthops("2001:db8:ff::10", BootTimeout, 2)
	c.Router.FRR.WaitBFDUp(BootTimeout, "198.51.100.11", "198.51.100.12", "2001:db8::11", "2001:db8::12")
}
