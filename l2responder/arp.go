package l2responder

import (
	"bytes"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// zeroMAC is the target hardware address of an RFC 5227 ARP announcement.
var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

// arpResponder answers ARP requests on one interface. It frames packets itself
// (mdlayher/arp packets in mdlayher/ethernet frames) over any net.PacketConn,
// which is what lets unit tests drive it without root.
type arpResponder struct {
	r       *Responder
	ifi     net.Interface
	conn    net.PacketConn
	log     logr.Logger
	closing atomic.Bool
	doneCh  chan struct{}
}

func newARPResponder(r *Responder, ifi net.Interface, conn net.PacketConn) *arpResponder {
	return &arpResponder{
		r:      r,
		ifi:    ifi,
		conn:   conn,
		log:    r.log.WithValues("protocol", protoARP, "interface", ifi.Name),
		doneCh: make(chan struct{}),
	}
}

func (a *arpResponder) iface() net.Interface           { return a.ifi }
func (a *arpResponder) done() <-chan struct{}          { return a.doneCh }
func (a *arpResponder) watch(netip.Addr) error         { return nil } // the socket sees every ARP frame
func (a *arpResponder) unwatch(netip.Addr)             {}
func (a *arpResponder) close()                         { a.closing.Store(true); _ = a.conn.Close() }
func (a *arpResponder) counterLabels() []string        { return []string{protoARP, a.ifi.Name} }
func (a *arpResponder) ignore(reason string)           { ignoreCounter(protoARP, a.ifi.Name, reason).Inc() }
func (a *arpResponder) ownMAC(m net.HardwareAddr) bool { return bytes.Equal(m, a.ifi.HardwareAddr) }

func (a *arpResponder) serve() {
	defer close(a.doneCh)
	// ARP frames are 42-64 bytes; a longer frame is truncated, still decodes,
	// and is not an ARP request we would answer anyway.
	buf := make([]byte, 256)
	for {
		n, _, err := a.conn.ReadFrom(buf)
		if err != nil {
			if !a.closing.Load() {
				a.log.Error(err, "ARP socket failed; will reopen")
			}
			return
		}
		a.handle(buf[:n])
	}
}

func (a *arpResponder) handle(frame []byte) {
	requestsReceived.WithLabelValues(a.counterLabels()...).Inc()
	req, reason := a.classify(frame)
	if reason == "" {
		reason = a.r.verdict(req.TargetIP, a.ifi.Name)
	}
	if reason != "" {
		a.ignore(reason)
		if req != nil {
			a.log.V(2).Info("Ignored ARP", "reason", reason, "target", req.TargetIP, "sender", req.SenderIP)
		}
		return
	}
	a.reply(req)
}

// classify decodes a frame and returns the request in it, or the reason it
// is not a request anyone should answer.
func (a *arpResponder) classify(frame []byte) (*arp.Packet, string) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil || f.EtherType != ethernet.EtherTypeARP {
		return nil, ReasonMalformed
	}
	p := new(arp.Packet)
	if err := p.UnmarshalBinary(f.Payload); err != nil ||
		p.HardwareType != 1 || p.ProtocolType != uint16(ethernet.EtherTypeIPv4) ||
		p.HardwareAddrLength != 6 || p.IPLength != 4 {
		return nil, ReasonMalformed
	}
	switch {
	case a.ownMAC(p.SenderHardwareAddr) || a.ownMAC(f.Source):
		return p, ReasonOwnMAC
	case p.Operation != arp.OperationRequest:
		return p, ReasonNotRequest
	case p.SenderIP == p.TargetIP:
		// Someone else announcing the address: answering would fight over it.
		return p, ReasonGratuitous
	}
	return p, ""
}

// reply answers like the Linux kernel does, including RFC 5227 probes (sender
// IP 0.0.0.0): the reply is unicast to the asker, so a host probing for our VIP
// learns it is taken.
func (a *arpResponder) reply(req *arp.Packet) {
	metallbRequest(req.TargetIP)
	p, err := arp.NewPacket(arp.OperationReply, a.ifi.HardwareAddr, req.TargetIP, req.SenderHardwareAddr, req.SenderIP)
	if err == nil {
		err = a.write(p, req.SenderHardwareAddr)
	}
	if err != nil {
		sendErrors.WithLabelValues(a.counterLabels()...).Inc()
		a.log.Error(err, "Sending ARP reply failed", "ip", req.TargetIP)
		return
	}
	responsesSent.WithLabelValues(a.counterLabels()...).Inc()
	metallbResponse(req.TargetIP)
	a.log.V(1).Info("Sent ARP reply", "ip", req.TargetIP, "to", req.SenderIP, "mac", req.SenderHardwareAddr.String())
}

// announce sends one gratuitous ARP in both common forms, because receivers
// differ in which they honour: an RFC 5227 announcement (a request with
// sender IP == target IP) and a broadcast reply (what MetalLB sends).
func (a *arpResponder) announce(vip netip.Addr) error {
	forms := []struct {
		op       arp.Operation
		targetHW net.HardwareAddr
	}{{arp.OperationRequest, zeroMAC}, {arp.OperationReply, ethernet.Broadcast}}
	for _, form := range forms {
		p, err := arp.NewPacket(form.op, a.ifi.HardwareAddr, vip, form.targetHW, vip)
		if err == nil {
			err = a.write(p, ethernet.Broadcast)
		}
		if err != nil {
			sendErrors.WithLabelValues(a.counterLabels()...).Inc()
			return err
		}
		gratuitousSent.WithLabelValues(a.counterLabels()...).Inc()
		metallbGratuitous(vip)
	}
	a.log.Info("Sent gratuitous ARP", "ip", vip)
	return nil
}

func (a *arpResponder) write(p *arp.Packet, dst net.HardwareAddr) error {
	payload, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	f := &ethernet.Frame{
		Destination: dst,
		Source:      a.ifi.HardwareAddr,
		EtherType:   ethernet.EtherTypeARP,
		Payload:     payload,
	}
	b, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = a.conn.WriteTo(b, &packet.Addr{HardwareAddr: dst})
	return err
}
