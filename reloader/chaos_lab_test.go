package reloader_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/templatetest"
	"github.com/routelb/routelb/reloader"
	"github.com/routelb/routelb/reloader/frr"
)

// chaosKills is how many times each daemon is killed. make test runs 5, which keeps its warm run
// within CI's budget (20 took about 11 of the reloader package's 15 minutes); make bench runs issue 18's
// bar of 20 (hack/bench.sh), and a failure seen there is reproduced here with -chaos-kills.
var chaosKills = flag.Int("chaos-kills", 5, "kill -9 rounds per daemon in TestRestartChaos")

const chaosVIPs = 11

// chaosObjects is a node peering with one router with a password, BFD and communities (so the
// rendered file has route-maps, community lists and a BFD profile), announcing 11 Services.
func chaosObjects() string {
	docs := []string{templatetest.Node("node1", ""), templatetest.Pool("203.0.113.0/24"), templatetest.FastBFD,
		templatetest.Peer("router", `peerAddress: 198.51.100.1, bfdProfile: fast, holdTime: 9s, keepaliveTime: 3s, password: 's3!cret'`),
		templatetest.Advertisement(`communities: ["64512:100", "large:64512:1:2"]`)}
	for i := range chaosVIPs {
		docs = append(docs, templatetest.Service(fmt.Sprintf("svc%d", i), chaosVIP(i)))
	}
	return templatetest.Objects(docs...)
}

func chaosVIP(i int) string { return fmt.Sprintf("203.0.113.%d", 20+i) }

// chaosRouter is a router as an operator configures one (MetalLB's and this repository's lab
// routers alike): no timer tuned for the test. Its connect-retry stays FRR's 120 s, so after a
// kill the session comes back because the node connects, as it would in a cluster.
var chaosRouter = templatetest.RouterConfig("router", "198.51.100.1", ` neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 password s3!cret
 neighbor 198.51.100.11 bfd
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
`)

// TestRestartChaos kills bgpd, zebra and bfdd with SIGKILL, each -chaos-kills times and each in
// its own lab, under a running reloader applying a rendered config, and starts the daemon again
// as FRR's frrcommon.sh does for watchfrr (the daemon, then `vtysh -b -d DAEMON`, which loads only
// the startup file). Every time the router must get every VIP back, and whenever the reloader
// reports the config applied, each daemon must really run its part of it: vtysh's combined
// running config merges the daemons' copies of shared definitions (route-maps, lists), so a
// restarted bgpd without them looks complete there while it announces nothing.
func TestRestartChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: FRR labs, minutes")
	}
	cfg := templatetest.Render(t, "frr", "node1", chaosObjects())
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		for _, d := range []string{"bgpd", "zebra", "bfdd"} {
			// One lab at a time: side by side on a loaded 2-core machine, a restarted zebra on
			// FRR 10.3 once left the router without VIPs for over 60 s.
			t.Run(d, func(t *testing.T) { restartChaos(t, v, d, cfg) })
		}
	})
}

type chaosLab struct {
	lab          *netlab.Lab
	router, node *netlab.FRR
	dir          string
	want         *frr.Block
	results      chan stampedResult
	rules        func() frr.Rules
}

func restartChaos(t *testing.T, v *netlab.FRRVersion, daemon string, cfg []byte) {
	c := newChaosLab(t, v, cfg)
	c.waitTruthful(t, "start")
	c.waitVIPs(t, "start")
	var rounds []chaosRound
	defer func() { logRecovery(t, daemon, rounds) }()
	for i := range *chaosKills {
		round := fmt.Sprintf("%s kill %d/%d", daemon, i+1, *chaosKills)
		c.drain()
		watch := c.watchVIPs()
		killed := time.Now()
		if err := c.node.KillDaemon(daemon, syscall.SIGKILL); err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		if err := c.node.StartDaemon(daemon); err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		if out, err := c.node.Vtysh("-b", "-d", daemon); err != nil {
			t.Fatalf("%s: loading the startup file into %s: %v\n%s", round, daemon, err, out)
		}
		r := chaosRound{restarted: time.Since(killed)}
		first, ok := c.waitTruthful(t, round)
		r.firstResult, r.firstOutcome, r.applied = first.at.Sub(killed), first.res.Outcome, ok.at.Sub(killed)
		c.waitVIPs(t, round)
		r.back = time.Since(killed)
		if lastMissing, err := watch(); err != nil {
			t.Fatalf("%s: %v", round, err)
		} else if !lastMissing.IsZero() {
			r.outage = lastMissing.Sub(killed)
		}
		if up := c.routerEstablished(t); !up.IsZero() {
			r.established = up.Sub(killed)
		}
		rounds = append(rounds, r)
		t.Logf("%s: %s", round, r)
		if st := c.status(t); st.Time.Before(killed) || st.Reason != "frr-restart" && st.Reason != "retry" {
			t.Fatalf("%s: the reloader's status does not report the restart: %+v", round, st)
		}
	}
}

// chaosRound is one kill's timeline, each phase measured from the kill: where the time to
// recover goes (read in the log and docs/benchmarks.md, never asserted).
type chaosRound struct {
	restarted    time.Duration // the daemon runs again and has loaded the startup file
	firstResult  time.Duration // the reloader's first apply attempt after the kill ended
	firstOutcome string
	applied      time.Duration // the reloader's first successful apply
	established  time.Duration // the router's session to the node came up (negative: it never dropped)
	// outage: the router's kernel was last seen lacking a VIP (0: it never lacked one); it had them
	// all at the next look, at most vipPoll plus one `ip route` later.
	outage time.Duration
	back   time.Duration // the reloader has re-applied and the router routes every VIP: the round is over
}

func (r chaosRound) String() string {
	session := "session kept"
	if r.established >= 0 {
		session = "session Established at the router +" + ms(r.established)
	}
	vips := "no VIP ever missing at the router"
	if r.outage > 0 {
		vips = "a VIP last missing at the router +" + ms(r.outage)
	}
	return fmt.Sprintf("daemon up +%s, first reloader result +%s (%s), applied +%s, %s, %s, round over +%s",
		ms(r.restarted), ms(r.firstResult), r.firstOutcome, ms(r.applied), session, vips, ms(r.back))
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// logRecovery reports, over the kills, how long the router lacked a VIP (in the rounds where it
// did), when the reloader had re-applied and when the round was over: issue 18 aims at every VIP
// back within 10 s, which is read here and in docs/benchmarks.md rather than asserted (the bounds
// above are 60 s).
func logRecovery(t *testing.T, daemon string, rounds []chaosRound) {
	if len(rounds) == 0 {
		return
	}
	var outages, applied, back []time.Duration
	for _, r := range rounds {
		if r.outage > 0 {
			outages = append(outages, r.outage)
		}
		applied, back = append(applied, r.applied), append(back, r.back)
	}
	vips := "no VIP ever missing at the router"
	if len(outages) > 0 {
		med, top := medianMax(outages)
		vips = fmt.Sprintf("a VIP missing at the router in %d rounds, until median %s, max %s", len(outages), med, top)
	}
	appMed, appMax := medianMax(applied)
	backMed, backMax := medianMax(back)
	t.Logf("%s, %d kills: %s; reloader re-applied after median %s, max %s; round over after median %s, max %s",
		daemon, len(rounds), vips, appMed, appMax, backMed, backMax)
}

// medianMax sorts ds and returns its median and maximum, rounded for the log.
func medianMax(ds []time.Duration) (string, string) {
	slices.Sort(ds)
	return ms(ds[len(ds)/2]), ms(ds[len(ds)-1])
}

// routerEstablished is when the router's session to the node last came up, from its uptime;
// zero when it is not up.
func (c *chaosLab) routerEstablished(t *testing.T) time.Time {
	t.Helper()
	out := c.router.MustVtysh("show bgp neighbors 198.51.100.11 json")
	now := time.Now()
	var n map[string]struct {
		State string `json:"bgpState"`
		UpMs  int64  `json:"bgpTimerUpMsec"`
	}
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatalf("router: show bgp neighbors json: %v\n%s", err, out)
	}
	nb, ok := n["198.51.100.11"]
	if !ok || nb.State != "Established" {
		// Gone again since the VIPs were seen (a BFD flap): this round has no figure.
		t.Logf("router: the session to the node is %q just after it routed every VIP", nb.State)
		return time.Time{}
	}
	return now.Add(-time.Duration(nb.UpMs) * time.Millisecond)
}

func newChaosLab(t *testing.T, v *netlab.FRRVersion, cfg []byte) *chaosLab {
	lab := netlab.New(t)
	lab.Reserve("198.51.100.0/24", "203.0.113.0/24")
	rh := lab.AddHost("router", "198.51.100.1/24")
	nh := lab.AddHost("node", "198.51.100.11/24")
	c := &chaosLab{lab: lab, router: lab.StartFRR(rh, "router", chaosRouter), node: lab.StartFRRVersion(v, nh, "node", ""),
		dir: t.TempDir(), want: frr.Parse(string(cfg)), results: make(chan stampedResult, 1000)}
	vtysh, frrReload := c.node.ReloaderTools()
	app := &reloader.Applier{Scratch: c.node.ScratchDir(), Log: testr.New(t), FRR: &reloader.FRR{Vtysh: vtysh,
		Pathspace: c.node.Pathspace, ConfigDir: c.node.ConfigDir, RunDir: c.node.RunRoot(), FrrReload: frrReload}}
	c.rules = app.Rules
	path := filepath.Join(c.dir, "frr.conf")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	// The reloader's defaults (cmd/reloader --debounce, --poll): the restart is noticed as late as
	// in a pod.
	r := &reloader.Reloader{ConfigPath: path, Debounce: 200 * time.Millisecond, Poll: time.Second,
		Applier: app, Log: testr.New(t), OnApply: func(res reloader.Result) { c.results <- stampedResult{res, time.Now()} }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

func (c *chaosLab) drain() {
	for {
		select {
		case <-c.results:
		default:
			return
		}
	}
}

// stampedResult is one apply attempt and when the reloader reported it.
type stampedResult struct {
	res reloader.Result
	at  time.Time
}

// waitTruthful waits for the reloader to report a config in place, and checks at that moment
// that each daemon runs its part of the target. A failed attempt (bgpd not up yet) is truthful
// and is retried by the reloader. It returns the first attempt it saw and the successful one.
func (c *chaosLab) waitTruthful(t *testing.T, round string) (first, ok stampedResult) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case sr := <-c.results:
			if first.at.IsZero() {
				first = sr
			}
			res := sr.res
			switch res.Outcome {
			case reloader.OutcomeApplied, reloader.OutcomeUnchanged, reloader.OutcomeFullReload:
				for _, d := range []string{"bgpd", "bfdd"} {
					if diff := c.ownDiff(t, d); len(diff) > 0 {
						t.Fatalf("%s: the reloader reported %s, but %s's own running config lacks part of the target:\n%s",
							round, res.Outcome, d, strings.Join(diff, "\n"))
					}
				}
				if !c.bfdHeld(t) {
					t.Fatalf("%s: the reloader reported %s, but bfdd holds no BFD session for the router", round, res.Outcome)
				}
				return first, sr
			case reloader.OutcomeInvalid:
				t.Fatalf("%s: the reloader refused the rendered config: %v", round, res.Err)
			}
			t.Logf("%s: apply %s: %v", round, res.Outcome, res.Err)
		case <-deadline:
			t.Fatalf("%s: no successful apply within 60s", round)
		}
	}
}

// bfdHeld reports whether the node's bfdd holds a session for the router: after a zebra restart
// bgpd's registration can be lost, leaving BGP without BFD (FRR 8.4) or Idle for good (10.3.0).
func (c *chaosLab) bfdHeld(t *testing.T) bool {
	t.Helper()
	out := c.node.MustVtysh("show bfd peers json")
	var peers []map[string]any
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		t.Fatalf("node: show bfd peers json: %v\n%s", err, out)
	}
	return slices.ContainsFunc(peers, func(p map[string]any) bool { return p["peer"] == "198.51.100.1" })
}

// ownDiff compares daemon's own running config (`vtysh -d DAEMON`) with the target's part that
// daemon holds.
func (c *chaosLab) ownDiff(t *testing.T, daemon string) []string {
	t.Helper()
	out, err := c.node.Vtysh("-d", daemon, "-c", "show running-config")
	if err != nil {
		return []string{err.Error()}
	}
	return c.rules().Compare(ownPart(c.want, daemon), ownPart(frr.Parse(out), daemon))
}

// ownPart keeps the top-level entries of cfg that daemon holds: for bgpd its instances, the
// route-maps and the prefix and community lists; for bfdd the bfd block.
func ownPart(cfg *frr.Block, daemon string) *frr.Block {
	blocks, lines := []string{"bfd"}, []string{}
	if daemon == "bgpd" {
		blocks, lines = []string{"router bgp ", "route-map "}, []string{"bgp ", "ip prefix-list ", "ipv6 prefix-list "}
	}
	part := &frr.Block{}
	for _, l := range cfg.Lines {
		if hasAnyPrefix(l, lines) {
			part.Lines = append(part.Lines, l)
		}
	}
	for _, b := range cfg.Blocks {
		if hasAnyPrefix(b.Header, blocks) {
			part.Blocks = append(part.Blocks, b)
		}
	}
	return part
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) || s == strings.TrimSpace(p) {
			return true
		}
	}
	return false
}

// waitVIPs waits (60 s, a generous bound: BFD and BGP come back on their own timers) for the
// router's kernel to route every VIP to the node.
func (c *chaosLab) waitVIPs(t *testing.T, round string) {
	t.Helper()
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if missing, err = c.missingVIPs(); err != nil {
			t.Fatal(err)
		}
		if len(missing) == 0 {
			return
		}
		time.Sleep(vipPoll)
	}
	t.Fatalf("%s: the router still lacks %d of %d VIPs after 60s: %v", round, len(missing), chaosVIPs, missing)
}

const vipPoll = 100 * time.Millisecond

// missingVIPs lists the VIPs the router's kernel does not route to the node.
func (c *chaosLab) missingVIPs() ([]string, error) {
	out, err := c.router.Host.Run("ip", "-4", "route", "show", "proto", "bgp")
	if err != nil {
		return nil, err
	}
	routed := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.Contains(l, " via 198.51.100.11 ") {
			routed[f[0]] = true
		}
	}
	var missing []string
	for i := range chaosVIPs {
		if !routed[chaosVIP(i)] {
			missing = append(missing, chaosVIP(i))
		}
	}
	return missing, nil
}

// watchVIPs looks at the router's routes every vipPoll until the returned function is called,
// which reports when a VIP was last seen missing (zero: never). The test's own wait decides when
// the round is over; this only measures the outage, which after a zebra or bfdd kill may be none.
func (c *chaosLab) watchVIPs() func() (time.Time, error) {
	stop, done := make(chan struct{}), make(chan struct{})
	var last time.Time
	var err error
	go func() {
		defer close(done)
		for {
			missing, e := c.missingVIPs()
			if e != nil {
				err = e
				return
			}
			if len(missing) > 0 {
				last = time.Now()
			}
			select {
			case <-stop:
				return
			case <-time.After(vipPoll):
			}
		}
	}()
	return func() (time.Time, error) {
		close(stop)
		<-done
		return last, err
	}
}

func (c *chaosLab) status(t *testing.T) daemonfile.Status {
	t.Helper()
	st, err := daemonfile.ReadStatus(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
