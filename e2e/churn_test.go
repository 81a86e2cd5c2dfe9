package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/e2e/lab"
)

const (
	churnServices = 200
	churnPool     = "churn-pool"
	churnRange    = "198.18.0.0/24" // the scale-test range
)

// TestChurn creates and deletes 200 Services, each served by one pod (a Service no endpoint serves
// is withdrawn): every VIP reaches the router through all three nodes and leaves again, and no BGP
// session drops meanwhile.
func TestChurn(t *testing.T) {
	c := use(t)
	ctx := context.Background()
	pool := &v1beta1.IPAddressPool{ObjectMeta: lab.ObjectMeta(churnPool), Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{churnRange}}}
	adv := &v1beta1.BGPAdvertisement{ObjectMeta: lab.ObjectMeta("churn-adv"), Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{churnPool}}}
	if err := c.Client.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := c.Client.Create(ctx, adv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.Delete(ctx, adv)
		_ = c.Client.Delete(ctx, pool)
	})
	c.Eventually(t, lab.Short, c.AllSessionsUp)
	before, err := lab.Neighbors(c.RouterFRR)
	if err != nil {
		t.Fatal(err)
	}
	watch := watchSessions(c)

	names := make([]string, churnServices)
	for i := range names {
		names[i] = fmt.Sprintf("churn-%03d", i)
	}
	t.Cleanup(func() { _ = forEach(names, 8, func(n string) error { return c.DeleteService(ctx, n) }) })
	start := time.Now()
	if err := forEach(names, 8, func(n string) error {
		return c.CreateService(ctx, lab.ServiceSpec{Name: n, Pool: churnPool, EndpointNodes: []string{"node1"}})
	}); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 3*time.Minute, func() error { return routesIn(c, churnRange, churnServices) })
	t.Logf("%d Services created and announced through 3 nodes in %.1fs", churnServices, time.Since(start).Seconds())
	start = time.Now()
	if err := forEach(names, 8, func(n string) error { return c.DeleteService(ctx, n) }); err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 3*time.Minute, func() error { return routesIn(c, churnRange, 0) })
	t.Logf("%d Services deleted and withdrawn in %.1fs", churnServices, time.Since(start).Seconds())

	if bad := watch(); len(bad) > 0 {
		t.Errorf("BGP sessions were not Established during the churn: %v", bad)
	}
	after, err := lab.Neighbors(c.RouterFRR)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		b, a := before[n.Addr], after[n.Addr]
		if a.State != "Established" || a.Dropped != b.Dropped || a.Established != b.Established {
			t.Errorf("session with %s: before %+v, after %+v: it was reset", n.Name, b, a)
		}
	}
}

// routesIn requires the router's kernel to hold exactly want routes inside prefix, each through
// all three nodes.
func routesIn(c *lab.Cluster, prefix string, want int) error {
	routes, err := c.RoutesIn(prefix)
	if err != nil {
		return err
	}
	full := 0
	for _, nhs := range routes {
		if len(nhs) == len(c.Nodes) {
			full++
		}
	}
	if len(routes) != want || full != want {
		return fmt.Errorf("router: %d routes in %s (%d through all nodes), want %d", len(routes), prefix, full, want)
	}
	return nil
}

// watchSessions samples the router's sessions every 250 ms until the returned function is called,
// which returns every sample where one was not Established.
func watchSessions(c *lab.Cluster) func() []string {
	var stop atomic.Bool
	var mu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if err := c.AllSessionsUp(); err != nil {
				mu.Lock()
				bad = append(bad, time.Now().Format("15:04:05.000")+" "+err.Error())
				mu.Unlock()
			}
			time.Sleep(250 * time.Millisecond) // vtysh is not free on 2 cores
		}
	}()
	return func() []string {
		stop.Store(true)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return bad
	}
}

func forEach(items []string, workers int, f func(string) error) error {
	var g errgroup.Group
	g.SetLimit(workers)
	for _, it := range items {
		g.Go(func() error { return f(it) })
	}
	return g.Wait()
}
