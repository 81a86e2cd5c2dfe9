package reloader

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// MetalLB's BGP and BFD metrics as its FRR mode's metrics sidecar exports them (frr-tools/metrics):
// the same names, types and labels (peer, vrf), and the same peer format, "ip:port" for BGP (port
// 0 while FRR knows no remote port) and the bare address for BFD. They come from FRR at scrape
// time, as there, so a removed neighbour's series vanish with it. One series per neighbour, not
// per address family as routelb_frr_bgp_session_up has, so MetalLB's session alert counts each
// session once.
var (
	mlbLabels = []string{"peer", "vrf"}

	mlbBGPUp       = mlbDesc("bgp", "session_up", "BGP session state (1 is up, 0 is down)")
	mlbBGPPrefixes = mlbDesc("bgp", "announced_prefixes_total", "Number of prefixes currently being advertised on the BGP session")
	mlbBGPCounters = []struct {
		desc  *prometheus.Desc
		value func(*mlbMsgStats) float64
	}{
		{mlbDesc("bgp", "opens_sent", "Number of BGP open messages sent"), func(m *mlbMsgStats) float64 { return m.OpensSent }},
		{mlbDesc("bgp", "opens_received", "Number of BGP open messages received"), func(m *mlbMsgStats) float64 { return m.OpensRecv }},
		{mlbDesc("bgp", "notifications_sent", "Number of BGP notification messages sent"), func(m *mlbMsgStats) float64 { return m.NotificationsSent }},
		{mlbDesc("bgp", "updates_total", "Number of BGP UPDATE messages sent"), func(m *mlbMsgStats) float64 { return m.UpdatesSent }},
		{mlbDesc("bgp", "updates_total_received", "Number of BGP UPDATE messages received"), func(m *mlbMsgStats) float64 { return m.UpdatesRecv }},
		{mlbDesc("bgp", "keepalives_sent", "Number of BGP keepalive messages sent"), func(m *mlbMsgStats) float64 { return m.KeepalivesSent }},
		{mlbDesc("bgp", "keepalives_received", "Number of BGP keepalive messages received"), func(m *mlbMsgStats) float64 { return m.KeepalivesRecv }},
		{mlbDesc("bgp", "route_refresh_sent", "Number of BGP route refresh messages sent"), func(m *mlbMsgStats) float64 { return m.RouteRefreshSent }},
		{mlbDesc("bgp", "total_sent", "Number of total BGP messages sent"), func(m *mlbMsgStats) float64 { return m.TotalSent }},
		{mlbDesc("bgp", "total_received", "Number of total BGP messages received"), func(m *mlbMsgStats) float64 { return m.TotalRecv }},
	}

	mlbBFDUp       = mlbDesc("bfd", "session_up", "BFD session state (1 is up, 0 is down)")
	mlbBFDCounters = []struct {
		desc  *prometheus.Desc
		value func(*mlbBFDCounts) float64
	}{
		{mlbDesc("bfd", "control_packet_input", "Number of received BFD control packets"), func(c *mlbBFDCounts) float64 { return c.ControlIn }},
		{mlbDesc("bfd", "control_packet_output", "Number of sent BFD control packets"), func(c *mlbBFDCounts) float64 { return c.ControlOut }},
		{mlbDesc("bfd", "echo_packet_input", "Number of received BFD echo packets"), func(c *mlbBFDCounts) float64 { return c.EchoIn }},
		{mlbDesc("bfd", "echo_packet_output", "Number of sent BFD echo packets"), func(c *mlbBFDCounts) float64 { return c.EchoOut }},
		{mlbDesc("bfd", "session_up_events", "Number of BFD session up events"), func(c *mlbBFDCounts) float64 { return c.UpEvents }},
		{mlbDesc("bfd", "session_down_events", "Number of BFD session down events"), func(c *mlbBFDCounts) float64 { return c.DownEvents }},
		{mlbDesc("bfd", "zebra_notifications", "Number of BFD zebra notifications"), func(c *mlbBFDCounts) float64 { return c.Zebra }},
	}
)

func mlbDesc(subsystem, name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("metallb", subsystem, name), help, mlbLabels, nil)
}

func describeMetalLB(ch chan<- *prometheus.Desc) {
	ch <- mlbBGPUp
	ch <- mlbBGPPrefixes
	for _, c := range mlbBGPCounters {
		ch <- c.desc
	}
	ch <- mlbBFDUp
	for _, c := range mlbBFDCounters {
		ch <- c.desc
	}
}

type mlbMsgStats struct {
	OpensSent         float64 `json:"opensSent"`
	OpensRecv         float64 `json:"opensRecv"`
	NotificationsSent float64 `json:"notificationsSent"`
	UpdatesSent       float64 `json:"updatesSent"`
	UpdatesRecv       float64 `json:"updatesRecv"`
	KeepalivesSent    float64 `json:"keepalivesSent"`
	KeepalivesRecv    float64 `json:"keepalivesRecv"`
	RouteRefreshSent  float64 `json:"routeRefreshSent"`
	TotalSent         float64 `json:"totalSent"`
	TotalRecv         float64 `json:"totalRecv"`
}

type mlbNeighbor struct {
	BGPState    string      `json:"bgpState"`
	PortForeign int         `json:"portForeign"`
	MsgStats    mlbMsgStats `json:"messageStats"`
	AFI         map[string]struct {
		SentPrefixCounter float64 `json:"sentPrefixCounter"`
	} `json:"addressFamilyInfo"`
}

// mlbBFDCounts is one peer of `show bfd peers counters json`.
type mlbBFDCounts struct {
	Peer       string  `json:"peer"`
	VRF        string  `json:"vrf"`
	ControlIn  float64 `json:"control-packet-input"`
	ControlOut float64 `json:"control-packet-output"`
	EchoIn     float64 `json:"echo-packet-input"`
	EchoOut    float64 `json:"echo-packet-output"`
	UpEvents   float64 `json:"session-up"`
	DownEvents float64 `json:"session-down"`
	Zebra      float64 `json:"zebra-notifications"`
}

// collectMetalLB emits MetalLB's series; FRR down means no samples, as for routelb's own.
func (c *FRRCollector) collectMetalLB(ctx context.Context, ch chan<- prometheus.Metric) {
	if out, err := c.show(ctx, "show bgp vrf all neighbors json"); err == nil {
		if ns, err := parseMetalLBNeighbors([]byte(out)); err == nil {
			for _, n := range ns {
				emitMetalLBNeighbor(ch, n)
			}
		}
	}
	var peers []bfdPeer
	if !c.showJSON(ctx, "show bfd peers json", &peers) {
		return
	}
	seen := map[[2]string]bool{}
	for _, p := range peers {
		k := [2]string{p.Peer, vrfOrDefault(p.VRF)}
		if seen[k] {
			continue // MetalLB's labels cannot tell two sessions with one peer apart; keep the first
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(mlbBFDUp, prometheus.GaugeValue, boolFloat(p.Status == "up"), k[0], k[1])
	}
	var counts []mlbBFDCounts
	if !c.showJSON(ctx, "show bfd peers counters json", &counts) {
		return
	}
	seen = map[[2]string]bool{}
	for i := range counts {
		k := [2]string{counts[i].Peer, vrfOrDefault(counts[i].VRF)}
		if seen[k] {
			continue
		}
		seen[k] = true
		for _, m := range mlbBFDCounters {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, m.value(&counts[i]), k[0], k[1])
		}
	}
}

func vrfOrDefault(v string) string {
	if v == "" {
		return "default"
	}
	return v
}

type mlbPeer struct {
	peer, vrf string
	n         mlbNeighbor
}

// parseMetalLBNeighbors reads `show bgp vrf all neighbors json`: vrf -> neighbour -> fields, beside
// the VRF's own vrfId and vrfName (not objects of a neighbour, so skipped).
func parseMetalLBNeighbors(out []byte) ([]mlbPeer, error) {
	var vrfs map[string]map[string]json.RawMessage
	if err := json.Unmarshal(out, &vrfs); err != nil {
		return nil, fmt.Errorf("parsing show bgp vrf all neighbors json: %w", err)
	}
	var ps []mlbPeer
	for vrf, fields := range vrfs {
		for peer, raw := range fields {
			var n mlbNeighbor
			if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &n) != nil || n.BGPState == "" {
				continue
			}
			ps = append(ps, mlbPeer{peer: fmt.Sprintf("%s:%d", peer, n.PortForeign), vrf: vrf, n: n})
		}
	}
	return ps, nil
}

func emitMetalLBNeighbor(ch chan<- prometheus.Metric, p mlbPeer) {
	var sent float64
	for _, a := range p.n.AFI {
		sent += a.SentPrefixCounter
	}
	ch <- prometheus.MustNewConstMetric(mlbBGPUp, prometheus.GaugeValue, boolFloat(p.n.BGPState == "Established"), p.peer, p.vrf)
	ch <- prometheus.MustNewConstMetric(mlbBGPPrefixes, prometheus.GaugeValue, sent, p.peer, p.vrf)
	for _, m := range mlbBGPCounters {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, m.value(&p.n.MsgStats), p.peer, p.vrf)
	}
}
