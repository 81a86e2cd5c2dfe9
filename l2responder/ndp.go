package l2responder

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// allNodes is where unsolicited advertisements go (RFC 4861 7.2.6).
var allNodes = netip.MustParseAddr("ff02::1")

// ndpResponder answers neighbour solicitations on one interface.
type ndpResponder struct {
	r       *Responder
	ifi     net.Interface
	conn    ndpConn
	src     netip.Addr // our link-local address: solicitations from it are our own
	log     logr.Logger
	closing atomic.Bool
	doneCh  chan struct{}

	mu     sync.Mutex
	groups map[netip.Addr]int // solicited-node group -> owned VIPs mapping to it
}

func newNDPResponder(r *Responder, ifi net.Interface, conn ndpConn, src netip.Addr) *ndpResponder {
	return &ndpResponder{
		r:      r,
		ifi:    ifi,
		conn:   conn,
		src:    src,
		log:    r.log.WithValues("protocol", protoNDP, "interface", ifi.Name),
		doneCh: make(chan struct{}),
		groups: map[netip.Addr]int{},
	}
}

func (n *ndpResponder) iface() net.Interface    { return n.ifi }
func (n *ndpResponder) done() <-chan struct{}   { return n.doneCh }
func (n *ndpResponder) close()                  { n.closing.Store(true); _ = n.conn.Close() }
func (n *ndpResponder) counterLabels() []string { return []string{protoNDP, n.ifi.Name} }
func (n *ndpResponder) ignore(reason string)    { ignoreCounter(protoNDP, n.ifi.Name, reason).Inc() }

// watch joins vip's solicited-node group: multicast solicitations for the VIP
// only reach this host once its NIC and stack accept that group. Several VIPs
// can share a group (same low 24 bits), hence the count.
func (n *ndpResponder) watch(vip netip.Addr) error {
	group, err := ndp.SolicitedNodeMulticast(vip)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.groups[group] == 0 {
		if err := n.conn.JoinGroup(group); err != nil {
			return err
		}
	}
	n.groups[group]++
	return nil
}

func (n *ndpResponder) unwatch(vip netip.Addr) {
	group, err := ndp.SolicitedNodeMulticast(vip)
	if err != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.groups[group] == 0 {
		return
	}
	n.groups[group]--
	if n.groups[group] > 0 {
		return
	}
	delete(n.groups, group)
	if err := n.conn.LeaveGroup(group); err != nil && !n.closing.Load() {
		n.log.Error(err, "Leaving solicited-node group failed", "group", group)
	}
}

func (n *ndpResponder) serve() {
	defer close(n.doneCh)
	buf := make([]byte, max(n.ifi.MTU, 1280))
	for {
		size, cm, src, err := n.conn.ReadRaw(buf)
		if err != nil {
			if !n.closing.Load() {
				n.log.Error(err, "NDP socket failed; will reopen")
			}
			return
		}
		n.handle(buf[:size], cm, src)
	}
}

func (n *ndpResponder) handle(b []byte, cm *ipv6.ControlMessage, src netip.Addr) {
	requestsReceived.WithLabelValues(n.counterLabels()...).Inc()
	ns, reason := n.classify(b, cm, src)
	if reason == "" {
		reason = n.r.verdict(ns.TargetAddress, n.ifi.Name)
	}
	if reason != "" {
		n.ignore(reason)
		if ns != nil {
			n.log.V(2).Info("Ignored neighbor solicitation", "reason", reason, "target", ns.TargetAddress, "source", src)
		}
		return
	}
	n.reply(ns, src)
}

// classify returns the solicitation in b, or why it must not be answered.
// The validity checks are RFC 4861 7.1.1's.
func (n *ndpResponder) classify(b []byte, cm *ipv6.ControlMessage, src netip.Addr) (*ndp.NeighborSolicitation, string) {
	m, err := ndp.ParseMessage(b)
	if err != nil || (cm != nil && cm.HopLimit != ndp.HopLimit) {
		return nil, ReasonMalformed
	}
	ns, ok := m.(*ndp.NeighborSolicitation)
	if !ok {
		return nil, ReasonNotRequest
	}
	lla := sourceLLA(ns)
	switch {
	case ns.TargetAddress.IsMulticast():
		return ns, ReasonMalformed
	case src.IsUnspecified() && lla != nil:
		return ns, ReasonMalformed
	case src.WithZone("") == n.src.WithZone("") || bytes.Equal(lla, n.ifi.HardwareAddr):
		return ns, ReasonOwnMAC
	}
	return ns, ""
}

func sourceLLA(ns *ndp.NeighborSolicitation) net.HardwareAddr {
	for _, o := range ns.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			return lla.Addr
		}
	}
	return nil
}

// reply sends a solicited advertisement with the override flag, so the asker
// replaces whatever it cached. A duplicate address detection probe (source
// ::) is answered to all-nodes, unsolicited, which is how RFC 4861 7.2.4
// defends an address.
func (n *ndpResponder) reply(ns *ndp.NeighborSolicitation, src netip.Addr) {
	metallbRequest(ns.TargetAddress)
	dst, solicited := src, true
	if src.IsUnspecified() {
		dst, solicited = allNodes, false
	}
	if err := n.conn.WriteTo(n.advert(ns.TargetAddress, solicited), nil, dst); err != nil {
		sendErrors.WithLabelValues(n.counterLabels()...).Inc()
		n.log.Error(err, "Sending neighbor advertisement failed", "ip", ns.TargetAddress)
		return
	}
	responsesSent.WithLabelValues(n.counterLabels()...).Inc()
	metallbResponse(ns.TargetAddress)
	n.log.V(1).Info("Sent neighbor advertisement", "ip", ns.TargetAddress, "to", src)
}

// announce sends one unsolicited advertisement to all nodes, with override so
// every neighbour cache holding the VIP moves to our MAC.
func (n *ndpResponder) announce(vip netip.Addr) error {
	if err := n.conn.WriteTo(n.advert(vip, false), nil, allNodes); err != nil {
		sendErrors.WithLabelValues(n.counterLabels()...).Inc()
		return err
	}
	gratuitousSent.WithLabelValues(n.counterLabels()...).Inc()
	metallbGratuitous(vip)
	n.log.Info("Sent unsolicited neighbor advertisement", "ip", vip)
	return nil
}

func (n *ndpResponder) advert(vip netip.Addr, solicited bool) *ndp.NeighborAdvertisement {
	return &ndp.NeighborAdvertisement{
		Solicited:     solicited,
		Override:      true,
		TargetAddress: vip,
		Options: []ndp.Option{&ndp.LinkLayerAddress{
			Direction: ndp.Target,
			Addr:      n.ifi.HardwareAddr,
		}},
	}
}
