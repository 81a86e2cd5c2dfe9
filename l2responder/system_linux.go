package l2responder

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"

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
	details, err := linkDetails()
	if err != nil {
		return nil, err
	}
	out := make([]link, 0, len(ifs))
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
		}
		d := details[ifi.Index]
		out = append(out, link{ifi: ifi, addrs: ipsOf(addrs), enslaved: d.master, noARP: d.flags&syscall.IFF_NOARP != 0})
	}
	return out, nil
}

type linkDetail struct {
	flags  uint32
	master bool
}

// linkDetails reads what net.Interface leaves out, per interface index: the
// kernel's link flags (IFF_NOARP) and whether the link has a master. One
// RTM_GETLINK dump over netlink, so it describes the caller's network
// namespace (MetalLB reads /sys/class/net, which shows the namespace sysfs
// was mounted in).
func linkDetails() (map[int]linkDetail, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("listing links over netlink: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("parsing the netlink link dump: %w", err)
	}
	out := map[int]linkDetail{}
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		// struct ifinfomsg: family u8, pad u8, type u16, index i32, flags u32, change u32.
		index := int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
		d := linkDetail{flags: binary.NativeEndian.Uint32(m.Data[8:12])}
		attrs, err := syscall.ParseNetlinkRouteAttr(m)
		if err != nil {
			return nil, fmt.Errorf("parsing the attributes of link %d: %w", index, err)
		}
		for _, a := range attrs {
			if a.Attr.Type == syscall.IFLA_MASTER {
				d.master = true
			}
		}
		out[index] = d
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
