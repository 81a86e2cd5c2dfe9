package reloader

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BIRDCollector exports BGP and BFD state read from birdc at scrape time, the BIRD counterpart of
// FRRCollector.
type BIRDCollector struct {
	BIRD    *BIRD
	Timeout time.Duration
	// CacheFor is how long one birdc read serves scrapes (0 = DefaultShowCache, negative = none).
	CacheFor time.Duration
	// NoMetalLB leaves out the metallb_bgp_* and metallb_bfd_* series BIRD can give (see Collect).
	NoMetalLB bool

	cache showCache
}

// show runs a birdc show command through the cache.
func (c *BIRDCollector) show(ctx context.Context, args ...string) (string, error) {
	return c.cache.show(ctx, c.CacheFor, showArgs(args), func(ctx context.Context) (string, error) { return c.BIRD.Show(ctx, args...) })
}

var (
	birdBGPStateDesc = prometheus.NewDesc("routelb_bird_bgp_session_up",
		"1 if the BGP protocol is Established, else 0; state label holds BIRD's BGP state.",
		[]string{"protocol", "peer", "state"}, nil)
	birdBGPSentDesc = prometheus.NewDesc("routelb_bird_bgp_prefixes_sent",
		"Routes exported to the neighbour, per channel.", []string{"protocol", "peer", "channel"}, nil)
	birdBFDUpDesc = prometheus.NewDesc("routelb_bird_bfd_session_up",
		"1 if the BFD session is Up, else 0; state label holds BIRD's state.",
		[]string{"peer", "interface", "state"}, nil)
)

// Describe implements prometheus.Collector.
func (c *BIRDCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{birdBGPStateDesc, birdBGPSentDesc, birdBFDUpDesc} {
		ch <- d
	}
	if !c.NoMetalLB {
		ch <- mlbBGPUp
		ch <- mlbBGPPrefixes
		ch <- mlbBFDUp
	}
}

// Collect implements prometheus.Collector. BIRD down means no samples, not a failed scrape.
func (c *BIRDCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	if out, err := c.show(ctx, "show", "protocols", "all"); err == nil {
		protos := ParseBIRDProtocols(out)
		for _, p := range protos {
			ch <- prometheus.MustNewConstMetric(birdBGPStateDesc, prometheus.GaugeValue,
				boolFloat(p.State == "Established"), p.Name, p.Neighbor, p.State)
			for channel, n := range p.Exported {
				ch <- prometheus.MustNewConstMetric(birdBGPSentDesc, prometheus.GaugeValue, float64(n), p.Name, p.Neighbor, channel)
			}
		}
		if !c.NoMetalLB {
			collectMetalLBBIRD(ch, protos)
		}
	}
	if out, err := c.show(ctx, "show", "bfd", "sessions"); err == nil {
		seen := map[string]bool{}
		for _, s := range ParseBIRDBFDSessions(out) {
			ch <- prometheus.MustNewConstMetric(birdBFDUpDesc, prometheus.GaugeValue, boolFloat(s.State == "Up"),
				s.Peer, s.Interface, s.State)
			if !c.NoMetalLB && !seen[s.Peer] {
				// BIRD's BFD sessions table has no VRF column; routelb's BIRD mode peers in the default one.
				seen[s.Peer] = true
				ch <- prometheus.MustNewConstMetric(mlbBFDUp, prometheus.GaugeValue, boolFloat(s.State == "Up"), s.Peer, "default")
			}
		}
	}
}

// collectMetalLBBIRD emits the metallb_bgp_* series BIRD has the data for, with the FRR mode's
// labels: session_up and announced_prefixes_total (routes exported over every channel). The
// message counters (opens, updates, keepalives, notifications, route refreshes, totals) are not
// exported: birdc shows no per-session message counts. The peer is "ip:port" with the configured
// port (BIRD prints it only when not 179), not the connection's remote port as FRR's is.
func collectMetalLBBIRD(ch chan<- prometheus.Metric, protos []BIRDProtocol) {
	seen := map[[2]string]bool{}
	for _, p := range protos {
		if p.Neighbor == "" {
			continue
		}
		port := p.Port
		if port == 0 {
			port = 179
		}
		k := [2]string{net.JoinHostPort(strings.SplitN(p.Neighbor, "%", 2)[0], strconv.Itoa(port)), vrfOrDefault(p.VRF)}
		if seen[k] {
			continue
		}
		seen[k] = true
		sent := 0
		for _, n := range p.Exported {
			sent += n
		}
		ch <- prometheus.MustNewConstMetric(mlbBGPUp, prometheus.GaugeValue, boolFloat(p.State == "Established"), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(mlbBGPPrefixes, prometheus.GaugeValue, float64(sent), k[0], k[1])
	}
}

// BIRDProtocol is one BGP protocol of `show protocols all`.
type BIRDProtocol struct {
	Name      string
	VRF       string // "" is the default VRF
	State     string // BGP state: Established, Idle, Active, ...
	Neighbor  string
	Port      int // "Neighbor port:", printed only when not 179; 0 = not printed
	LastError string
	Exported  map[string]int // channel (ipv4, ipv6) -> routes exported
}

// ParseBIRDProtocols reads the BGP protocols out of `show protocols all` (reply codes stripped).
func ParseBIRDProtocols(out string) []BIRDProtocol {
	var ps []BIRDProtocol
	var cur *BIRDProtocol
	channel := ""
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			f := strings.Fields(line)
			cur = nil
			if len(f) >= 2 && f[1] == "BGP" {
				ps = append(ps, BIRDProtocol{Name: f[0], Exported: map[string]int{}})
				cur = &ps[len(ps)-1]
			}
			continue
		}
		if cur == nil {
			continue
		}
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "BGP state:"):
			cur.State = strings.TrimSpace(strings.TrimPrefix(t, "BGP state:"))
		case strings.HasPrefix(t, "Neighbor address:"):
			cur.Neighbor = strings.TrimSpace(strings.TrimPrefix(t, "Neighbor address:"))
		case strings.HasPrefix(t, "Neighbor port:"):
			cur.Port, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(t, "Neighbor port:")))
		case strings.HasPrefix(t, "Last error:"):
			cur.LastError = strings.TrimSpace(strings.TrimPrefix(t, "Last error:"))
		case strings.HasPrefix(t, "VRF:"):
			if v := strings.TrimSpace(strings.TrimPrefix(t, "VRF:")); v != "default" {
				cur.VRF = v
			}
		case strings.HasPrefix(t, "Channel "):
			channel = strings.TrimPrefix(t, "Channel ")
		case strings.HasPrefix(t, "Routes:") && channel != "":
			// "Routes:         0 imported, 1 exported, 0 preferred"
			f := strings.Fields(strings.ReplaceAll(t, ",", ""))
			for i := 1; i+1 < len(f); i++ {
				if f[i+1] == "exported" {
					if n, err := strconv.Atoi(f[i]); err == nil {
						cur.Exported[channel] = n
					}
				}
			}
		}
	}
	return ps
}

// BIRDBFDSession is one row of `show bfd sessions`.
type BIRDBFDSession struct{ Peer, Interface, State string }

// ParseBIRDBFDSessions reads `show bfd sessions` (reply codes stripped).
func ParseBIRDBFDSessions(out string) []BIRDBFDSession {
	var ss []BIRDBFDSession
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		if _, err := netip.ParseAddr(f[0]); err != nil {
			continue
		}
		ss = append(ss, BIRDBFDSession{Peer: f[0], Interface: f[1], State: f[2]})
	}
	return ss
}
