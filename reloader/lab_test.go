package reloader

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/reloader/frr"
)

// testLab is a router (AS 64512) peering with one node (AS 64513); the
// reloader drives the node's FRR, as in a routelb speaker pod.
type testLab struct {
	lab          *netlab.Lab
	router, node *netlab.FRR
	applier      *Applier
}

const routerConf = `frr defaults traditional
router bgp 64512
 no bgp ebgp-requires-policy
 bgp router-id 198.51.100.1
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 timers 1 3
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
exit
`

func newTestLab(t *testing.T) *testLab { return newTestLabOf(t, netlab.HostFRR, routerConf) }

// newTestLabOf is newTestLab with the node running FRR version v (the router runs the host's)
// and the router configured with routerCfg.
func newTestLabOf(t *testing.T, v *netlab.FRRVersion, routerCfg string) *testLab {
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24", "198.18.0.0/15")
	rh := lab.AddHost("router", "198.51.100.1/24", "2001:db8::1/64")
	nh := lab.AddHost("node", "198.51.100.11/24", "2001:db8::11/64")
	tl := &testLab{lab: lab, router: lab.StartFRR(rh, "router", routerCfg), node: lab.StartFRRVersion(v, nh, "node", "")}
	tl.applier = &Applier{FRR: reloaderFRR(tl.node), Scratch: tl.node.ScratchDir(), Log: testr.New(t)}
	return tl
}

// reloaderFRR is how an in-process reloader reaches a lab instance: through the instance's own
// vtysh and frr-reload.py (chrooted wrappers for a root's FRR).
func reloaderFRR(f *netlab.FRR) *FRR {
	vtysh, frrReload := f.ReloaderTools()
	return &FRR{Vtysh: vtysh, Pathspace: f.Pathspace, ConfigDir: f.ConfigDir, RunDir: f.RunRoot(), FrrReload: frrReload}
}

// apply applies cfg and fails unless FRR now runs exactly cfg.
func (tl *testLab) apply(t *testing.T, cfg string, want ...string) Result {
	t.Helper()
	res := tl.applier.Apply(context.Background(), []byte(cfg))
	if res.Err != nil || !oneOf(res.Outcome, want...) {
		t.Fatalf("apply: outcome %s (want %v), err %v\nconfig:\n%s", res.Outcome, want, res.Err, cfg)
	}
	tl.assertRunning(t, cfg)
	return res
}

func (tl *testLab) assertRunning(t *testing.T, cfg string) {
	t.Helper()
	running, err := tl.node.Vtysh("-c", "show running-config")
	if err != nil {
		t.Fatal(err)
	}
	if d := tl.applier.Rules().Compare(frr.Parse(cfg), frr.Parse(running)); len(d) > 0 {
		t.Fatalf("running config differs from target:\n%s\ntarget:\n%s\nrunning:\n%s", strings.Join(d, "\n"), cfg, running)
	}
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// routerSession returns the router's view of its session with the node.
func (tl *testLab) routerSession(t *testing.T) (state string, established, dropped int) {
	t.Helper()
	out, err := tl.router.Vtysh("-c", "show bgp ipv4 unicast summary json")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Peers map[string]struct {
			State                  string `json:"state"`
			ConnectionsEstablished int    `json:"connectionsEstablished"`
			ConnectionsDropped     int    `json:"connectionsDropped"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p := sum.Peers["198.51.100.11"]
	return p.State, p.ConnectionsEstablished, p.ConnectionsDropped
}

// routerRoutes lists the VIPs the router's kernel has from the node.
func (tl *testLab) routerRoutes(t *testing.T) map[string]bool {
	t.Helper()
	out, err := tl.router.Host.Run("ip", "-4", "route", "show", "proto", "bgp")
	if err != nil {
		t.Fatal(err)
	}
	rs := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			rs[f[0]] = true
		}
	}
	return rs
}

// startReloader runs a Reloader on path until the test ends; applies are
// reported on the returned channel.
func (tl *testLab) startReloader(t *testing.T, path string) (*Reloader, <-chan Result) {
	results := make(chan Result, 1000)
	r := &Reloader{ConfigPath: path, Debounce: 200 * time.Millisecond, Poll: 200 * time.Millisecond,
		Applier: tl.applier, Log: testr.New(t), OnApply: func(res Result) { results <- res }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, results
}

func waitResult(t *testing.T, results <-chan Result, want ...string) Result {
	t.Helper()
	select {
	case res := <-results:
		if !oneOf(res.Outcome, want...) {
			t.Fatalf("apply outcome %s (err %v), want %v", res.Outcome, res.Err, want)
		}
		return res
	case <-time.After(30 * time.Second):
		t.Fatalf("no apply within 30s (want %v)", want)
	}
	return Result{}
}

func writeFileAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+fmt.Sprint(rand.Int()))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
