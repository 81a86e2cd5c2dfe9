package l2responder

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
)

// MetalLB's layer 2 counters (its internal/layer2/stats.go), under MetalLB's names and its one
// label, ip. As in MetalLB they count only requests for VIPs this node answers; the
// routelb_layer2_* counters count every packet, per interface and protocol, and say why the rest
// went unanswered.
var (
	mlbRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "metallb", Subsystem: "layer2", Name: "requests_received",
		Help: "Number of layer2 requests received for owned IPs",
	}, []string{"ip"})
	mlbResponses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "metallb", Subsystem: "layer2", Name: "responses_sent",
		Help: "Number of layer2 responses sent for owned IPs in response to requests",
	}, []string{"ip"})
	mlbGratuitous = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "metallb", Subsystem: "layer2", Name: "gratuitous_sent",
		Help: "Number of gratuitous layer2 packets sent for owned IPs as a result of failovers",
	}, []string{"ip"})
)

func metallbRequest(ip netip.Addr)    { mlbRequests.WithLabelValues(ip.String()).Inc() }
func metallbResponse(ip netip.Addr)   { mlbResponses.WithLabelValues(ip.String()).Inc() }
func metallbGratuitous(ip netip.Addr) { mlbGratuitous.WithLabelValues(ip.String()).Inc() }
