package ownership

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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

// registerMetrics puts the engine's series on reg, the binary's registry (nil: not exported).
// Engines of one test process share one registry, so a second registration of the same
// collectors is not an error.
func registerMetrics(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{ownershipChanges, vipsAnswered, leaseWrites, fences} {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(c); err != nil && !errors.As(err, &are) {
			panic(err) // a name clash with another collector is a programming error
		}
	}
}

// outageGauge is newOutageGauge when the engine has a LAN layer: without one it never answers
// through an outage.
func outageGauge(cfg Config) prometheus.Gauge {
	if cfg.LAN == nil {
		return nil
	}
	return newOutageGauge(cfg.Registerer)
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
