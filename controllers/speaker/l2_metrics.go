package speaker

import "github.com/prometheus/client_golang/prometheus"

// l2VIPs counts the VIPs announced in Layer 2 mode cluster-wide, as this node computes them; the
// responder (requests, responses, gratuitous) and the ownership engine (ownership changes, Lease
// writes) export the rest under routelb_layer2_*.
var l2VIPs = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: "routelb", Subsystem: "speaker_l2", Name: "vips",
	Help: "VIPs of LoadBalancer Services in pools an L2Advertisement announces.",
})
