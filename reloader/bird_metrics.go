package reloader

import (
	"context"
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
}

// Collect implements prometheus.Collector. BIRD down means no samples, not a failed scrape.
func (c *BIRDCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	if out, err := c.BIRD.Show(ctx, "show", "protocols", "all"); err == nil {
		for _, p := range ParseBIRDProtocols(out) {
			ch <- prometheus.MustNewConstMetric(birdBGPStateDesc, prometheus.GaugeValue,
				boolFloat(p.State == "Established"), p.Name, p.Neighbor, p.State)
			for channel, n := range p.Exported {
				ch <- prometheus.MustNewConstMetric(birdBGPSentDesc, prometheus.GaugeValue, float64(n), p.Name, p.Neighbor, channel)
			}
		}
	}
	if out, err := c.BIRD.Show(ctx, "show", "bfd", "sessions"); err == nil {
		for _, s := range ParseBIRDBFDSessions(out) {
			ch <- prometheus.MustNewConstMetric(birdBFDUpDesc, prometheus.GaugeValue, boolFloat(s.State == "Up"),
				s.Peer, s.Interface, s.State)
		}
	}
}

// BIRDProtocol is one BGP protocol of `show protocols all`.
type BIRDProtocol struct {
	Name      string
	VRF       string // "" is the default VRF
	State     string // BGP state: Established, Idle, Active, ...
	Neighbor  string
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
