package l2responder

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

var (
	nodeMAC   = mustMAC("02:00:00:00:00:01")
	otherMAC  = mustMAC("02:00:00:00:00:02")
	clientMAC = mustMAC("02:00:00:00:00:99")
)

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// arpFrame builds an ARP packet in an Ethernet frame from sha.
func arpFrame(t *testing.T, op arp.Operation, sha net.HardwareAddr, spa string, tha net.HardwareAddr, tpa string) []byte {
	t.Helper()
	p, err := arp.NewPacket(op, sha, netip.MustParseAddr(spa), tha, netip.MustParseAddr(tpa))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return frameOf(t, sha, ethernet.Broadcast, ethernet.EtherTypeARP, pb)
}

func frameOf(t *testing.T, src, dst net.HardwareAddr, et ethernet.EtherType, payload []byte) []byte {
	t.Helper()
	f := ethernet.Frame{Destination: dst, Source: src, EtherType: et, Payload: payload}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(t *testing.T, tpa string) []byte {
	return arpFrame(t, arp.OperationRequest, clientMAC, "198.51.100.100", ethernet.Broadcast, tpa)
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// decodeARP decodes a written frame with mdlayher's decoders.
func decodeARP(t *testing.T, b []byte) (*ethernet.Frame, *arp.Packet) {
	t.Helper()
	var f ethernet.Frame
	if err := f.UnmarshalBinary(b); err != nil {
		t.Fatalf("written frame does not decode: %v", err)
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		t.Fatalf("written ARP packet does not decode: %v", err)
	}
	return &f, &p
}

func nextWrite(t *testing.T, c *fakePacketConn) written {
	t.Helper()
	select {
	case w := <-c.out:
		return w
	default:
		t.Fatal("responder wrote nothing")
		return written{}
	}
}

func expectNoWrite(t *testing.T, c *fakePacketConn) {
	t.Helper()
	select {
	case w := <-c.out:
		t.Fatalf("responder wrote an unexpected frame: % x", w.frame)
	default:
	}
}

func drain(c *fakePacketConn) int {
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

// nodeLinks: arp0 holds the node address (default interface); arp1 does not.
func nodeLinks(prefix string) []link {
	return []link{
		mkLink(prefix+"0", 2, "02:00:00:00:00:01", up, "198.51.100.2"),
		mkLink(prefix+"1", 3, "02:00:00:00:00:03", up),
	}
}

var nodeAddrs = []netip.Addr{netip.MustParseAddr("198.51.100.2")}

func TestARPReplyByteForByte(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("arpa")...)
		h.announce("203.0.113.10")
		c := h.sys.arpConn("arpa0")
		drain(c)                              // the take-over burst; TestARPGratuitousBytes checks it
		sentBefore := sent(protoARP, "arpa0") // counters are global: -count=N reruns

		c.in <- request(t, "203.0.113.10")
		synctest.Wait()

		w := nextWrite(t, c)
		want := unhex(`
			020000000099 020000000001 0806
			0001 0800 06 04 0002
			020000000001 cb00710a
			020000000099 c6336464
			000000000000000000000000000000000000`)
		if !bytes.Equal(w.frame, want) {
			t.Fatalf("reply\n got % x\nwant % x", w.frame, want)
		}
		f, p := decodeARP(t, w.frame)
		if !bytes.Equal(w.to, clientMAC) || !bytes.Equal(f.Destination, clientMAC) || !bytes.Equal(f.Source, nodeMAC) {
			t.Errorf("reply addressed %s -> %s (socket %s), want %s -> %s", f.Source, f.Destination, w.to, nodeMAC, clientMAC)
		}
		if p.Operation != arp.OperationReply || !bytes.Equal(p.SenderHardwareAddr, nodeMAC) ||
			p.SenderIP != netip.MustParseAddr("203.0.113.10") ||
			!bytes.Equal(p.TargetHardwareAddr, clientMAC) || p.TargetIP != netip.MustParseAddr("198.51.100.100") {
			t.Errorf("reply fields: %+v", p)
		}
		expectNoWrite(t, c)
		if got := sent(protoARP, "arpa0") - sentBefore; got != 1 {
			t.Errorf("responses_sent = %v, want 1", got)
		}
	})
}

func TestARPGratuitousBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("arpg")...)
		before := gratuitous(protoARP, "arpg0")
		h.announce("203.0.113.10")
		c := h.sys.arpConn("arpg0")

		// RFC 5227 announcement: a broadcast request, sender IP == target IP.
		announcement := unhex(`
			ffffffffffff 020000000001 0806
			0001 0800 06 04 0001
			020000000001 cb00710a
			000000000000 cb00710a
			000000000000000000000000000000000000`)
		// Gratuitous reply, as MetalLB sends it.
		reply := unhex(`
			ffffffffffff 020000000001 0806
			0001 0800 06 04 0002
			020000000001 cb00710a
			ffffffffffff cb00710a
			000000000000000000000000000000000000`)
		for _, want := range [][]byte{announcement, reply} {
			w := nextWrite(t, c)
			if !bytes.Equal(w.frame, want) || !bytes.Equal(w.to, ethernet.Broadcast) {
				t.Fatalf("gratuitous frame\n got % x (to %s)\nwant % x", w.frame, w.to, want)
			}
			_, p := decodeARP(t, w.frame)
			if p.SenderIP != p.TargetIP || !bytes.Equal(p.SenderHardwareAddr, nodeMAC) {
				t.Errorf("not gratuitous: %+v", p)
			}
		}
		expectNoWrite(t, c)
		if got := gratuitous(protoARP, "arpg0") - before; got != 2 {
			t.Errorf("gratuitous_sent = %v, want 2", got)
		}
	})
}

func TestARPProbeIsAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("arpp")...)
		h.announce("203.0.113.10")
		c := h.sys.arpConn("arpp0")
		drain(c)

		// RFC 5227 probe: someone checks whether our VIP is free.
		c.in <- arpFrame(t, arp.OperationRequest, clientMAC, "0.0.0.0", zeroMAC, "203.0.113.10")
		synctest.Wait()

		_, p := decodeARP(t, nextWrite(t, c).frame)
		if p.Operation != arp.OperationReply || p.SenderIP != netip.MustParseAddr("203.0.113.10") ||
			p.TargetIP != netip.IPv4Unspecified() || !bytes.Equal(p.TargetHardwareAddr, clientMAC) {
			t.Errorf("probe reply: %+v", p)
		}
	})
}

func TestARPSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var lost atomic.Bool
		stillOwned := func(vip netip.Addr) bool {
			return !(lost.Load() && vip == netip.MustParseAddr("203.0.113.12"))
		}
		h := startHarness(t, Config{NodeAddresses: nodeAddrs, StillOwned: stillOwned}, nodeLinks("arps")...)
		h.announce("203.0.113.10")
		h.announce("203.0.113.11", "arps1") // owned, but only on the other interface
		h.announce("203.0.113.12")
		lost.Store(true) // its lease just expired; SetOwned has not been called yet
		c := h.sys.arpConn("arps0")
		drain(c)

		goodARP := func() []byte {
			p, _ := arp.NewPacket(arp.OperationRequest, clientMAC, netip.MustParseAddr("198.51.100.100"), ethernet.Broadcast, netip.MustParseAddr("203.0.113.10"))
			b, _ := p.MarshalBinary()
			return b
		}
		badHWType := goodARP()
		badHWType[1] = 6 // IEEE 802 instead of Ethernet
		badLens := goodARP()
		badLens[5] = 16 // IPv6-sized protocol addresses
		cases := []struct {
			name   string
			frame  []byte
			reason string
		}{
			{"not owned", request(t, "203.0.113.99"), ReasonNotOwned},
			{"owned on another interface", request(t, "203.0.113.11"), ReasonWrongInterface},
			{"ownership hook says lost", request(t, "203.0.113.12"), ReasonOwnershipLost},
			{"reply, not request", arpFrame(t, arp.OperationReply, clientMAC, "198.51.100.100", nodeMAC, "203.0.113.10"), ReasonNotRequest},
			{"gratuitous from another host", arpFrame(t, arp.OperationRequest, otherMAC, "203.0.113.10", zeroMAC, "203.0.113.10"), ReasonGratuitous},
			{"sender is our own MAC", arpFrame(t, arp.OperationRequest, nodeMAC, "198.51.100.2", ethernet.Broadcast, "203.0.113.10"), ReasonOwnMAC},
			{"truncated Ethernet", []byte{0xff, 0xff, 0xff}, ReasonMalformed},
			{"not ARP EtherType", frameOf(t, clientMAC, ethernet.Broadcast, ethernet.EtherTypeIPv4, goodARP()), ReasonMalformed},
			// Built by hand: the encoder would pad it back to a decodable size.
			{"truncated ARP", append(unhex("ffffffffffff 020000000099 0806"), goodARP()[:12]...), ReasonMalformed},
			{"non-Ethernet hardware type", frameOf(t, clientMAC, ethernet.Broadcast, ethernet.EtherTypeARP, badHWType), ReasonMalformed},
			{"wrong address lengths", frameOf(t, clientMAC, ethernet.Broadcast, ethernet.EtherTypeARP, append(badLens, make([]byte, 30)...)), ReasonMalformed},
		}
		// Subtests cannot run inside a synctest bubble, so each case names itself.
		for _, tc := range cases {
			before, recv := ignored(protoARP, "arps0", tc.reason), received(protoARP, "arps0")
			c.in <- tc.frame
			synctest.Wait()
			select {
			case w := <-c.out:
				t.Errorf("%s: answered with % x", tc.name, w.frame)
			default:
			}
			if got := ignored(protoARP, "arps0", tc.reason) - before; got != 1 {
				t.Errorf("%s: ignored{reason=%s} grew by %v, want 1", tc.name, tc.reason, got)
			}
			if got := received(protoARP, "arps0") - recv; got != 1 {
				t.Errorf("%s: requests_received grew by %v, want 1", tc.name, got)
			}
		}
		// The same responder still answers an owned VIP: silence above was chosen.
		c.in <- request(t, "203.0.113.10")
		synctest.Wait()
		nextWrite(t, c)
	})
}

func TestARPWithdrawSilencesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{NodeAddresses: nodeAddrs}, nodeLinks("arpw")...)
		h.announce("203.0.113.10")
		h.announce("203.0.113.20") // keeps the socket open after the withdrawal
		c := h.sys.arpConn("arpw0")
		drain(c)

		h.r.Withdraw(netip.MustParseAddr("203.0.113.10"))
		before := ignored(protoARP, "arpw0", ReasonNotOwned)
		c.in <- request(t, "203.0.113.10") // read before Run has even reconciled
		synctest.Wait()
		expectNoWrite(t, c)
		if got := ignored(protoARP, "arpw0", ReasonNotOwned) - before; got != 1 {
			t.Errorf("not_owned grew by %v, want 1", got)
		}
	})
}

func TestGratuitousSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startHarness(t, Config{
			NodeAddresses:     nodeAddrs,
			GratuitousBurst:   3,
			GratuitousRepeats: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second},
		}, nodeLinks("arpt")...)
		h.announce("203.0.113.10")
		c := h.sys.arpConn("arpt0")

		// Two frames (request and reply form) per announcement.
		steps := []struct {
			at   time.Duration
			want int
		}{{0, 6}, {500 * time.Millisecond, 2}, {time.Second, 2}, {2 * time.Second, 2}, {time.Hour, 0}}
		start := time.Now()
		for _, s := range steps {
			time.Sleep(time.Until(start.Add(s.at)))
			synctest.Wait()
			if got := drain(c); got != s.want {
				t.Errorf("at %v: %d gratuitous frames, want %d", s.at, got, s.want)
			}
		}
	})
}

func TestGratuitousRepeatsStopWhenOwnershipEnds(t *testing.T) {
	for _, how := range []string{"withdraw", "hook"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var lost atomic.Bool
				h := startHarness(t, Config{
					NodeAddresses:     nodeAddrs,
					StillOwned:        func(netip.Addr) bool { return !lost.Load() },
					GratuitousRepeats: []time.Duration{500 * time.Millisecond, time.Second},
				}, nodeLinks("arpc"+how[:1])...)
				h.announce("203.0.113.10")
				c := h.sys.arpConn("arpc" + how[:1] + "0")
				if got := drain(c); got != 2 {
					t.Fatalf("burst: %d frames, want 2", got)
				}
				if how == "withdraw" {
					h.r.Withdraw(netip.MustParseAddr("203.0.113.10"))
				} else {
					lost.Store(true)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				if got := drain(c); got != 0 {
					t.Errorf("%d gratuitous frames after ownership ended", got)
				}
			})
		})
	}
}
