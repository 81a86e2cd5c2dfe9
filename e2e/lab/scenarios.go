package lab

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BGPScenario is the seed's BGP scenario: every node announces the VIP, the router spreads connections
// over all three with ECMP, and BFD takes a node whose link went down out of the route while requests
// keep succeeding.
func BGPScenario(t *testing.T, c *Cluster) {
	ctx := context.Background()
	if err := c.CreateService(ctx, ServiceSpec{Name: "web-bgp", Pool: BGPPool, EndpointNodes: NodeNames}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteService(ctx, "web-bgp") })
	vip := c.WaitVIP(t, "web-bgp")
	c.WaitNexthops(t, vip, "node1", "node2", "node3")

	c.Eventually(t, 30*time.Second, func() error { return SpreadOver(c, vip, 60, "node1", "node2", "node3") })

	// BFD must be up before the link goes: it is what detects the failure.
	c.Eventually(t, Short, c.AllSessionsUp)
	n2 := c.Node("node2")
	// Traffic while BFD detects the failure: connections hashed to node2 before its nexthop goes fail
	// (logged, not asserted: the benchmark measures the window); once it is gone, all must succeed.
	n2.Host.SetLink(false)
	stopLoad := LoadDuring(c, vip)
	linkUp := false
	defer func() {
		if !linkUp {
			n2.Host.SetLink(true)
		}
	}()
	// BFD (300 ms x3) withdraws node2's nexthop; bound generous, the benchmark measures.
	c.WaitNexthops(t, vip, "node1", "node3")
	t.Logf("requests while node2's link was down, until its nexthop was withdrawn: %v", stopLoad())
	if err := SpreadOver(c, vip, 30, "node1", "node3"); err != nil {
		t.Fatalf("with node2's link down: %v", err)
	}
	n2.Host.SetLink(true)
	linkUp = true
	c.WaitNexthops(t, vip, "node1", "node2", "node3")
	c.Eventually(t, 30*time.Second, func() error { return SpreadOver(c, vip, 60, "node1", "node2", "node3") })
}

// SpreadOver makes n requests on new connections and requires every one to succeed, served only by
// and by every one of nodes.
func SpreadOver(c *Cluster, vip string, n int, nodes ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	counts := c.Spread(ctx, vip, n)
	if counts[""] > 0 {
		return fmt.Errorf("%d of %d requests to %s failed (answers %v)", counts[""], n, vip, counts)
	}
	want := map[string]bool{}
	for _, name := range nodes {
		want[name] = true
		if counts[name] == 0 {
			return fmt.Errorf("no request to %s was served by %s (answers %v)", vip, name, counts)
		}
	}
	for name := range counts {
		if !want[name] {
			return fmt.Errorf("requests to %s were served by %s, want only %v (answers %v)", vip, name, nodes, counts)
		}
	}
	return nil
}

// LoadDuring makes requests on new connections back to back until the returned function is called,
// which returns the answers counted per node ("" for failures).
func LoadDuring(c *Cluster, vip string) func() map[string]int {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan map[string]int)
	go func() {
		counts := map[string]int{}
		for ctx.Err() == nil {
			rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
			body, err := c.Get(rctx, vip)
			rcancel()
			if ctx.Err() != nil {
				break
			}
			if err != nil {
				body = ""
			}
			counts[body]++
		}
		done <- counts
	}()
	return func() map[string]int {
		cancel()
		return <-done
	}
}
