package l2responder

import (
	"errors"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestDesiredPairs(t *testing.T) {
	links := []link{
		mkLink("lo", 1, "", net.FlagUp|net.FlagLoopback, "127.0.0.1"),
		mkLink("eth0", 2, "02:00:00:00:00:01", up, "198.51.100.2", "2001:db8:1::2"),
		mkLink("eth1", 3, "02:00:00:00:00:02", up, "198.51.100.3"),
		mkLink("eth2", 4, "02:00:00:00:00:03", up),
		mkLink("down0", 5, "02:00:00:00:00:04", net.FlagBroadcast, "198.51.100.4"),
		mkLink("wg0", 6, "", net.FlagUp|net.FlagPointToPoint, "198.51.100.5"),
		mkLink("docker0", 7, "02:00:00:00:00:07", up, "172.17.0.1"),
	}
	port := mkLink("bond0p", 8, "02:00:00:00:00:08", up)
	port.enslaved = true
	noarp := mkLink("noarp0", 9, "02:00:00:00:00:09", up, "198.51.100.9")
	noarp.noARP = true
	links = append(links, port, noarp)
	exclude := regexp.MustCompile("(^docker.*)|(^lo$)")
	v4, v6 := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8:ffff::10")
	cases := []struct {
		name      string
		owned     map[netip.Addr][]string
		nodeAddrs []string
		want      []string // "vip@iface"
	}{
		{"default: interface holding the node address",
			map[netip.Addr][]string{v4: nil, v6: nil}, []string{"198.51.100.2"},
			[]string{"203.0.113.10@eth0", "2001:db8:ffff::10@eth0"}},
		{"default: every interface holding a node address",
			map[netip.Addr][]string{v4: nil}, []string{"198.51.100.2", "198.51.100.3"},
			[]string{"203.0.113.10@eth0", "203.0.113.10@eth1"}},
		{"default: node address on a down or MAC-less link is skipped",
			map[netip.Addr][]string{v4: nil}, []string{"198.51.100.4", "198.51.100.5"},
			nil},
		{"no node addresses (MetalLB's default): every eligible interface, not enslaved, not NOARP, not excluded",
			map[netip.Addr][]string{v4: nil}, nil,
			[]string{"203.0.113.10@eth0", "203.0.113.10@eth1", "203.0.113.10@eth2"}},
		{"explicit list wins over node addresses",
			map[netip.Addr][]string{v4: {"eth2"}}, []string{"198.51.100.2"},
			[]string{"203.0.113.10@eth2"}},
		{"explicit list: loopback, down, MAC-less, enslaved, NOARP, excluded and missing skipped",
			map[netip.Addr][]string{v4: {"lo", "down0", "wg0", "nope", "bond0p", "noarp0", "docker0", "eth1"}}, []string{"198.51.100.2"},
			[]string{"203.0.113.10@eth1"}},
		{"node address on a NOARP link is skipped",
			map[netip.Addr][]string{v4: nil}, []string{"198.51.100.9"},
			nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var addrs []netip.Addr
			for _, a := range tc.nodeAddrs {
				addrs = append(addrs, netip.MustParseAddr(a))
			}
			var got []string
			for p, ifi := range desiredPairs(tc.owned, links, addrs, exclude) {
				if ifi.Name != p.iface {
					t.Errorf("pair %v carries interface %s", p, ifi.Name)
				}
				got = append(got, p.vip.String()+"@"+p.iface)
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSetOwnedRejectsInvalidWithoutChange(t *testing.T) {
	r := newResponder(Config{}, newFakeSystem())
	good := map[netip.Addr][]string{netip.MustParseAddr("203.0.113.10"): nil}
	if err := r.SetOwned(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []netip.Addr{{}, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("ff02::1"), netip.MustParseAddr("::1")} {
		err := r.SetOwned(map[netip.Addr][]string{netip.MustParseAddr("203.0.113.11"): nil, bad: nil})
		if err == nil {
			t.Errorf("SetOwned accepted %v", bad)
		}
		if err := r.Announce(bad, nil); err == nil {
			t.Errorf("Announce accepted %v", bad)
		}
	}
	if !maps.EqualFunc(r.Owned(), good, slices.Equal) {
		t.Errorf("owned changed by rejected calls: %v", r.Owned())
	}
}

func TestSetOwnedNormalises(t *testing.T) {
	r := newResponder(Config{}, newFakeSystem())
	mapped := netip.MustParseAddr("::ffff:203.0.113.10")
	if err := r.SetOwned(map[netip.Addr][]string{mapped: {"b", "a", "b"}}); err != nil {
		t.Fatal(err)
	}
	got := r.Owned()[netip.MustParseAddr("203.0.113.10")]
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("owned = %v", r.Owned())
	}
}

func TestSetOwnedMovesAndDropsVIPs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("mgs")...)
		v1, v2 := netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8:ffff::10")
		if err := h.r.SetOwned(map[netip.Addr][]string{v1: nil, v2: {"mgs1"}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		want := map[netip.Addr][]string{v1: {"mgs0"}, v2: {"mgs1"}}
		if got := h.r.Announcing(); !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("announcing %v, want %v", got, want)
		}
		// Moving v1 to mgs1 re-announces it there.
		before := gratuitous(protoARP, "mgs1")
		if err := h.r.SetOwned(map[netip.Addr][]string{v1: {"mgs1"}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		want = map[netip.Addr][]string{v1: {"mgs1"}}
		if got := h.r.Announcing(); !maps.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("announcing %v, want %v", got, want)
		}
		if got := gratuitous(protoARP, "mgs1") - before; got != 2 {
			t.Errorf("gratuitous on the new interface grew by %v, want 2", got)
		}
		// Sockets nothing needs any more are closed.
		if c := h.sys.arpConn("mgs0"); !c.isClosed() {
			t.Error("ARP socket on mgs0 still open")
		}
		if err := h.r.SetOwned(nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !h.sys.arpConn("mgs1").isClosed() {
			t.Error("ARP socket on mgs1 still open with nothing owned")
		}
	})
}

// An interface that goes away and comes back (a new ifindex) gets a new
// socket and a new take-over burst, since switches may have forgotten us.
func TestInterfaceRecreatedIsReannounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		links := nodeLinks("mgr")
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, links...)
		h.announce("203.0.113.10")
		first := h.sys.arpConn("mgr0")
		if drain(first) != 2 {
			t.Fatal("no take-over burst")
		}

		h.sys.setLinks(links[1])
		h.r.trigger()
		synctest.Wait()
		if len(h.r.Announcing()) != 0 || !first.isClosed() {
			t.Fatalf("still announcing on a vanished interface: %v", h.r.Announcing())
		}

		again := links[0]
		again.ifi.Index = 42
		h.sys.setLinks(again, links[1])
		h.r.trigger()
		synctest.Wait()
		second := h.sys.arpConn("mgr0")
		if second == first || drain(second) != 2 {
			t.Fatal("recreated interface not reopened and re-announced")
		}
	})
}

// A socket that cannot be opened yet (an IPv6 link-local address still
// tentative) is retried without waiting for the resync period.
func TestOpenFailureIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("mgf")...)
		h.sys.mu.Lock()
		h.sys.failNDP = errors.New("cannot assign requested address")
		h.sys.mu.Unlock()
		h.announce("2001:db8:ffff::10")
		if len(h.r.Announcing()) != 0 {
			t.Fatal("announcing without a socket")
		}
		h.sys.mu.Lock()
		h.sys.failNDP = nil
		h.sys.mu.Unlock()
		synctest.Wait()
		waitFor(t, func() bool { return len(h.r.Announcing()) == 1 }, 2*retryPeriod)
	})
}

// A socket whose read loop died (e.g. the driver reset) is reopened.
func TestDeadSocketIsReopened(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs, ResyncPeriod: DefaultResyncPeriod}, nodeLinks("mgd")...)
		h.announce("203.0.113.10")
		first := h.sys.arpConn("mgd0")
		first.Close() // behind the responder's back
		waitFor(t, func() bool { return h.sys.arpConn("mgd0") != first }, 2*DefaultResyncPeriod)
		synctest.Wait()
		if got := drain(h.sys.arpConn("mgd0")); got != 2 {
			t.Errorf("reopened socket sent %d gratuitous frames, want 2", got)
		}
	})
}

func TestRunClosesEverythingOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("mgx")...)
		h.announce("203.0.113.10")
		h.announce("2001:db8:ffff::10")
		arpC, ndpC := h.sys.arpConn("mgx0"), h.sys.ndpConn("mgx0")
		h.stop()
		if !arpC.isClosed() {
			t.Error("ARP socket left open")
		}
		if ndpC.joined(vip6Group) {
			t.Error("solicited-node group left joined")
		}
	})
}

// waitFor advances the bubble's fake clock until cond holds.
func waitFor(t *testing.T, cond func() bool, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
	}
}
