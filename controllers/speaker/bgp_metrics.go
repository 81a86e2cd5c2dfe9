package speaker

import (
	"errors"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// Metrics are the speaker's series, on the registry main gives NewMetrics (served at
// --metrics-bind-address). Each reconciler updates the Metrics it is given, so a test reads its
// own speaker's values, not a process-wide global.
type Metrics struct {
	peersConfigured  prometheus.Gauge
	prefixesRendered *prometheus.GaugeVec
	servicesAnnounced,
	configProblems prometheus.Gauge
	// routingConfigApplied is the reloader's verdict (ReloaderOutcome), for alerts: /readyz and the
	// Node's events say the same to people and the kubelet.
	// By daemon, so that the series is absent, not 0, until the first verdict (or in L2 only).
	routingConfigApplied                    *prometheus.GaugeVec
	configWrites, writeErrors, renderErrors prometheus.Counter
	l2VIPs                                  prometheus.Gauge

	// announced is MetalLB's metallb_speaker_announced (metallb_metrics.go).
	announced *announcedCollector
}

// NewMetrics registers the speaker's BGP and Layer 2 series on reg, with metallb MetalLB's
// metallb_speaker_announced and k8s client series too. A series already on reg is shared, not an
// error: the tests run several speakers on one process's registry.
func NewMetrics(reg prometheus.Registerer, metallb bool) (*Metrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "routelb", Subsystem: "speaker_bgp", Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "routelb", Subsystem: "speaker_bgp", Name: name, Help: help})
	}
	gv := func(name, help, label string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "routelb", Subsystem: "speaker_bgp", Name: name, Help: help}, []string{label})
	}
	m := &Metrics{
		peersConfigured: g("peers_configured", "BGP neighbours in the node's rendered FRR configuration."),
		prefixesRendered: gv("prefixes_rendered",
			"Prefixes (network statements) in the node's rendered FRR configuration, by address family.", "family"),
		servicesAnnounced: g("services_announced", "Services whose VIPs this node announces to at least one peer."),
		configProblems:    g("config_problems", "Problems found in the metallb.io objects at the last reconcile."),
		routingConfigApplied: gv("routing_config_applied",
			"1 while the routing daemon runs the node's rendered config, 0 while it refused it, runs another or cannot be reached (the reloader's last verdict).", "daemon"),
		configWrites: c("config_writes_total", "Times frr.conf was rewritten because its content changed."),
		writeErrors:  c("config_write_errors_total", "Failed writes of frr.conf."),
		renderErrors: c("render_errors_total", "Failed computations or renders of the node's configuration."),
		// Cluster-wide, as this node computes them; the responder (requests, responses, gratuitous)
		// and the ownership engine (ownership changes, Lease writes) export the rest of Layer 2's.
		l2VIPs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "routelb", Subsystem: "speaker_l2", Name: "vips",
			Help: "VIPs of LoadBalancer Services in pools an L2Advertisement announces."}),
		announced: newAnnounced(),
	}
	var err error
	for _, p := range []*prometheus.Gauge{&m.peersConfigured, &m.servicesAnnounced, &m.configProblems, &m.l2VIPs} {
		if *p, err = register(reg, *p); err != nil {
			return nil, err
		}
	}
	for _, p := range []*prometheus.Counter{&m.configWrites, &m.writeErrors, &m.renderErrors} {
		if *p, err = register(reg, *p); err != nil {
			return nil, err
		}
	}
	for _, p := range []**prometheus.GaugeVec{&m.prefixesRendered, &m.routingConfigApplied} {
		if *p, err = register(reg, *p); err != nil {
			return nil, err
		}
	}
	if metallb {
		if m.announced, err = register(reg, m.announced); err != nil {
			return nil, err
		}
		if err := controllers.RegisterMetalLBK8sClientMetrics(reg); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// unservedMetrics are for a reconciler given none: counted on a registry of their own.
func unservedMetrics() *Metrics {
	m, err := NewMetrics(prometheus.NewRegistry(), false)
	if err != nil {
		panic(err) // a fresh registry refuses only malformed collectors: a bug here
	}
	return m
}

// register puts c on reg, or returns the collector of the same description already there.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, err
}

func peerCount(n *model.NodeBGP) int {
	c := 0
	for _, r := range n.Routers {
		c += len(r.Neighbors)
	}
	return c
}

func (m *Metrics) observeBGP(res nodeconfig.NodeBGPResult) {
	v4, v6 := 0, 0
	for _, r := range res.Node.Routers {
		v4 += len(r.Networks4)
		v6 += len(r.Networks6)
	}
	m.peersConfigured.Set(float64(peerCount(res.Node)))
	m.prefixesRendered.WithLabelValues("ipv4").Set(float64(v4))
	m.prefixesRendered.WithLabelValues("ipv6").Set(float64(v6))
	m.servicesAnnounced.Set(float64(len(res.Node.Services)))
	m.configProblems.Set(float64(len(res.Problems)))
	controllers.ObserveConfig(len(res.Problems))
	m.observeBGPAnnounced(res.Node)
}

func (m *Metrics) observeL2(node string, vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) {
	m.l2VIPs.Set(float64(len(vips)))
	m.observeL2Announced(node, vips, answering)
}
