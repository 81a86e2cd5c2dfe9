package l2responder

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// osSystem is the real host: interfaces from the kernel, AF_PACKET sockets for
// ARP and ICMPv6 raw sockets for NDP, in the caller's network namespace.
type osSystem struct{}

func (osSystem) links() ([]link, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	out := make([]link, 0, len(ifs))
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
		}
		out = append(out, link{ifi: ifi, addrs: ipsOf(addrs)})
	}
	return out, nil
}

func ipsOf(addrs []net.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// listenARP opens a raw AF_PACKET socket for ARP frames. arp.Dial/arp.New are
// not used: they refuse interfaces without an IPv4 address (a VIP interface
// need not have one) and arp.Client.Read cannot tell a malformed frame from a
// dead socket, which the ignored-requests metric needs.
func (osSystem) listenARP(ifi *net.Interface) (net.PacketConn, error) {
	c, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
	if err != nil {
		return nil, fmt.Errorf("ARP socket on %s: %w", ifi.Name, err)
	}
	// AF_PACKET sockets also see frames this host sends; skipping them keeps
	// our own replies out of the request counters (own_mac still guards
	// kernels older than 4.20, which lack the option).
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		})
	}
	return c, nil
}

// listenNDP opens an ICMPv6 socket that only passes neighbour solicitations
// and reports each packet's hop limit, which RFC 4861 requires to be 255.
func (osSystem) listenNDP(ifi *net.Interface) (ndpConn, netip.Addr, error) {
	c, addr, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("NDP socket on %s: %w", ifi.Name, err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborSolicitation)
	if err := c.SetICMPFilter(&f); err != nil {
		_ = c.Close() // the setup error is the one worth reporting
		return nil, netip.Addr{}, fmt.Errorf("NDP filter on %s: %w", ifi.Name, err)
	}
	if err := c.SetControlMessage(ipv6.FlagHopLimit, true); err != nil {
		_ = c.Close() // the setup error is the one worth reporting
		return nil, netip.Addr{}, fmt.Errorf("NDP control messages on %s: %w", ifi.Name, err)
	}
	return c, addr, nil
}
