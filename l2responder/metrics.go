package l2responder

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Protocol label values.
const (
	protoARP = "arp"
	protoNDP = "ndp"
)

// Reasons a request is received but not answered. Each one is a label value of
// routelb_layer2_requests_ignored_total, so an operator can tell "nobody asked"
// from "we were asked and chose to stay silent, because ...".
const (
	ReasonMalformed      = "malformed"       // undecodable, wrong sizes, or fails RFC 4861 validation
	ReasonOwnMAC         = "own_mac"         // sent by this node (our own traffic looped back)
	ReasonNotRequest     = "not_request"     // an ARP reply, or an NDP message other than a solicitation
	ReasonGratuitous     = "gratuitous"      // someone else's gratuitous ARP (sender IP == target IP)
	ReasonNotOwned       = "not_owned"       // we do not own the target address
	ReasonWrongInterface = "wrong_interface" // we own it, but not on the interface the request came in on
	ReasonOwnershipLost  = "ownership_lost"  // owned, but the StillOwned hook said no at answer time
)

var (
	requestsReceived = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb",
		Subsystem: "layer2",
		Name:      "requests_received_total",
		Help:      "ARP packets / NDP messages read by the layer 2 responder.",
	}, []string{"protocol", "interface"})

	responsesSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb",
		Subsystem: "layer2",
		Name:      "responses_sent_total",
		Help:      "ARP replies / solicited neighbor advertisements sent for owned VIPs.",
	}, []string{"protocol", "interface"})

	gratuitousSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb",
		Subsystem: "layer2",
		Name:      "gratuitous_sent_total",
		Help:      "Gratuitous ARP packets / unsolicited neighbor advertisements sent on take-over.",
	}, []string{"protocol", "interface"})

	requestsIgnored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb",
		Subsystem: "layer2",
		Name:      "requests_ignored_total",
		Help:      "Received ARP packets / NDP messages left unanswered, by reason.",
	}, []string{"protocol", "interface", "reason"})

	sendErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb",
		Subsystem: "layer2",
		Name:      "send_errors_total",
		Help:      "Replies or announcements that could not be written to the socket.",
	}, []string{"protocol", "interface"})
)

// RegisterMetrics puts the responder's counters on reg, MetalLB's too with metallb (New calls it
// with Config.Registerer; the dashboard test lists the names through it). Registering
// twice on one registry is not an error: tests build several responders in one process.
func RegisterMetrics(reg prometheus.Registerer, metallb bool) error {
	cs := []prometheus.Collector{requestsReceived, responsesSent, gratuitousSent, requestsIgnored, sendErrors}
	if metallb {
		cs = append(cs, mlbRequests, mlbResponses, mlbGratuitous)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
	}
	return nil
}

func ignoreCounter(proto, iface, reason string) prometheus.Counter {
	return requestsIgnored.WithLabelValues(proto, iface, reason)
}
