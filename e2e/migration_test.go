package e2e

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/routelb/routelb/e2e/lab"
)

// migrationServices is how many Services MetalLB allocates and announces before the switch, half
// BGP and half Layer 2. The lab's two pools hold 64 addresses each; 200 (the figure) would
// need larger pools, and on a 2-core machine shared with other labs the probing of every VIP every
// 100 ms is what limits it (docs/benchmarks.md, "Migration from MetalLB").
var migrationServices = flag.Int("migration-services", 60, "Services (half BGP, half Layer 2) in TestMigrationFromMetalLB")

// TestMigrationFromMetalLB runs MetalLB v0.15.2's own controller and speakers (FRR mode, the
// speakers' FRR being the nodes' FRR) on the lab in place of routelb's, lets MetalLB allocate and
// announce the Services, then removes MetalLB and installs routelb as docs/migration.md describes
// for MetalLB's manifests: programs stopped and their Pods deleted, the configuration objects kept
// (the lab's API server carries routelb's CRDs throughout, so the CRD replacement step is a no-op
// here; TestReplaceMetalLBCRDs in api/ covers it), routelb's controller and speakers started. Every
// Service must keep its address and be served again through routelb; the client's traffic gap per
// VIP during the switch is logged (a measurement, not asserted: docs/benchmarks.md).
func TestMigrationFromMetalLB(t *testing.T) {
	c := use(t)
	ctx := context.Background()
	dir, err := lab.MetalLBDir()
	if err != nil {
		t.Fatal(err)
	}
	c.StopRoutelb()
	defer func() {
		if err := c.StartRoutelb(); err != nil {
			t.Errorf("starting routelb again: %v", err)
		}
	}()
	m, err := c.StartMetalLB(dir)
	removed := false // MetalLB's removal is the step under test; on an earlier failure it goes here
	defer func() {
		if m != nil && !removed {
			_ = m.Stop()
		}
	}()
	if err != nil {
		t.Fatal(err)
	}
	c.Eventually(t, 2*lab.Short, c.AllSessionsUp)

	names, pools := migrationNames(*migrationServices)
	for i, name := range names {
		if err := c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: pools[i], EndpointNodes: lab.NodeNames}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, name := range names {
			_ = c.DeleteService(ctx, name)
		}
	})
	before := map[string]string{}
	for _, name := range names {
		before[name] = c.WaitVIP(t, name)
	}
	// Announced by MetalLB: the BGP VIPs through every node, each Layer 2 VIP answered by one node.
	for i, name := range names {
		vip := before[name]
		if pools[i] == lab.BGPPool {
			c.WaitNexthops(t, vip, lab.NodeNames...)
		}
		c.Eventually(t, lab.Short, func() error { _, err := c.Get(ctx, vip); return err })
	}
	t.Logf("MetalLB announces %d Services (%d BGP, %d Layer 2)", len(names), countPool(pools, lab.BGPPool), countPool(pools, lab.L2Pool))

	probes := startProbes(c, before)
	switchStart := time.Now()
	removed = true
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.StartRoutelb(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if got := c.WaitVIP(t, name); got != before[name] {
			t.Errorf("Service %s: address %s under MetalLB, %s after the migration", name, before[name], got)
		}
	}
	for i, name := range names {
		if pools[i] == lab.BGPPool {
			c.WaitNexthops(t, before[name], lab.NodeNames...)
		}
	}
	c.Eventually(t, 2*lab.Short, probes.allUp)
	time.Sleep(3 * time.Second) // a late withdrawal would show as a gap after this point
	gaps := probes.stop()
	t.Logf("switch MetalLB -> routelb: every Service served again %.1fs after MetalLB's removal began", time.Since(switchStart).Seconds())
	logGaps(t, names, pools, before, gaps)
	for _, name := range names {
		if err := lab.Poll(lab.Short, func() error { _, err := c.Get(ctx, before[name]); return err }); err != nil {
			t.Errorf("Service %s (%s) not served through routelb after the migration: %v", name, before[name], err)
		}
	}
}

func migrationNames(n int) (names, pools []string) {
	for i := range n {
		pool, mode := lab.BGPPool, "bgp"
		if i%2 == 1 {
			pool, mode = lab.L2Pool, "l2"
		}
		names = append(names, fmt.Sprintf("migrate-%s-%d", mode, i/2))
		pools = append(pools, pool)
	}
	return names, pools
}

func countPool(pools []string, p string) int {
	n := 0
	for _, q := range pools {
		if q == p {
			n++
		}
	}
	return n
}

// probes requests every VIP from the client on a new connection every 100 ms (200 ms timeout)
// and keeps, per VIP, the longest time between two successful requests.
type probes struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	gap    map[string]time.Duration // longest gap between successes, by VIP
	last   map[string]time.Time     // last success
	fail   map[string]bool          // the latest request failed
}

func startProbes(c *lab.Cluster, vips map[string]string) *probes {
	ctx, cancel := context.WithCancel(context.Background())
	p := &probes{cancel: cancel, gap: map[string]time.Duration{}, last: map[string]time.Time{}, fail: map[string]bool{}}
	now := time.Now()
	for _, vip := range vips {
		p.last[vip] = now
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
				_, err := c.Get(rctx, vip)
				rcancel()
				if ctx.Err() != nil {
					return
				}
				p.record(vip, err == nil)
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	return p
}

func (p *probes) record(vip string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[vip] = !ok
	if !ok {
		return
	}
	now := time.Now()
	if g := now.Sub(p.last[vip]); g > p.gap[vip] {
		p.gap[vip] = g
	}
	p.last[vip] = now
}

func (p *probes) allUp() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for vip, f := range p.fail {
		if f {
			return fmt.Errorf("the client's latest request to %s failed", vip)
		}
	}
	return nil
}

func (p *probes) stop() map[string]time.Duration {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gap
}

// logGaps logs the traffic gap per VIP (the longest time without a successful request; a
// request every 100 ms means 100-300 ms is no gap at all) and its distribution per mode.
func logGaps(t *testing.T, names, pools []string, vips map[string]string, gaps map[string]time.Duration) {
	per := map[string][]time.Duration{}
	for i, name := range names {
		g := gaps[vips[name]]
		per[pools[i]] = append(per[pools[i]], g)
		t.Logf("gap %-20s %-15s %v", name, vips[name], g.Round(time.Millisecond))
	}
	for _, pool := range []string{lab.BGPPool, lab.L2Pool} {
		s := per[pool]
		if len(s) == 0 {
			continue
		}
		slices.Sort(s)
		t.Logf("traffic gap, %s (%d VIPs): median %v, max %v", pool, len(s), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	}
}
