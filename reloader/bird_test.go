package reloader

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/netlab"
)

const birdRouterConf = `frr defaults traditional
router bgp 64512
 no bgp ebgp-requires-policy
 bgp router-id 198.51.100.1
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 timers 3 9
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
exit
`

// birdNodeConf announces 203.0.113.N/32 for each n to the router. The 9 s hold time (not 3) keeps a
// loaded test machine from dropping the session, which would count as a reset by the churn check.
func birdNodeConf(vips ...int) string {
	var routes strings.Builder
	for _, n := range vips {
		fmt.Fprintf(&routes, "  route 203.0.113.%d/32 blackhole;\n", n)
	}
	return `router id 198.51.100.11;
log stderr all;
protocol device 'routelb_device' {
}
protocol static vips {
  ipv4 { import all; export none; };
` + routes.String() + `}
protocol bgp tor {
  local as 64513;
  neighbor 198.51.100.1 as 64512;
  hold time 9;
  keepalive time 3;
  error wait time 1, 10;
  ipv4 { import none; export all; next hop self; };
}
`
}

// TestBIRDReloader runs the BIRD mode of the reloader against a real BIRD peering with an FRR
// router: it applies the file at start and on changes (VIPs come and go without resetting the
// session), refuses an invalid file and keeps the last good one in the file BIRD runs, re-applies
// after a BIRD restart and after a configure that was not its own, and exports session metrics.
func TestBIRDReloader(t *testing.T) {
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24")
	rh := lab.AddHost("router", "198.51.100.1/24")
	nh := lab.AddHost("node", "198.51.100.11/24")
	router := lab.StartFRR(rh, "router", birdRouterConf)
	node := lab.StartBIRD(nh, "node", "")

	dir := t.TempDir()
	rendered := filepath.Join(dir, "bird.conf")
	write := func(s string) {
		t.Helper()
		if err := daemonfile.WriteFile(rendered, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write(birdNodeConf(1))
	bird := &BIRD{Bird: "bird", Birdc: "birdc", Socket: node.Socket}
	results := make(chan Result, 100)
	var reasonsMu sync.Mutex
	var reasons []string // why each apply happened, from the status file written just before OnApply
	r := &BIRDReloader{ConfigPath: rendered, Debounce: 50 * time.Millisecond, Poll: 200 * time.Millisecond,
		Log: testr.New(t), OnApply: func(res Result) {
			var st daemonfile.Status
			b, _ := os.ReadFile(filepath.Join(dir, daemonfile.StatusFile))
			_ = json.Unmarshal(b, &st)
			reasonsMu.Lock()
			reasons = append(reasons, st.Reason)
			reasonsMu.Unlock()
			results <- res
		},
		Sessions: &SessionReporter{Read: ReadBIRDSessions(bird), Interval: 200 * time.Millisecond, Log: testr.New(t)},
		Applier:  &BIRDApplier{BIRD: bird, ConfigPath: node.ConfPath, Scratch: t.TempDir(), Log: testr.New(t)}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	waitOutcome(t, results, OutcomeApplied)
	if st := readStatus(t, dir); st.Reason != "start" || st.AppliedSHA256 != Hash([]byte(birdNodeConf(1))) {
		t.Errorf("status after start: %+v", st)
	}
	router.WaitEstablished("198.51.100.11", 60*time.Second)
	waitRoute(t, lab, rh, "203.0.113.1", true)
	established := connectionsEstablished(t, router)
	// sessions.json, which the speaker publishes in the BGPPeer's status, as in FRR mode.
	lab.Eventually(30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dir, daemonfile.SessionsFile))
		if err != nil {
			return err
		}
		var doc daemonfile.Sessions
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		if len(doc.Sessions) != 1 || doc.Sessions[0].Neighbor != "198.51.100.1" || doc.Sessions[0].State != "Established" ||
			doc.Sessions[0].PrefixesSent != 1 || doc.Error != "" {
			return fmt.Errorf("sessions.json: %s", b)
		}
		return nil
	})

	// VIPs come and go: BIRD re-exports, the session stays.
	write(birdNodeConf(1, 2))
	waitOutcome(t, results, OutcomeApplied)
	waitRoute(t, lab, rh, "203.0.113.2", true)
	write(birdNodeConf(2))
	waitOutcome(t, results, OutcomeApplied)
	waitRoute(t, lab, rh, "203.0.113.1", false)
	if n := connectionsEstablished(t, router); n != established {
		t.Errorf("adding and removing VIPs reset the session: established %d -> %d times", established, n)
	}

	// An invalid file is refused; BIRD's own file keeps the last good config.
	write(birdNodeConf(2) + "protocol nonsense {}\n")
	res := waitOutcome(t, results, OutcomeInvalid)
	if !strings.Contains(res.Err.Error(), "bird -p") {
		t.Errorf("invalid config error does not come from BIRD's parser: %v", res.Err)
	}
	if b, _ := os.ReadFile(node.ConfPath); string(b) != birdNodeConf(2) {
		t.Errorf("BIRD's config file changed after a refused config:\n%s", b)
	}
	if st := readStatus(t, dir); st.Result != OutcomeInvalid || st.AppliedSHA256 != Hash([]byte(birdNodeConf(2))) {
		t.Errorf("status after an invalid file: %+v", st)
	}
	running, _ := os.ReadFile(filepath.Join(dir, daemonfile.RunningFile))
	if string(running) != birdNodeConf(2) {
		t.Errorf("running.conf is not the last good config:\n%s", running)
	}

	// BIRD restarts (with the last good file, which is all it can read): noticed, re-applied.
	if err := node.Kill(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutcome(t, results, OutcomeApplied)
	if st := readStatus(t, dir); st.Reason != "bird-restart" {
		t.Errorf("status after a BIRD restart: %+v", st)
	}
	write(birdNodeConf(3))
	waitOutcome(t, results, OutcomeApplied)
	waitRoute(t, lab, rh, "203.0.113.3", true)

	// Our own configures, however fast they follow each other, never look like someone else's.
	time.Sleep(3 * r.Poll)
	reasonsMu.Lock()
	if slices.Contains(reasons, "drift") {
		t.Errorf("the reloader took its own configure for someone else's: apply reasons %q", reasons)
	}
	reasonsMu.Unlock()

	// Someone configures BIRD by hand with another file: the reloader puts its own back.
	other := filepath.Join(t.TempDir(), "other.conf")
	if err := os.WriteFile(other, []byte(birdNodeConf()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bird.Configure(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	waitOutcome(t, results, OutcomeApplied)
	if st := readStatus(t, dir); st.Reason != "drift" {
		t.Errorf("status after a foreign configure: %+v", st)
	}
	waitRoute(t, lab, rh, "203.0.113.3", true)

	// Metrics read from birdc.
	lab.Eventually(30*time.Second, func() error {
		m := gatherBIRD(t, bird)
		if m[`routelb_bird_bgp_session_up{peer="198.51.100.1",protocol="tor",state="Established"}`] != 1 ||
			m[`routelb_bird_bgp_prefixes_sent{channel="ipv4",peer="198.51.100.1",protocol="tor"}`] != 1 {
			return fmt.Errorf("metrics: %v", m)
		}
		return nil
	})
}

func waitOutcome(t *testing.T, results <-chan Result, want string) Result {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case res := <-results:
			if res.Outcome == want {
				return res
			}
			t.Logf("apply outcome %s (%v), waiting for %s", res.Outcome, res.Err, want)
		case <-timeout:
			t.Fatalf("no %s apply in 30s", want)
		}
	}
}

// waitRoute waits until the router's kernel has (or has not) a route to vip.
func waitRoute(t *testing.T, lab *netlab.Lab, h *netlab.Host, vip string, present bool) {
	t.Helper()
	lab.Eventually(30*time.Second, func() error {
		out, err := h.Run("ip", "route", "show", vip+"/32")
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(out) != ""; got != present {
			return fmt.Errorf("route to %s present=%v, want %v: %q", vip, got, present, out)
		}
		return nil
	})
}

func connectionsEstablished(t *testing.T, f *netlab.FRR) int {
	t.Helper()
	out := f.MustVtysh("show bgp neighbors 198.51.100.11 json")
	var ns map[string]struct {
		Established int `json:"connectionsEstablished"`
	}
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return ns["198.51.100.11"].Established
}

// gatherBIRD collects BIRDCollector's samples as "name{labels}" -> value.
func gatherBIRD(t *testing.T, b *BIRD) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(&BIRDCollector{BIRD: b, Timeout: 5 * time.Second})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			out[f.GetName()+labelString(m.GetLabel())] = m.GetGauge().GetValue()
		}
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestBIRDReplyParsing(t *testing.T) {
	protos := ParseBIRDProtocols(`Name       Proto      Table      State  Since         Info
device1    Device     ---        up     12:40:52.344
rlb_tor-a  BGP        ---        up     12:40:52.344  Established
  Description:    tor-a
  BGP state:          Established
    Neighbor address: 198.51.100.1
    Neighbor AS:      64512
    Last error:       Error: BFD session down
  Channel ipv4
    State:          UP
    Routes:         0 imported, 2 exported, 0 preferred
  Channel ipv6
    State:          UP
    Routes:         0 imported, 1 exported, 0 preferred
`)
	if len(protos) != 1 || protos[0].Name != "rlb_tor-a" || protos[0].State != "Established" || protos[0].LastError != "Error: BFD session down" ||
		protos[0].Neighbor != "198.51.100.1" || protos[0].Exported["ipv4"] != 2 || protos[0].Exported["ipv6"] != 1 {
		t.Errorf("ParseBIRDProtocols: %+v", protos)
	}
	bfd := ParseBIRDBFDSessions("routelb_bfd:\nIP address                Interface  State      Since         Interval  Timeout\n198.51.100.1              eth0       Up         12:00:00.000    0.300    0.900\n")
	if len(bfd) != 1 || bfd[0] != (BIRDBFDSession{Peer: "198.51.100.1", Interface: "eth0", State: "Up"}) {
		t.Errorf("ParseBIRDBFDSessions: %+v", bfd)
	}
	now := time.Unix(1000, 0)
	ss := BIRDSessions(protos, bfd, now)
	want := daemonfile.Session{Neighbor: "198.51.100.1", State: "Established", BFDState: "up", PrefixesSent: 3, LastError: "Error: BFD session down", Since: now}
	if len(ss) != 1 || ss[0] != want {
		t.Errorf("BIRDSessions: %+v, want %+v", ss, want)
	}
}
