package e2e

import (
	"context"
	"testing"

	"github.com/routelb/routelb/e2e/lab"
)

// TestExternalTrafficPolicyLocal: only nodes with a local endpoint announce the VIP, and moving the
// endpoint moves the announcement.
func TestExternalTrafficPolicyLocal(t *testing.T) {
	c := use(t)
	ctx := context.Background()
	const name = "web-local"
	if err := c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: lab.BGPPool, Local: true, EndpointNodes: []string{"node1"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteService(ctx, name) })
	vip := c.WaitVIP(t, name)
	c.WaitNexthops(t, vip, "node1")
	c.Eventually(t, lab.Short, func() error { return lab.SpreadOver(c, vip, 10, "node1") })

	if err := c.SetEndpoints(ctx, name, "node3"); err != nil {
		t.Fatal(err)
	}
	c.WaitNexthops(t, vip, "node3")
	c.Eventually(t, lab.Short, func() error { return lab.SpreadOver(c, vip, 10, "node3") })

	if err := c.SetEndpoints(ctx, name, "node2", "node3"); err != nil {
		t.Fatal(err)
	}
	c.WaitNexthops(t, vip, "node2", "node3")
	c.Eventually(t, lab.Short, func() error { return lab.SpreadOver(c, vip, 40, "node2", "node3") })
}
