package l2responder

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/net/ipv6"
)

// fakePacketConn is an in-memory net.PacketConn standing in for an AF_PACKET
// socket: tests push raw Ethernet frames in and read what the responder wrote.
type fakePacketConn struct {
	in     chan []byte
	out    chan written
	closed chan struct{}
	once   sync.Once
}

type written struct {
	frame []byte
	to    net.HardwareAddr
}

func newFakePacketConn() *fakePacketConn {
	return &fakePacketConn{in: make(chan []byte), out: make(chan written, 256), closed: make(chan struct{})}
}

func (c *fakePacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case f := <-c.in:
		return copy(b, f), &packet.Addr{}, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *fakePacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	c.out <- written{frame: append([]byte(nil), b...), to: addr.(*packet.Addr).HardwareAddr}
	return len(b), nil
}

func (c *fakePacketConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *fakePacketConn) LocalAddr() net.Addr              { return &packet.Addr{} }
func (c *fakePacketConn) SetDeadline(time.Time) error      { return nil }
func (c *fakePacketConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakePacketConn) SetWriteDeadline(time.Time) error { return nil }

func (c *fakePacketConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// fakeNDPConn stands in for *ndp.Conn.
type fakeNDPConn struct {
	in     chan ndpIn
	out    chan ndpOut
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex
	groups map[netip.Addr]bool
}

type ndpIn struct {
	b   []byte
	cm  *ipv6.ControlMessage
	src netip.Addr
}

type ndpOut struct {
	m   ndp.Message
	dst netip.Addr
}

func newFakeNDPConn() *fakeNDPConn {
	return &fakeNDPConn{in: make(chan ndpIn), out: make(chan ndpOut, 256), closed: make(chan struct{}), groups: map[netip.Addr]bool{}}
}

func (c *fakeNDPConn) ReadRaw(b []byte) (int, *ipv6.ControlMessage, netip.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p.b), p.cm, p.src, nil
	case <-c.closed:
		return 0, nil, netip.Addr{}, net.ErrClosed
	}
}

func (c *fakeNDPConn) WriteTo(m ndp.Message, _ *ipv6.ControlMessage, dst netip.Addr) error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	c.out <- ndpOut{m: m, dst: dst}
	return nil
}

func (c *fakeNDPConn) JoinGroup(g netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[g] {
		return errors.New("already joined") // the kernel says EADDRINUSE
	}
	c.groups[g] = true
	return nil
}

func (c *fakeNDPConn) LeaveGroup(g netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.groups[g] {
		return errors.New("not joined")
	}
	delete(c.groups, g)
	return nil
}

func (c *fakeNDPConn) joined(g netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[g]
}

func (c *fakeNDPConn) Close() error { c.once.Do(func() { close(c.closed) }); return nil }

// fakeSystem is a host whose interfaces the test defines and whose sockets
// are the fakes above.
type fakeSystem struct {
	mu      sync.Mutex
	ifs     []link
	arp     map[string]*fakePacketConn // latest socket opened per interface
	ndp     map[string]*fakeNDPConn
	opened  map[string]int
	failNDP error
}

func newFakeSystem(links ...link) *fakeSystem {
	return &fakeSystem{ifs: links, arp: map[string]*fakePacketConn{}, ndp: map[string]*fakeNDPConn{}, opened: map[string]int{}}
}

func (s *fakeSystem) setLinks(links ...link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ifs = links
}

func (s *fakeSystem) links() ([]link, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]link(nil), s.ifs...), nil
}

func (s *fakeSystem) listenARP(ifi *net.Interface) (net.PacketConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := newFakePacketConn()
	s.arp[ifi.Name] = c
	s.opened["arp/"+ifi.Name]++
	return c, nil
}

func (s *fakeSystem) listenNDP(ifi *net.Interface) (ndpConn, netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNDP != nil {
		return nil, netip.Addr{}, s.failNDP
	}
	c := newFakeNDPConn()
	s.ndp[ifi.Name] = c
	s.opened["ndp/"+ifi.Name]++
	return c, linkLocalOf(ifi.HardwareAddr), nil
}

func (s *fakeSystem) arpConn(name string) *fakePacketConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arp[name]
}

func (s *fakeSystem) ndpConn(name string) *fakeNDPConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ndp[name]
}

// linkLocalOf derives a stable fake link-local address from a MAC.
func linkLocalOf(mac net.HardwareAddr) netip.Addr {
	a := [16]byte{0: 0xfe, 1: 0x80}
	copy(a[10:], mac)
	return netip.AddrFrom16(a)
}

func mkLink(name string, index int, mac string, flags net.Flags, addrs ...string) link {
	hw, err := net.ParseMAC(mac)
	if mac == "" {
		hw, err = nil, nil
	}
	if err != nil {
		panic(err)
	}
	l := link{ifi: net.Interface{Index: index, MTU: 1500, Name: name, HardwareAddr: hw, Flags: flags}}
	for _, a := range addrs {
		l.addrs = append(l.addrs, netip.MustParseAddr(a))
	}
	return l
}

const up = net.FlagUp | net.FlagBroadcast | net.FlagMulticast

// harness runs a Responder over a fakeSystem inside a synctest bubble.
type harness struct {
	t    *testing.T
	sys  *fakeSystem
	r    *Responder
	stop func() // cancels Run and waits for it; idempotent
}

// startHarness must be called inside synctest.Test. Run is stopped, and every
// goroutine it started must have ended, before the bubble ends.
func startHarness(t *testing.T, cfg Config, links ...link) *harness {
	t.Helper()
	cfg.Logger = testr.NewWithOptions(t, testr.Options{Verbosity: 2})
	if cfg.GratuitousRepeats == nil {
		cfg.GratuitousRepeats = []time.Duration{} // most tests want only the burst
	}
	if cfg.GratuitousBurst == 0 {
		cfg.GratuitousBurst = 1
	}
	sys := newFakeSystem(links...)
	r := newResponder(cfg, sys)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	synctest.Wait()
	return &harness{t: t, sys: sys, r: r, stop: stop}
}

// announce takes ownership and waits until every goroutine has settled, so
// the take-over burst is already in the fake socket's output.
func (h *harness) announce(vip string, ifaces ...string) {
	h.t.Helper()
	if err := h.r.Announce(netip.MustParseAddr(vip), ifaces); err != nil {
		h.t.Fatal(err)
	}
	synctest.Wait()
}

// value reads a counter without prometheus/testutil, whose diff dependency
// is not in go.sum.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func ignored(proto, iface, reason string) float64 {
	return value(requestsIgnored.WithLabelValues(proto, iface, reason))
}

func received(proto, iface string) float64 {
	return value(requestsReceived.WithLabelValues(proto, iface))
}

func sent(proto, iface string) float64 {
	return value(responsesSent.WithLabelValues(proto, iface))
}

func gratuitous(proto, iface string) float64 {
	return value(gratuitousSent.WithLabelValues(proto, iface))
}
