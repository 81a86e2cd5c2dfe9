package ownership

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	ownershipChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb", Subsystem: "layer2", Name: "ownership_changes_total",
		Help: "VIPs this node started (acquired) or stopped (released; fenced: lost to another node) answering for.",
	}, []string{"change"})
	vipsAnswered = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "routelb", Subsystem: "layer2", Name: "vips_owned",
		Help: "VIPs this node owns and answers for right now.",
	})
	leaseWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb", Subsystem: "layer2", Name: "lease_writes_total",
		Help: "Writes of this node's ownership Lease (renewals with claims), by result.",
	}, []string{"result"})
	fences = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb", Subsystem: "layer2", Name: "lease_fences_total",
		Help: "Attempts to empty another node's expired Lease before taking its VIPs, by result.",
	}, []string{"result"})
)

func init() {
	metrics.Registry.MustRegister(ownershipChanges, vipsAnswered, leaseWrites, fences)
}
