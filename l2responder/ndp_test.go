package l2responder

import (
	"bytes"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

var (
	vip6      = netip.MustParseAddr("2001:db8:ffff::10")
	clientLL  = netip.MustParseAddr("fe80::99")
	hop255    = &ipv6.ControlMessage{HopLimit: ndp.HopLimit}
	vip6Group = netip.MustParseAddr("ff02::1:ff00:10")
)

func solicit(t *testing.T, target netip.Addr, lla net.HardwareAddr) []byte {
	t.Helper()
	ns := &ndp.NeighborSolicitation{TargetAddress: target}
	if lla != nil {
		ns.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: lla}}
	}
	b, err := ndp.MarshalMessage(ns)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshal(t *testing.T, m ndp.Message) []byte {
	t.Helper()
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nextNDP(t *testing.T, c *fakeNDPConn) ndpOut {
	t.Helper()
	select {
	case w := <-c.out:
		return w
	default:
		t.Fatal("responder wrote nothing")
		return ndpOut{}
	}
}

func drainNDP(c *fakeNDPConn) int {
	n := 0
	for {
		select {
		case <-c.out:
			n++
		default:
			return n
		}
	}
}

// checkAdvert asserts the advertisement's wire bytes and, decoded, its fields.
func checkAdvert(t *testing.T, w ndpOut, wantDst netip.Addr, wantBytes []byte, solicited bool) {
	t.Helper()
	b := marshal(t, w.m)
	if !bytes.Equal(b, wantBytes) {
		t.Fatalf("advertisement\n got % x\nwant % x", b, wantBytes)
	}
	if w.dst != wantDst {
		t.Errorf("sent to %s, want %s", w.dst, wantDst)
	}
	m, err := ndp.ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	na, ok := m.(*ndp.NeighborAdvertisement)
	if !ok || na.Solicited != solicited || !na.Override || na.Router || na.TargetAddress != vip6 {
		t.Fatalf("advertisement fields: %+v", m)
	}
	lla, ok := na.Options[0].(*ndp.LinkLayerAddress)
	if len(na.Options) != 1 || !ok || lla.Direction != ndp.Target || !bytes.Equal(lla.Addr, nodeMAC) {
		t.Errorf("options: %+v", na.Options)
	}
}

// Type 136, code 0, checksum left to the kernel, flags, target, target LLA.
var (
	solicitedNA   = unhex(`88 00 0000 60000000 20010db8ffff00000000000000000010 02 01 020000000001`)
	unsolicitedNA = unhex(`88 00 0000 20000000 20010db8ffff00000000000000000010 02 01 020000000001`)
)

func TestNDPReplyByteForByte(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("ndpa")...)
		h.announce(vip6.String())
		c := h.sys.ndpConn("ndpa0")
		drainNDP(c)
		if !c.joined(vip6Group) {
			t.Fatalf("solicited-node group %s not joined", vip6Group)
		}
		before := sent(protoNDP, "ndpa0")

		c.in <- ndpIn{b: solicit(t, vip6, clientMAC), cm: hop255, src: clientLL}
		synctest.Wait()

		checkAdvert(t, nextNDP(t, c), clientLL, solicitedNA, true)
		if got := sent(protoNDP, "ndpa0") - before; got != 1 {
			t.Errorf("responses_sent grew by %v, want 1", got)
		}
	})
}

func TestNDPUnsolicitedBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs, GratuitousBurst: 2}, nodeLinks("ndpu")...)
		before := gratuitous(protoNDP, "ndpu0")
		h.announce(vip6.String())
		c := h.sys.ndpConn("ndpu0")
		for range 2 {
			checkAdvert(t, nextNDP(t, c), allNodes, unsolicitedNA, false)
		}
		if n := drainNDP(c); n != 0 {
			t.Errorf("%d extra messages", n)
		}
		if got := gratuitous(protoNDP, "ndpu0") - before; got != 2 {
			t.Errorf("gratuitous_sent grew by %v, want 2", got)
		}
	})
}

func TestNDPDuplicateAddressProbeIsDefended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("ndpd")...)
		h.announce(vip6.String())
		c := h.sys.ndpConn("ndpd0")
		drainNDP(c)

		c.in <- ndpIn{b: solicit(t, vip6, nil), cm: hop255, src: netip.IPv6Unspecified()}
		synctest.Wait()
		checkAdvert(t, nextNDP(t, c), allNodes, unsolicitedNA, false)
	})
}

func TestNDPSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var lost atomic.Bool
		lostVIP := netip.MustParseAddr("2001:db8:ffff::12")
		stillOwned := func(vip netip.Addr) bool { return !(lost.Load() && vip == lostVIP) }
		h := startHarness(t, Config{NodeAddresses: nodeAddrs, StillOwned: stillOwned}, nodeLinks("ndps")...)
		h.announce(vip6.String())
		h.announce("2001:db8:ffff::11", "ndps1")
		h.announce(lostVIP.String())
		lost.Store(true)
		c := h.sys.ndpConn("ndps0")
		drainNDP(c)

		na := marshal(t, &ndp.NeighborAdvertisement{Override: true, TargetAddress: vip6,
			Options: []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: otherMAC}}})
		rs := marshal(t, &ndp.RouterSolicitation{})
		ownLL := linkLocalOf(nodeMAC)
		cases := []struct {
			name   string
			in     ndpIn
			reason string
		}{
			{"not owned", ndpIn{solicit(t, netip.MustParseAddr("2001:db8:ffff::99"), clientMAC), hop255, clientLL}, ReasonNotOwned},
			{"owned on another interface", ndpIn{solicit(t, netip.MustParseAddr("2001:db8:ffff::11"), clientMAC), hop255, clientLL}, ReasonWrongInterface},
			{"ownership hook says lost", ndpIn{solicit(t, lostVIP, clientMAC), hop255, clientLL}, ReasonOwnershipLost},
			{"advertisement from another host", ndpIn{na, hop255, clientLL}, ReasonNotRequest},
			{"router solicitation", ndpIn{rs, hop255, clientLL}, ReasonNotRequest},
			{"from our own address", ndpIn{solicit(t, vip6, nil), hop255, ownLL}, ReasonOwnMAC},
			{"with our own MAC", ndpIn{solicit(t, vip6, nodeMAC), hop255, clientLL}, ReasonOwnMAC},
			{"hop limit not 255 (off-link)", ndpIn{solicit(t, vip6, clientMAC), &ipv6.ControlMessage{HopLimit: 64}, clientLL}, ReasonMalformed},
			{"garbage", ndpIn{[]byte{135, 0, 0}, hop255, clientLL}, ReasonMalformed},
			{"unspecified source with link-layer option", ndpIn{solicit(t, vip6, clientMAC), hop255, netip.IPv6Unspecified()}, ReasonMalformed},
			{"multicast target", ndpIn{solicit(t, allNodes, clientMAC), hop255, clientLL}, ReasonMalformed},
		}
		for _, tc := range cases {
			before, recv := ignored(protoNDP, "ndps0", tc.reason), received(protoNDP, "ndps0")
			c.in <- tc.in
			synctest.Wait()
			select {
			case w := <-c.out:
				t.Errorf("%s: answered with %+v", tc.name, w.m)
			default:
			}
			if got := ignored(protoNDP, "ndps0", tc.reason) - before; got != 1 {
				t.Errorf("%s: ignored{reason=%s} grew by %v, want 1", tc.name, tc.reason, got)
			}
			if got := received(protoNDP, "ndps0") - recv; got != 1 {
				t.Errorf("%s: requests_received grew by %v, want 1", tc.name, got)
			}
		}
		c.in <- ndpIn{solicit(t, vip6, clientMAC), hop255, clientLL}
		synctest.Wait()
		nextNDP(t, c)
	})
}

func TestNDPSolicitedNodeGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("ndpg")...)
		sameGroup := netip.MustParseAddr("2001:db8:eeee::10") // same low 24 bits as vip6
		h.announce(vip6.String())
		h.announce(sameGroup.String())
		c := h.sys.ndpConn("ndpg0")
		if !c.joined(vip6Group) {
			t.Fatal("group not joined")
		}
		h.r.Withdraw(vip6)
		synctest.Wait()
		if !c.joined(vip6Group) {
			t.Fatal("group left while another owned VIP still maps to it")
		}
		h.r.Withdraw(sameGroup)
		synctest.Wait()
		if c.joined(vip6Group) {
			t.Fatal("group still joined after the last VIP was withdrawn")
		}
	})
}
