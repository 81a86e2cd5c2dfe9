package reloader

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/routelb/routelb/internal/netlab"
)

// mlbFamilies is every MetalLB FRR-mode family the collector serves, with MetalLB's type.
var mlbFamilies = map[string]dto.MetricType{
	"metallb_bgp_session_up": dto.MetricType_GAUGE, "metallb_bgp_announced_prefixes_total": dto.MetricType_GAUGE,
	"metallb_bgp_opens_sent": dto.MetricType_COUNTER, "metallb_bgp_opens_received": dto.MetricType_COUNTER,
	"metallb_bgp_notifications_sent": dto.MetricType_COUNTER, "metallb_bgp_updates_total": dto.MetricType_COUNTER,
	"metallb_bgp_updates_total_received": dto.MetricType_COUNTER, "metallb_bgp_keepalives_sent": dto.MetricType_COUNTER,
	"metallb_bgp_keepalives_received": dto.MetricType_COUNTER, "metallb_bgp_route_refresh_sent": dto.MetricType_COUNTER,
	"metallb_bgp_total_sent": dto.MetricType_COUNTER, "metallb_bgp_total_received": dto.MetricType_COUNTER,
	"metallb_bfd_session_up": dto.MetricType_GAUGE, "metallb_bfd_control_packet_input": dto.MetricType_COUNTER,
	"metallb_bfd_control_packet_output": dto.MetricType_COUNTER, "metallb_bfd_echo_packet_input": dto.MetricType_COUNTER,
	"metallb_bfd_echo_packet_output": dto.MetricType_COUNTER, "metallb_bfd_session_up_events": dto.MetricType_COUNTER,
	"metallb_bfd_session_down_events": dto.MetricType_COUNTER, "metallb_bfd_zebra_notifications": dto.MetricType_COUNTER,
}

// mlbSamples gathers reg into name -> `peer|vrf` -> value, failing on a wrong type or label set.
func mlbSamples(t *testing.T, reg *prometheus.Registry) map[string]map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]map[string]float64{}
	for _, mf := range mfs {
		typ, ok := mlbFamilies[mf.GetName()]
		if !ok {
			continue
		}
		if mf.GetType() != typ {
			t.Errorf("%s is a %v, MetalLB's is a %v", mf.GetName(), mf.GetType(), typ)
		}
		out[mf.GetName()] = map[string]float64{}
		for _, m := range mf.GetMetric() {
			var names []string
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				names = append(names, lp.GetName())
				l[lp.GetName()] = lp.GetValue()
			}
			sort.Strings(names)
			if strings.Join(names, ",") != "peer,vrf" {
				t.Errorf("%s has labels %v, MetalLB's are peer,vrf", mf.GetName(), names)
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[mf.GetName()][l["peer"]+"|"+l["vrf"]] = v
		}
	}
	return out
}

// TestMetalLBFRRMetrics scrapes the collector against a real FRR: the good session up with BFD and
// its one prefix, the wrong-AS one down, each in MetalLB's peer format; then the router shuts the
// good session and it reads down, and a neighbour removed from the config loses its series.
func TestMetalLBFRRMetrics(t *testing.T) {
	netlab.ForEachFRR(t, metallbFRRMetrics)
}

func metallbFRRMetrics(t *testing.T, v *netlab.FRRVersion) {
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24", "198.18.0.0/15")
	rh := lab.AddHost("router", "198.51.100.1/24", "2001:db8::1/64")
	nh := lab.AddHost("node", "198.51.100.11/24", "2001:db8::11/64")
	router := lab.StartFRR(rh, "router", sessionsRouterConf)
	node := lab.StartFRRVersion(v, nh, "node", "")
	frr := reloaderFRR(node)
	ap := &Applier{FRR: frr, Scratch: node.ScratchDir(), Log: testr.New(t)}
	apply := func(cfg string) {
		t.Helper()
		if res := ap.Apply(context.Background(), []byte(cfg)); res.Err != nil {
			t.Fatalf("apply: %s: %v", res.Outcome, res.Err)
		}
	}
	apply(sessionsNodeConf(true))
	reg := prometheus.NewRegistry()
	reg.MustRegister(&FRRCollector{FRR: frr, Timeout: 10 * time.Second})

	// The port in MetalLB's peer label is the connection's remote port (portForeign): 179 when the
	// node connected, the router's ephemeral port when the router did. Either may win the race.
	const bfdPeer = "198.51.100.1|default"
	var good string
	var s map[string]map[string]float64
	lab.Eventually(60*time.Second, func() error {
		s = mlbSamples(t, reg)
		good = peerKey(s["metallb_bgp_session_up"], "198.51.100.1:")
		for name := range mlbFamilies {
			if len(s[name]) == 0 {
				return fmt.Errorf("no %s series yet", name)
			}
		}
		if s["metallb_bgp_session_up"][good] != 1 || s["metallb_bgp_announced_prefixes_total"][good] != 1 ||
			s["metallb_bfd_session_up"][bfdPeer] != 1 {
			return fmt.Errorf("good session not up with BFD and 1 prefix: %v %v %v", s["metallb_bgp_session_up"],
				s["metallb_bgp_announced_prefixes_total"], s["metallb_bfd_session_up"])
		}
		if v, ok := downV6(s["metallb_bgp_session_up"]); !ok || v != 0 {
			return fmt.Errorf("wrong-AS session not reported down: %v", s["metallb_bgp_session_up"])
		}
		return nil
	})
	for _, name := range []string{"metallb_bgp_opens_sent", "metallb_bgp_opens_received", "metallb_bgp_updates_total",
		"metallb_bgp_keepalives_sent", "metallb_bgp_keepalives_received", "metallb_bgp_total_sent", "metallb_bgp_total_received"} {
		if s[name][good] < 1 {
			t.Errorf("%s of the established session is %v", name, s[name][good])
		}
	}
	if s["metallb_bfd_control_packet_input"][bfdPeer] < 1 || s["metallb_bfd_session_up_events"][bfdPeer] < 1 {
		t.Errorf("BFD counters of an up session: in %v, up events %v", s["metallb_bfd_control_packet_input"][bfdPeer],
			s["metallb_bfd_session_up_events"][bfdPeer])
	}
	t.Logf("metallb_bgp_session_up: %v", s["metallb_bgp_session_up"])

	if out, err := router.Vtysh("-c", "configure terminal", "-c", "router bgp 64512", "-c", "neighbor 198.51.100.11 shutdown"); err != nil {
		t.Fatalf("shutting the router's side: %v\n%s", err, out)
	}
	lab.Eventually(60*time.Second, func() error {
		s = mlbSamples(t, reg)
		up := s["metallb_bgp_session_up"]
		for k, v := range up {
			if strings.HasPrefix(k, "198.51.100.1:") && v == 0 {
				return nil
			}
		}
		return fmt.Errorf("session still up after the router shut it: %v", up)
	})

	apply(sessionsNodeConf(false))
	lab.Eventually(60*time.Second, func() error {
		s = mlbSamples(t, reg)
		if _, ok := downV6(s["metallb_bgp_session_up"]); ok {
			return fmt.Errorf("removed neighbour still has a series: %v", s["metallb_bgp_session_up"])
		}
		return nil
	})
}

// peerKey is the series key of the neighbour whose peer label starts with prefix ("" if none).
func peerKey(up map[string]float64, prefix string) string {
	for k := range up {
		if strings.HasPrefix(k, prefix) {
			return k
		}
	}
	return ""
}

// downV6 is the wrong-AS IPv6 neighbour's value, whatever port FRR knows for it.
func downV6(up map[string]float64) (float64, bool) {
	for k, v := range up {
		if strings.HasPrefix(k, "2001:db8::1:") && strings.HasSuffix(k, "|default") {
			return v, true
		}
	}
	return 0, false
}

// TestParseMetalLBNeighbors: a VRF's own vrfId and vrfName are not neighbours, every VRF's
// neighbours are, and the prefixes sent add up over the address families.
func TestParseMetalLBNeighbors(t *testing.T) {
	out := `{"default":{"vrfId":0,"vrfName":"default",
	  "198.51.100.1":{"bgpState":"Established","portForeign":179,"messageStats":{"opensSent":1,"updatesSent":3},
	    "addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":2},"ipv6Unicast":{"sentPrefixCounter":1}}}},
	 "red":{"vrfId":5,"vrfName":"red","2001:db8::1":{"bgpState":"Active"}}}`
	ps, err := parseMetalLBNeighbors([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].peer < ps[j].peer })
	if len(ps) != 2 {
		t.Fatalf("neighbours %+v, want 2", ps)
	}
	if ps[0].peer != "198.51.100.1:179" || ps[0].vrf != "default" || ps[0].n.MsgStats.UpdatesSent != 3 {
		t.Errorf("first: %+v", ps[0])
	}
	if ps[1].peer != "2001:db8::1:0" || ps[1].vrf != "red" || ps[1].n.BGPState != "Active" {
		t.Errorf("second: %+v", ps[1])
	}
	ch := make(chan prometheus.Metric, 20)
	emitMetalLBNeighbor(ch, ps[0])
	close(ch)
	var m dto.Metric
	for mt := range ch {
		if strings.Contains(mt.Desc().String(), `"metallb_bgp_announced_prefixes_total"`) {
			if err := mt.Write(&m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if m.GetGauge().GetValue() != 3 {
		t.Errorf("announced prefixes %v, want 2+1", m.GetGauge().GetValue())
	}
	if _, err := parseMetalLBNeighbors([]byte("% BGP is not running")); err == nil {
		t.Error("vtysh's text refusal parsed as neighbours")
	}
}

// TestNoMetalLB: the option leaves MetalLB's families out of the collector entirely.
func TestNoMetalLB(t *testing.T) {
	count := func(c *FRRCollector) int {
		ch := make(chan *prometheus.Desc, 100)
		c.Describe(ch)
		close(ch)
		n := 0
		for d := range ch {
			if strings.Contains(d.String(), `"metallb_`) {
				n++
			}
		}
		return n
	}
	if n := count(&FRRCollector{}); n != len(mlbFamilies) {
		t.Errorf("by default %d metallb_ families described, want %d", n, len(mlbFamilies))
	}
	if n := count(&FRRCollector{NoMetalLB: true}); n != 0 {
		t.Errorf("NoMetalLB still describes %d metallb_ families", n)
	}
}

// TestScrapesShareOneCLIRead: scrapes within the cache interval, sequential or concurrent, fork the
// daemon's CLI once per command; after the interval it is read again, and with the cache off every
// scrape reads. Counted on real vtysh calls, through a wrapper that logs each one.
func TestScrapesShareOneCLIRead(t *testing.T) {
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		lab := netlab.New(t)
		node := lab.StartFRRVersion(v, lab.AddHost("node", "198.51.100.11/24"), "node", "")
		frr := reloaderFRR(node)
		dir := t.TempDir()
		logFile := filepath.Join(dir, "calls")
		wrapper := filepath.Join(dir, "vtysh")
		script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %q\nexec %q \"$@\"\n", logFile, frr.Vtysh)
		if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		frr.Vtysh = wrapper
		calls := func() map[string]int {
			b, _ := os.ReadFile(logFile)
			out := map[string]int{}
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if i := strings.Index(l, "-c "); i >= 0 {
					out[l[i+3:]]++
				}
			}
			return out
		}
		clock := time.Now()
		c := &FRRCollector{FRR: frr, Timeout: 10 * time.Second}
		c.cache.now = func() time.Time { return clock }
		reg := prometheus.NewRegistry()
		reg.MustRegister(c)
		gather := func() {
			if _, err := reg.Gather(); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			gather()
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(gather)
		}
		wg.Wait()
		want := []string{"show bgp vrf all summary json", "show bfd peers json", "show bgp vrf all neighbors json",
			"show bfd peers counters json"}
		check := func(when string, n int) {
			t.Helper()
			got := calls()
			for _, cmd := range want {
				if got[cmd] != n {
					t.Errorf("%s: %q ran %d times, want %d (all calls: %v)", when, cmd, got[cmd], n, got)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%s: commands %v, want only %v", when, got, want)
			}
		}
		check("7 scrapes in one interval", 1)
		clock = clock.Add(DefaultShowCache)
		gather()
		gather()
		check("2 scrapes in the next interval", 2)

		c.CacheFor = -1
		gather()
		got := calls()
		// Uncached, routelb's and MetalLB's BFD series each read `show bfd peers json`.
		if got["show bgp vrf all summary json"] != 3 || got["show bfd peers json"] != 4 {
			t.Errorf("uncached scrape: calls %v", got)
		}
	})
}

// TestShowCacheKeepsErrors: a daemon that is down is asked once per interval too, not on every
// scrape, and its error is what every scrape in the interval sees.
func TestShowCacheKeepsErrors(t *testing.T) {
	clock := time.Unix(0, 0)
	s := showCache{now: func() time.Time { return clock }}
	n := 0
	run := func(context.Context) (string, error) { n++; return "", fmt.Errorf("vtysh: connection refused %d", n) }
	for range 3 {
		if _, err := s.show(context.Background(), time.Second, "show x", run); err == nil || !strings.HasSuffix(err.Error(), " 1") {
			t.Fatalf("cached error: %v", err)
		}
	}
	clock = clock.Add(time.Second)
	if _, err := s.show(context.Background(), time.Second, "show x", run); err == nil || n != 2 {
		t.Fatalf("after the interval: err %v, %d runs", err, n)
	}
	if _, err := s.show(context.Background(), time.Second, "show y", run); err == nil || n != 3 {
		t.Fatalf("another command: err %v, %d runs", err, n)
	}
}

const mlbBIRDRouterConf = `frr defaults traditional
router bgp 64512
 no bgp ebgp-requires-policy
 bgp router-id 198.51.100.1
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 timers 3 9
exit
`

const mlbBIRDNodeConf = `router id 198.51.100.11;
protocol device 'routelb_device' {
}
protocol static vips {
  ipv4 { import all; export none; };
  route 203.0.113.1/32 blackhole;
  route 203.0.113.2/32 blackhole;
}
protocol bgp tor {
  local as 64513;
  neighbor 198.51.100.1 as 64512;
  hold time 9;
  keepalive time 3;
  error wait time 1, 10;
  ipv4 { import none; export all; next hop self; };
}
`

// TestMetalLBBIRDMetrics: in BIRD mode the metallb_bgp_* series BIRD has data for carry the FRR
// mode's names and labels and follow the session (up with two prefixes, down when the router shuts
// it), the ones it has none for are absent, and a burst of scrapes runs birdc once per command.
func TestMetalLBBIRDMetrics(t *testing.T) {
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24")
	rh := lab.AddHost("router", "198.51.100.1/24")
	nh := lab.AddHost("node", "198.51.100.11/24")
	router := lab.StartFRR(rh, "router", mlbBIRDRouterConf)
	node := lab.StartBIRD(nh, "node", mlbBIRDNodeConf)

	dir := t.TempDir()
	logFile, wrapper := filepath.Join(dir, "calls"), filepath.Join(dir, "birdc")
	real, err := exec.LookPath("birdc")
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %q\nexec %q \"$@\"\n", logFile, real)
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	c := &BIRDCollector{BIRD: &BIRD{Bird: "bird", Birdc: wrapper, Socket: node.Socket}, Timeout: 5 * time.Second, CacheFor: -1}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	const peer = "198.51.100.1:179|default"
	lab.Eventually(60*time.Second, func() error {
		s := mlbSamples(t, reg)
		if s["metallb_bgp_session_up"][peer] != 1 || s["metallb_bgp_announced_prefixes_total"][peer] != 2 {
			return fmt.Errorf("session not up with 2 prefixes: %v", s)
		}
		for name := range mlbFamilies {
			has := len(s[name]) > 0
			if want := name == "metallb_bgp_session_up" || name == "metallb_bgp_announced_prefixes_total"; has != want {
				return fmt.Errorf("%s: series present %v, want %v", name, has, want)
			}
		}
		return nil
	})

	// A burst of scrapes, cached: birdc once per command.
	_ = os.Remove(logFile)
	c.CacheFor = time.Hour
	for range 5 {
		mlbSamples(t, reg)
	}
	b, _ := os.ReadFile(logFile)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 {
		t.Errorf("5 cached scrapes ran birdc %d times: %q", len(lines), lines)
	}
	c.CacheFor = -1

	if out, err := router.Vtysh("-c", "configure terminal", "-c", "router bgp 64512", "-c", "neighbor 198.51.100.11 shutdown"); err != nil {
		t.Fatalf("shutting the router's side: %v\n%s", err, out)
	}
	lab.Eventually(60*time.Second, func() error {
		if v := mlbSamples(t, reg)["metallb_bgp_session_up"][peer]; v != 0 {
			return fmt.Errorf("session_up %v after the router shut the session", v)
		}
		return nil
	})
}
