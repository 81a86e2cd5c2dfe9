package frrtemplates_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
	"github.com/routelb/routelb/reloader"
)

// sendingRouter announces a default route and 100 prefixes to the node, on top of bulkRouter.
func sendingRouter() string {
	var b strings.Builder
	b.WriteString(strings.Replace(bulkRouter, " address-family ipv4 unicast\n",
		" no bgp network import-check\n address-family ipv4 unicast\n  network 0.0.0.0/0\n", 1))
	nets := ""
	for i := range 100 {
		nets += fmt.Sprintf("  network 198.19.%d.0/24\n", i)
	}
	return strings.Replace(b.String(), "  network 0.0.0.0/0\n", "  network 0.0.0.0/0\n"+nets, 1)
}

// TestLabPolicy runs the rendered config of a node against a router that sends it a default route
// and 100 prefixes: the node accepts none of them (its kernel gets no route from BGP, its BGP table
// holds only its own VIPs) while the session stays up and its VIPs reach the router with their
// community and without routelb's internal markers. Changing the advertisement's community then
// moves every VIP to another origination route-map without a full reload or a session reset.
func TestLabPolicy(t *testing.T) {
	netlab.ForEachFRR(t, testLabPolicy)
}

func testLabPolicy(t *testing.T, v *netlab.FRRVersion) {
	lab := templatetest.NewLab(t, "root and FRR", "198.18.0.0/15")
	router := lab.StartFRR(lab.AddHost("router", "198.51.100.1/24"), "router", sendingRouter())
	nodeHost := lab.AddHost("node", "198.51.100.11/24")
	before := kernelRoutes(t, nodeHost)
	node := lab.StartFRRVersion(v, nodeHost, "node", bulkConfig(t, 3))
	router.WaitEstablished("198.51.100.11", templatetest.BootTimeout)

	waitReceived(t, router, 3, templatetest.BootTimeout)
	// The router has sent its 101 prefixes (and the node's own 3, which the node drops as an AS
	// loop) and the node has read every update the router sent.
	lab.Eventually(templatetest.BootTimeout, func() error {
		if n := advertised(t, router, "198.51.100.11"); n != 104 {
			return fmt.Errorf("router advertises %d prefixes to the node, want 101 + the node's 3", n)
		}
		sent, recv := updates(t, router, "198.51.100.11", "updatesSent"), updates(t, node, "198.51.100.1", "updatesRecv")
		if recv < sent {
			return fmt.Errorf("node read %d of the router's %d updates", recv, sent)
		}
		return nil
	})

	if after := kernelRoutes(t, nodeHost); !slices.Equal(after, before) {
		t.Errorf("the node's kernel routes changed:\nbefore %v\nafter  %v", before, after)
	}
	var table struct {
		Routes map[string]json.RawMessage `json:"routes"`
	}
	if err := json.Unmarshal([]byte(node.MustVtysh("show bgp ipv4 unicast json")), &table); err != nil {
		t.Fatal(err)
	}
	for prefix := range table.Routes {
		if !strings.HasPrefix(prefix, "198.18.0.") {
			t.Errorf("the node's BGP table holds %s, which the router sent", prefix)
		}
	}
	checkCommunity(t, router, "64512:100")

	// Another community on the advertisement: every VIP's network line switches route-map, in
	// place (no full reload), and the router sees the new community on the same session.
	established := router.EstablishedCounts()
	in := templatetest.ScaleInput(3)
	in.Peers = in.Peers[:1]
	in.BGPAdvs[0].Spec.Communities = []v1beta1.CommunityRef{"64512:200"}
	cfg := templatetest.MustCompute(t, in, nodeconfig.DaemonFRR).Rendered
	if res := newApplier(t, node).Apply(context.Background(), cfg); res.Outcome != reloader.OutcomeApplied {
		t.Fatalf("changing the community: %s, %v %q", res.Outcome, res.Err, res.Diff)
	}
	lab.Eventually(templatetest.BootTimeout, func() error {
		if out := router.MustVtysh("show bgp ipv4 unicast 198.18.0.3/32 json"); !strings.Contains(out, "64512:200") {
			return fmt.Errorf("router has no 64512:200 on 198.18.0.3/32 yet:\n%s", out)
		}
		return nil
	})
	checkCommunity(t, router, "64512:200")
	if after := router.EstablishedCounts(); !maps.Equal(after, established) {
		t.Errorf("changing the community reset the session: %v -> %v", established, after)
	}
}

// checkCommunity: every VIP reaches the router with community c only, and no large community.
func checkCommunity(t *testing.T, router *netlab.FRR, c string) {
	t.Helper()
	for _, vip := range []string{"198.18.0.1/32", "198.18.0.2/32", "198.18.0.3/32"} {
		out := router.MustVtysh("show bgp ipv4 unicast " + vip + " json")
		var route struct {
			Paths []struct {
				Community *struct {
					String string `json:"string"`
				} `json:"community"`
				LargeCommunity any `json:"largeCommunity"`
			} `json:"paths"`
		}
		if err := json.Unmarshal([]byte(out), &route); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(route.Paths) != 1 || route.Paths[0].Community == nil || route.Paths[0].Community.String != c || route.Paths[0].LargeCommunity != nil {
			t.Errorf("the router should see %s with community %s and no large community:\n%s", vip, c, out)
		}
	}
}

// kernelRoutes are the host's IPv4 routes in the main table, as `ip route` prints them.
func kernelRoutes(t *testing.T, h *netlab.Host) []string {
	t.Helper()
	out := strings.Split(strings.TrimSpace(h.MustRun("ip", "route", "show", "table", "main")), "\n")
	slices.Sort(out)
	return out
}

// updates reads one of a neighbour's message counters.
func updates(t *testing.T, f *netlab.FRR, neighbor, counter string) int {
	t.Helper()
	var ns map[string]struct {
		Stats map[string]int `json:"messageStats"`
	}
	out := f.MustVtysh("show bgp neighbors " + neighbor + " json")
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return ns[neighbor].Stats[counter]
}

// TestLabUpgradeFromPrefixLists: a node running the config the previous renderer wrote (prefix lists
// per peer and community, testdata/upgrade) moves to the current shape through one reloader delta,
// keeps its session and announces the same VIPs with the same community.
func TestLabUpgradeFromPrefixLists(t *testing.T) {
	netlab.ForEachFRR(t, testLabUpgradeFromPrefixLists)
}

func testLabUpgradeFromPrefixLists(t *testing.T, v *netlab.FRRVersion) {
	old, err := os.ReadFile("testdata/upgrade/prefix-lists-100.conf")
	if err != nil {
		t.Fatal(err)
	}
	lab := templatetest.NewLab(t, "root and FRR", "198.18.0.0/15")
	router := lab.StartFRR(lab.AddHost("router", "198.51.100.1/24"), "router", bulkRouter)
	node := lab.StartFRRVersion(v, lab.AddHost("node", "198.51.100.11/24"), "node", string(old))
	router.WaitEstablished("198.51.100.11", templatetest.BootTimeout)
	waitReceived(t, router, 100, templatetest.BootTimeout)
	established := router.EstablishedCounts()

	if res := newApplier(t, node).Apply(context.Background(), []byte(bulkConfig(t, 100))); res.Outcome != reloader.OutcomeApplied {
		t.Fatalf("upgrading: %s, %v %q", res.Outcome, res.Err, res.Diff)
	}
	lab.Eventually(templatetest.BootTimeout, func() error {
		if out := node.MustVtysh("show running-config"); strings.Contains(out, "prefix-list") {
			return fmt.Errorf("prefix lists left after the upgrade:\n%s", out)
		}
		return nil
	})
	waitReceived(t, router, 100, templatetest.BootTimeout)
	checkCommunity(t, router, "64512:100")
	if after := router.EstablishedCounts(); !maps.Equal(after, established) {
		t.Errorf("the upgrade reset the session: %v -> %v", established, after)
	}
}

func newApplier(t *testing.T, node *netlab.FRR) *reloader.Applier {
	vtysh, frrReload := node.ReloaderTools()
	return &reloader.Applier{Scratch: node.ScratchDir(), Log: testr.New(t),
		FRR: &reloader.FRR{Vtysh: vtysh, Pathspace: node.Pathspace, ConfigDir: node.ConfigDir, RunDir: node.RunRoot(), FrrReload: frrReload}}
}
