package l2responder

import (
	"net"
	"net/netip"
	"regexp"
	"slices"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// link is one network interface as the responder sees it.
type link struct {
	ifi   net.Interface
	addrs []netip.Addr
	// enslaved: the link has a master (a bridge or bond port), which answers for it.
	enslaved bool
	// noARP: IFF_NOARP, the kernel resolves nothing on this link.
	noARP bool
}

// ndpConn is the part of *ndp.Conn the NDP responder uses. It reads raw bytes
// (ReadRaw, not ReadFrom) so malformed messages can be counted rather than
// silently dropped, and so unit tests can feed hand-made ICMPv6 bytes.
type ndpConn interface {
	ReadRaw(b []byte) (int, *ipv6.ControlMessage, netip.Addr, error)
	WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error
	JoinGroup(group netip.Addr) error
	LeaveGroup(group netip.Addr) error
	Close() error
}

// system is the seam between the responder and the host: listing interfaces
// and opening sockets. Unit tests replace it with in-memory connections.
type system interface {
	links() ([]link, error)
	listenARP(ifi *net.Interface) (net.PacketConn, error)
	// listenNDP also returns the link-local address the connection sends from.
	listenNDP(ifi *net.Interface) (ndpConn, netip.Addr, error)
}

// eligible reports whether ARP/NDP can be answered on l at all, as MetalLB
// decides it: a link that is down cannot carry the answer, loopback has no
// neighbours, without an Ethernet address there is nothing to put in the
// reply, a bridge or bond port is answered for by its master, a NOARP link
// resolves nothing, and an interface matching the exclude list (MetalLB's
// announcedInterfacesToExclude) is never used.
func eligible(l link, exclude *regexp.Regexp) bool {
	return l.ifi.Flags&net.FlagUp != 0 &&
		l.ifi.Flags&net.FlagLoopback == 0 &&
		len(l.ifi.HardwareAddr) == 6 &&
		!l.enslaved && !l.noARP &&
		(exclude == nil || !exclude.MatchString(l.ifi.Name))
}

// desiredPairs resolves which (VIP, interface) pairs should be answered:
// a VIP's explicit interface list, or else the default interfaces: every
// eligible one (MetalLB's), or with nodeAddrs those holding a node address.
func desiredPairs(owned map[netip.Addr][]string, links []link, nodeAddrs []netip.Addr, exclude *regexp.Regexp) map[pair]net.Interface {
	byName := map[string]net.Interface{}
	var defaults []string
	for _, l := range links {
		if !eligible(l, exclude) {
			continue
		}
		byName[l.ifi.Name] = l.ifi
		if len(nodeAddrs) == 0 || holdsAny(l, nodeAddrs) {
			defaults = append(defaults, l.ifi.Name)
		}
	}
	want := map[pair]net.Interface{}
	for vip, names := range owned {
		if names == nil {
			names = defaults
		}
		for _, name := range names {
			if ifi, ok := byName[name]; ok {
				want[pair{vip, name}] = ifi
			}
		}
	}
	return want
}

func holdsAny(l link, addrs []netip.Addr) bool {
	for _, a := range l.addrs {
		if slices.Contains(addrs, a) {
			return true
		}
	}
	return false
}
