package ownership

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"golang.org/x/sys/unix"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/l2responder/membership"
)

// inNetns runs fn on an OS thread inside network namespace ns, so the sockets it creates live
// there. The thread is discarded if it cannot be moved back.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// nsTransport is memberlist's own UDP/TCP transport with its sockets in a lab namespace: the
// listeners are created there, and so are the TCP connections it dials (push/pull, fallback
// pings).
type nsTransport struct {
	*memberlist.NetTransport
	ns string
}

func (t *nsTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := inNetns(t.ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

func (t *nsTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// lanFor gives every run of a simulated node a real memberlist in host h's namespace.
func lanFor(t *testing.T, h *netlab.Host, key []byte, first *string) func(n *simNode, cfg *Config) func(bool) {
	return func(n *simNode, cfg *Config) func(bool) {
		ip := h.Addr(4).String()
		var tr *memberlist.NetTransport
		if err := inNetns(h.NS, func() error {
			var err error
			tr, err = memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{ip},
				BindPort: membership.DefaultPort, Logger: log.New(io.Discard, "", 0)})
			return err
		}); err != nil {
			t.Fatalf("%s: transport: %v", n.name, err)
		}
		mem, err := membership.New(membership.Config{Node: n.name, Run: cfg.Incarnation, AdvertiseAddr: ip,
			BindAddr: ip, BindPort: membership.DefaultPort, Join: []string{*first}, SecretKey: key,
			Window: cfg.OutageLimit, Transport: &nsTransport{NetTransport: tr, ns: h.NS}, Logger: n.log.WithName("lan"),
			OnAck: func() {
				if e := n.current.Load(); e != nil {
					e.LANChanged()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if err := mem.Start(); err != nil {
			t.Fatal(err)
		}
		cfg.LAN = mem
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); mem.Heartbeat(ctx) }()
		return func(crash bool) {
			cancel()
			<-done
			mem.Stop(!crash)
		}
	}
}

// gaps lists, per VIP, the stretches of [from, to) during which nobody answered it.
func (r *recorder) gaps(vips []netip.Addr, from, to time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, vip := range vips {
		ivs := slices.Clone(r.ivs[vip])
		sort.Slice(ivs, func(i, j int) bool { return ivs[i].start.Before(ivs[j].start) })
		at := from
		for _, iv := range ivs {
			end := iv.end
			if end.IsZero() {
				end = to
			}
			if !end.After(at) {
				continue
			}
			if iv.start.After(at) {
				out = append(out, fmt.Sprintf("%s: nobody from %s to %s", vip, at.Format("15:04:05.000"), iv.start.Format("15:04:05.000")))
			}
			if end.After(at) {
				at = end
			}
			if !at.Before(to) {
				break
			}
		}
		if at.Before(to) {
			out = append(out, fmt.Sprintf("%s: nobody from %s to %s", vip, at.Format("15:04:05.000"), to.Format("15:04:05.000")))
		}
	}
	return out
}

func noGaps(t *testing.T, rec *recorder, vips []netip.Addr, from, to time.Time) {
	t.Helper()
	if g := rec.gaps(vips, from, to); len(g) > 0 {
		t.Errorf("%d gaps in answering, e.g.:\n%s", len(g), g[:min(len(g), 10)])
	}
}

// waitSettled waits until every VIP is answered and no ownership has changed for quiet: a node
// back from a fault takes its share back (release, then claim), which is a gap by design, not one
// of the fault under test.
func waitSettled(t *testing.T, rec *recorder, vips []netip.Addr, quiet time.Duration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	waitAllOwned(t, rec, vips, 30*time.Second)
	for {
		rec.mu.Lock()
		var last time.Time
		for _, ivs := range rec.ivs {
			for _, iv := range ivs {
				last = later(last, iv.start)
				if !iv.end.IsZero() {
					last = later(last, iv.end)
				}
			}
		}
		rec.mu.Unlock()
		if time.Since(last) >= quiet {
			waitAllOwned(t, rec, vips, time.Second)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ownership still changing at %s", deadline.Format("15:04:05.000"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func cutAPI(nodes []*simNode, cut bool) {
	for _, n := range nodes {
		n.cut.cut.Store(cut)
	}
}

// TestOwnershipThroughOutage is TestOwnershipInvariants with the LAN layer: four simulated
// speakers against a real API server, each with a real memberlist in its own network namespace on
// one bridge, through a whole-cluster API outage, one node cut from the API only (shorter and
// longer than the outage limit), one cut from the LAN only, one cut from both, and an owner killed
// during an outage, the API back after each. No two nodes may ever answer one VIP at once; where
// the design says answering continues, it must have no gap.
func TestOwnershipThroughOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("needs kube-apiserver, etcd and network namespaces")
	}
	env := testenv.Start(t)
	lab := netlab.New(t)
	rec := newRecorder()
	names := []string{"node-a", "node-b", "node-c", "node-d"}
	vips := testVIPs(16)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	const outageLimit = 12 * time.Second
	first := ""
	nodes := make([]*simNode, len(names))
	hosts := make([]*netlab.Host, len(names))
	for i, name := range names {
		hosts[i] = lab.AddHost(name, fmt.Sprintf("198.51.100.%d/24", 11+i))
		if i == 0 {
			first = net.JoinHostPort(hosts[0].Addr(4).String(), fmt.Sprint(membership.DefaultPort))
		}
		nodes[i] = newSimNode(t, env.Config, name, rec)
		nodes[i].outage = outageLimit
		nodes[i].lan = lanFor(t, hosts[i], key, &first)
	}
	for _, n := range nodes {
		n.start(vips, names)
	}
	t.Cleanup(func() {
		cutAPI(nodes, false)
		for _, h := range hosts {
			h.SetLink(true)
		}
		for _, n := range nodes {
			if n.done != nil {
				select {
				case <-n.done:
				default:
					n.stop()
				}
			}
		}
	})
	// Let every member hear every other one, so that each run's required set is complete.
	waitSettled(t, rec, vips, 3*time.Second)

	t.Run("whole-cluster outage", func(t *testing.T) {
		from := time.Now()
		cutAPI(nodes, true)
		time.Sleep(6 * time.Second)
		cutAPI(nodes, false)
		time.Sleep(3 * time.Second)
		noGaps(t, rec, vips, from, time.Now())
		waitSettled(t, rec, vips, 3*time.Second)
	})

	t.Run("one node cut from the API", func(t *testing.T) {
		victim := nodes[0]
		from := time.Now()
		victim.cut.cut.Store(true)
		time.Sleep(5 * time.Second)
		victim.cut.cut.Store(false)
		time.Sleep(3 * time.Second)
		noGaps(t, rec, vips, from, time.Now())
		waitSettled(t, rec, vips, 3*time.Second)
	})

	t.Run("one node cut from the API beyond the outage limit", func(t *testing.T) {
		victim := nodes[1]
		owned := waitSomeOwned(t, victim)
		at := time.Now()
		victim.cut.cut.Store(true)
		// Rule O holds it until its last renewal + the limit; rule F2 lets the others fence it
		// the limit after they observed that renewal; then one write and one list.
		deadline := at.Add(outageLimit + 5*time.Second)
		for vip := range owned {
			waitOwnedBy(t, rec, vip, func(n string) bool { return n != victim.name }, deadline)
		}
		t.Logf("%d VIPs of %s taken over by F2 after %v", len(owned), victim.name, slowest(rec, owned, at))
		victim.cut.cut.Store(false)
		waitSettled(t, rec, vips, 3*time.Second)
	})

	t.Run("one node cut from the LAN", func(t *testing.T) {
		victim := hosts[2]
		from := time.Now()
		victim.SetLink(false)
		time.Sleep(5 * time.Second)
		victim.SetLink(true)
		time.Sleep(3 * time.Second)
		// Its Lease renews, so it keeps its VIPs (answering, on a LAN it cannot reach) and nobody
		// takes them.
		noGaps(t, rec, vips, from, time.Now())
		waitSettled(t, rec, vips, 3*time.Second)
	})

	t.Run("one node cut from both", func(t *testing.T) {
		victim := nodes[3]
		owned := waitSomeOwned(t, victim)
		at := time.Now()
		hosts[3].SetLink(false)
		victim.cut.cut.Store(true)
		deadline := at.Add(DefaultTiming.LeaseDuration + membership.DefaultHold + 5*time.Second)
		for vip := range owned {
			waitOwnedBy(t, rec, vip, func(n string) bool { return n != victim.name }, deadline)
		}
		t.Logf("%d VIPs of %s taken over by F1 after %v", len(owned), victim.name, slowest(rec, owned, at))
		hosts[3].SetLink(true)
		victim.cut.cut.Store(false)
		// It told the LAN it was in an outage and lost its majority: rule R retired the run.
		victim.restartIfRetired(t, vips, names)
		waitSettled(t, rec, vips, 3*time.Second)
	})

	t.Run("owner killed during an outage", func(t *testing.T) {
		victim := nodes[0]
		owned := waitSomeOwned(t, victim)
		cutAPI(nodes, true)
		// Long enough for the victim's heartbeats to say its Lease is stale (rule D votes only for
		// a run last heard so).
		time.Sleep(DefaultTiming.LeaseDuration + time.Second)
		victim.crash()
		killed := time.Now()
		// Rule T: the survivors vote it dead hold after its last heartbeat, see a majority agree
		// one heartbeat later, and the first-ranked survivor of each VIP answers it. Generous
		// slack for a loaded machine; the API server stays down throughout.
		deadline := killed.Add(membership.DefaultHold + 5*time.Second)
		for vip := range owned {
			waitOwnedBy(t, rec, vip, func(n string) bool { return n != victim.name }, deadline)
		}
		t.Logf("%d VIPs of %s killed during the outage re-owned without the API server after %v", len(owned), victim.name,
			slowest(rec, owned, killed))
		time.Sleep(2 * time.Second)
		cutAPI(nodes, false)
		// The API server is back: the takers write what they took into their Leases, the Lease
		// rules take over again, and the victim restarts and gets its share back.
		victim.start(vips, names)
		waitSettled(t, rec, vips, 3*time.Second)
	})

	for _, n := range nodes {
		n.stop()
	}
	if bad := rec.overlaps(); len(bad) > 0 {
		t.Fatalf("%d overlapping ownerships, e.g.:\n%s", len(bad), bad[:min(len(bad), 10)])
	}
	t.Logf("%d ownership intervals recorded, none overlapping", rec.count())
}

// restartIfRetired starts a new run of n if rule R ended the last one.
func (n *simNode) restartIfRetired(t *testing.T, vips []netip.Addr, nodes []string) {
	t.Helper()
	select {
	case <-n.done:
	default:
		return
	}
	t.Logf("%s's run retired (rule R): starting a new one", n.name)
	if n.lanEnd != nil {
		n.lanEnd(false)
	}
	n.start(vips, nodes)
}

// waitOwnedBy waits until vip is answered by a node ok accepts.
func waitOwnedBy(t *testing.T, rec *recorder, vip netip.Addr, ok func(string) bool, deadline time.Time) {
	t.Helper()
	for {
		if o := rec.owner(vip, time.Now()); o != "" && ok(o) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not taken over by %s (owner now %q)", vip, deadline.Format("15:04:05.000"), rec.owner(vip, time.Now()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
