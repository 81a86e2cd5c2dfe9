package reloader

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	applyDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "routelb_reloader_apply_duration_seconds",
		Help:    "Time to validate and apply one FRR config, by outcome.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"outcome"})
	applyTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "routelb_reloader_applies_total",
		Help: "FRR config applies by outcome (applied, unchanged, full-reload, invalid, failed).",
	}, []string{"outcome"})
	divergedGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "routelb_reloader_target_diverged",
		Help: "1 while FRR runs a config that differs from the target even after a full reload (retried with backoff).",
	})
	restartsTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "routelb_reloader_frr_restarts_total",
		Help: "FRR daemon restarts noticed (pid file changed); each triggers a re-apply.",
	})
	bfdReregisteredTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "routelb_reloader_bfd_reregistered_total",
		Help: "BGP neighbors whose BFD session bfdd had lost after an FRR restart, registered again.",
	})
)

// RegisterMetrics puts the reloader's apply metrics on reg, the registry the binary's /metrics
// serves (a plain Prometheus registry: the reloader links no controller-runtime).
func RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{applyDuration, applyTotal, restartsTotal, bfdReregisteredTotal, divergedGauge} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func observe(res Result) {
	applyDuration.WithLabelValues(res.Outcome).Observe(res.Duration.Seconds())
	applyTotal.WithLabelValues(res.Outcome).Inc()
}

// FRRCollector exports BGP and BFD state read from vtysh's JSON at scrape
// time, so that vanished peers vanish from the metrics too.
type FRRCollector struct {
	FRR     *FRR
	Timeout time.Duration
	// NoMetalLB leaves out MetalLB's metallb_bgp_* and metallb_bfd_* series (metallb_metrics.go),
	// which are served by default like the other binaries' metallb_* series.
	NoMetalLB bool
	// CacheFor is how long one vtysh read serves scrapes (0 = DefaultShowCache, negative = none).
	CacheFor time.Duration

	cache showCache
}

// DefaultShowCache is the speaker's poll of the reloader's verdict: no burst of scrapes (several
// Prometheus servers, retries) forks the daemon's CLI more than once per command in that time, and
// the series stay fresher than any usual scrape interval (15 s and up).
const DefaultShowCache = 3 * time.Second

// showCache keeps each show command's output (or error) for a while. Its lock is held while the
// command runs, so concurrent scrapes wait for the one read instead of each forking the CLI.
type showCache struct {
	mu      sync.Mutex
	entries map[string]showEntry
	now     func() time.Time // tests move time
}

type showEntry struct {
	at  time.Time
	out string
	err error
}

func (s *showCache) show(ctx context.Context, ttl time.Duration, key string, run func(context.Context) (string, error)) (string, error) {
	if ttl == 0 {
		ttl = DefaultShowCache
	}
	if ttl < 0 {
		return run(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	if e, ok := s.entries[key]; ok && now().Sub(e.at) < ttl {
		return e.out, e.err
	}
	out, err := run(ctx)
	if s.entries == nil {
		s.entries = map[string]showEntry{}
	}
	s.entries[key] = showEntry{at: now(), out: out, err: err}
	return out, err
}

// show runs a vtysh show command through the cache.
func (c *FRRCollector) show(ctx context.Context, cmd string) (string, error) {
	return c.cache.show(ctx, c.CacheFor, cmd, func(ctx context.Context) (string, error) { return c.FRR.Show(ctx, cmd) })
}

// showArgs joins birdc's arguments into the cache key.
func showArgs(args []string) string { return strings.Join(args, " ") }

var (
	bgpStateDesc = prometheus.NewDesc("routelb_frr_bgp_session_up",
		"1 if the BGP session is Established, else 0; state label holds FRR's state.",
		[]string{"vrf", "afi", "peer", "state"}, nil)
	bgpRcvdDesc = prometheus.NewDesc("routelb_frr_bgp_prefixes_received",
		"Prefixes received from the neighbor.", []string{"vrf", "afi", "peer"}, nil)
	bgpSentDesc = prometheus.NewDesc("routelb_frr_bgp_prefixes_sent",
		"Prefixes sent to the neighbor.", []string{"vrf", "afi", "peer"}, nil)
	bfdUpDesc = prometheus.NewDesc("routelb_frr_bfd_peer_up",
		"1 if the BFD session is up, else 0; status label holds FRR's status.",
		[]string{"vrf", "peer", "local", "interface", "status"}, nil)
)

// Describe implements prometheus.Collector.
func (c *FRRCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bgpStateDesc, bgpRcvdDesc, bgpSentDesc, bfdUpDesc} {
		ch <- d
	}
	if !c.NoMetalLB {
		describeMetalLB(ch)
	}
}

// bgpSummary is `show bgp vrf all summary json`: vrf -> afi -> peers.
type bgpSummary map[string]map[string]struct {
	Peers map[string]struct {
		State  string  `json:"state"`
		PfxRcd float64 `json:"pfxRcd"`
		PfxSnt float64 `json:"pfxSnt"`
	} `json:"peers"`
}

// Collect implements prometheus.Collector.
func (c *FRRCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	var sum bgpSummary
	if c.showJSON(ctx, "show bgp vrf all summary json", &sum) {
		for vrf, afis := range sum {
			for afi, s := range afis {
				for peer, p := range s.Peers {
					ch <- prometheus.MustNewConstMetric(bgpStateDesc, prometheus.GaugeValue,
						boolFloat(p.State == "Established"), vrf, afi, peer, p.State)
					ch <- prometheus.MustNewConstMetric(bgpRcvdDesc, prometheus.GaugeValue, p.PfxRcd, vrf, afi, peer)
					ch <- prometheus.MustNewConstMetric(bgpSentDesc, prometheus.GaugeValue, p.PfxSnt, vrf, afi, peer)
				}
			}
		}
	}
	var peers []bfdPeer
	if c.showJSON(ctx, "show bfd peers json", &peers) {
		for _, p := range peers {
			ch <- prometheus.MustNewConstMetric(bfdUpDesc, prometheus.GaugeValue, boolFloat(p.Status == "up"),
				p.VRF, p.Peer, p.Local, p.Interface, p.Status)
		}
	}
	if !c.NoMetalLB {
		c.collectMetalLB(ctx, ch)
	}
}

// showJSON runs a show command; FRR down or no BGP instance means no
// samples, not a failed scrape.
func (c *FRRCollector) showJSON(ctx context.Context, cmd string, v any) bool {
	out, err := c.show(ctx, cmd)
	return err == nil && json.Unmarshal([]byte(out), v) == nil
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
