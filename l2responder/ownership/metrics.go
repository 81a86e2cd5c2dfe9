package ownership

import (
	"errors"

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

// newOutageGauge is routelb_layer2_outage_answering on reg (nil: none). Engines of one test
// process share one registry: the second one reuses the first one's gauge.
func newOutageGauge(reg prometheus.Registerer) prometheus.Gauge {
	if reg == nil {
		return nil
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "routelb", Subsystem: "layer2", Name: "outage_answering",
		Help: "1 while this node answers VIPs without a fresh Lease, on the LAN promises of every member (rule O).",
	})
	if err := reg.Register(g); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Gauge); ok {
				return existing
			}
		}
		return nil
	}
	return g
}
