package speaker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// Speaker metrics, on the registry main gives RegisterMetrics (served at --metrics-bind-address).
var (
	peersConfigured = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "routelb", Subsystem: "speaker_bgp", Name: "peers_configured",
		Help: "BGP neighbours in the node's rendered FRR configuration.",
	})
	prefixesRendered = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "routelb", Subsystem: "speaker_bgp", Name: "prefixes_rendered",
		Help: "Prefixes (network statements) in the node's rendered FRR configuration, by address family.",
	}, []string{"family"})
	servicesAnnounced = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "routelb", Subsystem: "speaker_bgp", Name: "services_announced",
		Help: "Services whose VIPs this node announces to at least one peer.",
	})
	configProblems = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "routelb", Subsystem: "speaker_bgp", Name: "config_problems",
		Help: "Problems found in the metallb.io objects at the last reconcile.",
	})
	configWrites = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "routelb", Subsystem: "speaker_bgp", Name: "config_writes_total",
		Help: "Times frr.conf was rewritten because its content changed.",
	})
	writeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "routelb", Subsystem: "speaker_bgp", Name: "config_write_errors_total",
		Help: "Failed writes of frr.conf.",
	})
	renderErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "routelb", Subsystem: "speaker_bgp", Name: "render_errors_total",
		Help: "Failed computations or renders of the node's configuration.",
	})
)

// RegisterMetrics puts the speaker's BGP and Layer 2 metrics on reg (the one the speaker's /metrics
// serves). Registering them twice on one registry is not an error: tests build several managers.
func RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{peersConfigured, prefixesRendered, servicesAnnounced, configProblems,
		configWrites, writeErrors, renderErrors, l2VIPs} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
	}
	return nil
}

func peerCount(n *model.NodeBGP) int {
	c := 0
	for _, r := range n.Routers {
		c += len(r.Neighbors)
	}
	return c
}

func observe(res nodeconfig.NodeBGPResult) {
	v4, v6 := 0, 0
	for _, r := range res.Node.Routers {
		v4 += len(r.Networks4)
		v6 += len(r.Networks6)
	}
	peersConfigured.Set(float64(peerCount(res.Node)))
	prefixesRendered.WithLabelValues("ipv4").Set(float64(v4))
	prefixesRendered.WithLabelValues("ipv6").Set(float64(v6))
	servicesAnnounced.Set(float64(len(res.Node.Services)))
	configProblems.Set(float64(len(res.Problems)))
	controllers.ObserveConfig(len(res.Problems))
	observeBGPAnnounced(res.Node)
}
