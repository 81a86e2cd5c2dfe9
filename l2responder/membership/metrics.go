package membership

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	members     prometheus.Gauge
	heartbeats  *prometheus.CounterVec
	convictions prometheus.Counter
}

// newMetrics registers the membership metrics on reg (nil: not exported). A second Membership on
// the same registry (a test restarting a run) reuses the first one's collectors.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "routelb", Subsystem: "layer2", Name: "members",
			Help: "Alive members of the speakers' memberlist cluster as seen from this node, this node included.",
		}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "routelb", Subsystem: "layer2", Name: "heartbeats_total",
			Help: "Layer 2 ownership heartbeats sent to members, received from them, and acks that extended a promise held by this node.",
		}, []string{"direction"}),
		convictions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "routelb", Subsystem: "layer2", Name: "convictions_total",
			Help: "Member runs this node stopped acking because it was about to fence their silent Lease.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.members, err = register(reg, m.members); err != nil {
		return nil, err
	}
	if m.heartbeats, err = register(reg, m.heartbeats); err != nil {
		return nil, err
	}
	if m.convictions, err = register(reg, m.convictions); err != nil {
		return nil, err
	}
	return m, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
