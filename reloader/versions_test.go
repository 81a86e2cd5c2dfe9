package reloader

import (
	"flag"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/netlab"
)

var steadyFor = flag.Duration("steady", 60*time.Second, "TestSteadyStateAndChurn: how long the steady state is watched")

// routerConfBFD is the router for a node whose config has a BFD profile, a password and a
// community: the router runs BFD and the password with the node.
const routerConfBFD = `frr defaults traditional
router bgp 64512
 no bgp ebgp-requires-policy
 bgp router-id 198.51.100.1
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 timers 1 3
 neighbor 198.51.100.11 password s3cret
 neighbor 198.51.100.11 bfd
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
exit
`

// bfdSpec is a node config as the templates render it, peering with the router with a BFD
// profile, a password and a community on every announced VIP, announcing the given VIPs.
func bfdSpec(vips int) spec {
	s := spec{
		peers: []peer{{addr: "198.51.100.1", as: "64512", timers: "1 3", profile: "fast", password: "s3cret",
			rmOut: "rlb_out"}},
		profiles: map[string][]string{"fast": {"receive-interval 300", "transmit-interval 300", "detect-multiplier 3"}},
		plists:   map[string][]string{"rlb_all": {"203.0.113.0/24 le 32", "198.18.0.0/15 le 32"}},
		rmaps:    []rmap{{name: "rlb_out", action: "permit", seq: 10, plist: "rlb_all", community: "64513:100"}},
	}
	for i := 0; i < vips; i++ {
		s.networks = append(s.networks, fmt.Sprintf("203.0.113.%d/32", 1+i%250))
	}
	return s
}

// churnConfig is bfdSpec's config with n Services, their VIPs spread over 203.0.113.0/24 and
// 198.18.0.0/15 (more than 250 Services need the larger range).
func churnConfig(n int) string {
	s := bfdSpec(0)
	for i := 0; i < n; i++ {
		s.networks = append(s.networks, fmt.Sprintf("198.18.%d.%d/32", i/250, 1+i%250))
	}
	return s.render()
}

// TestSteadyStateAndChurn, on each FRR version: a node running a rendered config with a BFD peer,
// a password and a community sends no command to FRR and never falls back to frr-reload.py over
// the steady state (restart polls and drift checks included), nor through 200 Services added
// one file write at a time; the router's session is never re-established.
func TestSteadyStateAndChurn(t *testing.T) {
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		tl := newTestLabOf(t, v, routerConfBFD)
		dir := t.TempDir()
		path := filepath.Join(dir, "frr.conf")
		writeFileAtomic(t, path, churnConfig(0))
		r, results := tl.startReloader(t, path)
		r.Resync = 5 * time.Second // drift checks run a dozen times in the steady state
		waitResult(t, results, OutcomeApplied)
		tl.lab.Eventually(60*time.Second, func() error { return sessionUp(t, tl) })
		tl.router.WaitBFDUp(60*time.Second, "198.51.100.11")
		_, est, _ := tl.routerSession(t)

		deadline := time.After(*steadyFor)
		var applies int
	steady:
		for {
			select {
			case res := <-results:
				applies++
				if res.Commands > 0 || res.Outcome != OutcomeUnchanged {
					t.Errorf("steady state: apply %s with %d commands (err %v, diff %q)", res.Outcome, res.Commands, res.Err, res.Diff)
				}
			case <-deadline:
				break steady
			}
		}
		t.Logf("%s: %d drift checks in %v of steady state, all unchanged", v, applies, *steadyFor)
		if _, est2, _ := tl.routerSession(t); est2 != est {
			t.Errorf("steady state: router's session established %d -> %d times", est, est2)
		}

		for n := 1; n <= 200; n++ {
			writeFileAtomic(t, path, churnConfig(n))
			time.Sleep(20 * time.Millisecond) // Services arrive one by one; the debounce batches some
		}
		drainChurn(t, tl, results, churnConfig(200))
		tl.waitRoutes(t, "198.18.0.1", "198.18.0.200")
		if st, est2, _ := tl.routerSession(t); st != "Established" || est2 != est {
			t.Errorf("churn: router's session %s, established %d -> %d times", st, est, est2)
		}
	})
}

// drainChurn reads applies until FRR runs want; each must be a delta (no frr-reload.py fallback).
func drainChurn(t *testing.T, tl *testLab, results <-chan Result, want string) {
	t.Helper()
	n := 0
	for {
		select {
		case res := <-results:
			n++
			if res.Outcome != OutcomeApplied && res.Outcome != OutcomeUnchanged {
				t.Fatalf("churn: apply %d: %s (err %v)", n, res.Outcome, res.Err)
			}
			if res.Hash == Hash([]byte(want)) {
				tl.assertRunning(t, want)
				t.Logf("200 Services in %d applies", n)
				return
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("churn: FRR never ran the last config (%d applies seen)", n)
		}
	}
}

// TestBGPDRestartTenTimes, on each FRR version: bgpd killed -9 and started again (as watchfrr
// does), ten times in a row: every restart is noticed and every VIP is back at the router.
func TestBGPDRestartTenTimes(t *testing.T) {
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		bn := startBFDNode(t, v)
		tl, dir, cfg, vips, results := bn.tl, bn.dir, bn.cfg, bn.vips, bn.results
		for i := 0; i < 10; i++ {
			if err := tl.node.KillDaemon("bgpd", syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if err := tl.node.StartDaemon("bgpd"); err != nil {
				t.Fatal(err)
			}
			waitResult(t, results, OutcomeApplied)
			if st := readStatus(t, dir); st.Reason != "frr-restart" || st.Result != OutcomeApplied {
				t.Fatalf("restart %d: status %+v", i+1, st)
			}
			tl.assertRunning(t, cfg)
			tl.waitRoutes(t, vips...)
		}
	})
}

// bfdNode is a node with a BFD peer, password and community (bfdSpec) applied by a running
// Reloader, its three VIPs at the router.
type bfdNode struct {
	tl      *testLab
	dir     string // the config's directory, where the status file is
	path    string
	cfg     string
	vips    []string
	results <-chan Result
}

func startBFDNode(t *testing.T, v *netlab.FRRVersion) *bfdNode {
	t.Helper()
	bn := &bfdNode{tl: newTestLabOf(t, v, routerConfBFD), dir: t.TempDir(), cfg: bfdSpec(3).render(),
		vips: []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"}}
	bn.path = filepath.Join(bn.dir, "frr.conf")
	writeFileAtomic(t, bn.path, bn.cfg)
	_, bn.results = bn.tl.startReloader(t, bn.path)
	waitResult(t, bn.results, OutcomeApplied)
	bn.tl.waitRoutes(t, bn.vips...)
	return bn
}
