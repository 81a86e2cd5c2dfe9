package reloader

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/netlab"
)

var pairsSeed = flag.Int64("seed", 0, "TestRandomPairs: replay this seed (0: a new one, logged)")

// TestRandomPairs applies random pairs of configs to a real FRR. After each
// apply the running config must equal the target through the delta alone
// (no full-reload fallback), and a change of networks only must not reset
// the BGP session with the router.
func TestRandomPairs(t *testing.T) {
	seed := *pairsSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d", seed)
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		randomPairs(t, newTestLabOf(t, v, routerConf), rand.New(rand.NewSource(seed)))
	})
}

func randomPairs(t *testing.T, tl *testLab, rng *rand.Rand) {
	prev := randomSpec(rng)
	tl.apply(t, prev.render(), OutcomeApplied)
	tl.lab.Eventually(30*time.Second, func() error { return sessionUp(t, tl) })
	for i := 0; i < 15; i++ {
		// Networks only: the session must survive.
		_, est, dropped := tl.routerSession(t)
		netsOnly := prev
		netsOnly.networks = randomNetworks(rng)
		tl.apply(t, netsOnly.render(), OutcomeApplied, OutcomeUnchanged)
		time.Sleep(300 * time.Millisecond) // a reset would show within a hold time of 3 s; 1 s keepalive
		state, est2, dropped2 := tl.routerSession(t)
		if state != "Established" || est2 != est || dropped2 != dropped {
			t.Fatalf("pair %d: session reset by a networks-only change: %s, established %d -> %d, dropped %d -> %d",
				i, state, est, est2, dropped, dropped2)
		}
		// Anything may change.
		next := randomSpec(rng)
		tl.apply(t, next.render(), OutcomeApplied, OutcomeUnchanged)
		prev = next
		tl.lab.Eventually(30*time.Second, func() error { return sessionUp(t, tl) })
	}
}

func sessionUp(t *testing.T, tl *testLab) error {
	if st, _, _ := tl.routerSession(t); st != "Established" {
		return fmt.Errorf("router session with node is %q", st)
	}
	return nil
}

func vipConfig(vips ...int) string {
	s := spec{peers: []peer{{addr: "198.51.100.1", as: "64512", timers: "1 3"}}}
	for _, v := range vips {
		s.networks = append(s.networks, fmt.Sprintf("203.0.113.%d/32", v))
	}
	return s.render()
}

func (tl *testLab) waitRoutes(t *testing.T, want ...string) {
	t.Helper()
	tl.lab.Eventually(30*time.Second, func() error {
		rs := tl.routerRoutes(t)
		for _, w := range want {
			if !rs[w] {
				return fmt.Errorf("router has no route to %s (has %v)", w, rs)
			}
		}
		return nil
	})
}

func readStatus(t *testing.T, dir string) daemonfile.Status {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, daemonfile.StatusFile))
	if err != nil {
		t.Fatal(err)
	}
	var st daemonfile.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return st
}

// TestInvalidRefused: a file FRR's parser rejects is never applied; the
// routes already announced stay on the router and the status says why.
func TestInvalidRefused(t *testing.T) {
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) { invalidRefused(t, newTestLabOf(t, v, routerConf)) })
}

func invalidRefused(t *testing.T, tl *testLab) {
	dir := t.TempDir()
	path := filepath.Join(dir, "frr.conf")
	good := vipConfig(5, 6)
	writeFileAtomic(t, path, good)
	_, results := tl.startReloader(t, path)
	waitResult(t, results, OutcomeApplied)
	tl.waitRoutes(t, "203.0.113.5", "203.0.113.6")

	bad := strings.Replace(vipConfig(7), " bgp router-id", " bgp router-idd", 1)
	writeFileAtomic(t, path, bad)
	res := waitResult(t, results, OutcomeInvalid)
	if !strings.Contains(res.Err.Error(), "router-idd") {
		t.Errorf("error does not name the bad line: %v", res.Err)
	}
	st := readStatus(t, dir)
	if st.Result != OutcomeInvalid || st.AppliedSHA256 != Hash([]byte(good)) || st.FileSHA256 != Hash([]byte(bad)) {
		t.Errorf("status after invalid file: %+v", st)
	}
	tl.assertRunning(t, good)
	time.Sleep(2 * time.Second) // give a wrongly applied withdrawal time to reach the router
	tl.waitRoutes(t, "203.0.113.5", "203.0.113.6")
	if tl.routerRoutes(t)["203.0.113.7"] {
		t.Errorf("route from the refused config reached the router")
	}
	running, err := os.ReadFile(filepath.Join(dir, daemonfile.RunningFile))
	if err != nil || !strings.Contains(string(running), "network 203.0.113.5/32") {
		t.Errorf("redacted running config missing or stale: %v\n%s", err, running)
	}
}

// TestBGPDRestart: bgpd killed and started again (as watchfrr would) gets
// its config back without the file being touched.
func TestBGPDRestart(t *testing.T) {
	tl := newTestLab(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "frr.conf")
	cfg := vipConfig(9, 10, 11)
	writeFileAtomic(t, path, cfg)
	_, results := tl.startReloader(t, path)
	waitResult(t, results, OutcomeApplied)
	tl.waitRoutes(t, "203.0.113.9", "203.0.113.10", "203.0.113.11")

	if err := tl.node.KillDaemon("bgpd", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := tl.node.StartDaemon("bgpd"); err != nil {
		t.Fatal(err)
	}
	waitResult(t, results, OutcomeApplied)
	tl.assertRunning(t, cfg)
	tl.waitRoutes(t, "203.0.113.9", "203.0.113.10", "203.0.113.11")
	if st := readStatus(t, dir); st.Reason != "frr-restart" || st.Result != OutcomeApplied {
		t.Errorf("status after restart: %+v", st)
	}
}

// TestBurstAndFileEvents: 1,000 quick rewrites give a handful of applies
// ending on the last content; the file appearing late, atomic renames and
// the directory being replaced are all noticed.
func TestBurstAndFileEvents(t *testing.T) {
	tl := newTestLab(t)
	dir := filepath.Join(t.TempDir(), "conf")
	path := filepath.Join(dir, "frr.conf")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, results := tl.startReloader(t, path)
	// No file yet is the normal start (the speaker writes it later): nothing is tried or reported.
	select {
	case res := <-results:
		t.Fatalf("before the first file: apply outcome %s (err %v), want none", res.Outcome, res.Err)
	case <-time.After(2 * time.Second):
	}

	writeFileAtomic(t, path, vipConfig(1)) // appears late
	waitResult(t, results, OutcomeApplied)

	var last string
	for i := 0; i < 1000; i++ {
		last = vipConfig(1, 2+i%200)
		if err := os.WriteFile(path, []byte(last), 0o644); err != nil { // in place: truncate+write
			t.Fatal(err)
		}
	}
	applies := drainUntilRunning(t, tl, results, last)
	t.Logf("1000 rewrites -> %d applies", applies)
	if applies > 50 {
		t.Errorf("1000 rewrites caused %d applies; debounce should coalesce them to a handful", applies)
	}

	// The directory replaced by a new one holding a new file.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	tmp := dir + ".new"
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	final := vipConfig(1, 250)
	if err := os.WriteFile(filepath.Join(tmp, "frr.conf"), []byte(final), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	drainUntilRunning(t, tl, results, final)
}

// drainUntilRunning reads apply results until FRR runs want, returning how
// many applies happened.
func drainUntilRunning(t *testing.T, tl *testLab, results <-chan Result, want string) int {
	t.Helper()
	n := 0
	deadline := time.After(60 * time.Second)
	for {
		select {
		case res := <-results:
			if res.Outcome == OutcomeFailed || res.Outcome == OutcomeInvalid {
				continue // a read of a half-written file may be refused; the next one fixes it
			}
			n++
			if res.Hash == Hash([]byte(want)) {
				tl.assertRunning(t, want)
				return n
			}
		case <-deadline:
			t.Fatalf("FRR never ran the last written config (%d applies seen)", n)
		}
	}
}
