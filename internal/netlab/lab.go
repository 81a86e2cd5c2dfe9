// Package netlab builds throw-away labs of Linux network namespaces for tests:
// a bridge namespace holding br0, host namespaces joined to it by veth pairs,
// and FRR instances running inside hosts (see ../shared/notes/frr-netns.md).
//
// Every lab has a unique name prefix so that test packages running in
// parallel never collide, refuses addresses that overlap anything configured
// in the root namespace, never adds anything to the root namespace, and tears
// everything down (processes by PID, then namespaces) through t.Cleanup.
package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Lab is one set of namespaces owned by one test.
type Lab struct {
	t      testing.TB
	Prefix string // unique, e.g. "rlb3f9a1"; every namespace name starts with it
	Dir    string // scratch directory for configs and logs, removed by Close
	bridge string // namespace holding br0

	mu     sync.Mutex
	hosts  []*Host
	frrs   []*FRR
	procs  []*exec.Cmd
	closed bool
	root   []netip.Prefix // root namespace addresses and routes, read at New
}

// New creates a lab with its bridge namespace and registers Close with
// t.Cleanup. It fails the test (never skips) when the machine cannot run labs.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("netlab: network namespaces need root (run the tests as root, e.g. `make test`)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("netlab: iproute2 `ip` not found: %v (apt-get install iproute2)", err)
	}
	root, err := RootPrefixes()
	if err != nil {
		t.Fatalf("netlab: reading root namespace: %v", err)
	}
	l := &Lab{t: t, Prefix: "rlb" + randomHex(3), root: root}
	l.Dir, err = os.MkdirTemp("", l.Prefix+"-")
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	// FRR daemons drop privileges to user frr and must reach their log files.
	if err := os.Chmod(l.Dir, 0o755); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Cleanup(l.Close)
	l.bridge = l.Prefix + "-lan"
	l.must("", "ip", "netns", "add", l.bridge)
	l.must(l.bridge, "ip", "link", "set", "lo", "up")
	l.must(l.bridge, "ip", "link", "add", "br0", "type", "bridge")
	l.must(l.bridge, "ip", "link", "set", "br0", "up")
	return l
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Reserve fails the test if any of the given ranges (for example the VIP
// range a test is about to announce) overlaps the root namespace.
func (l *Lab) Reserve(cidrs ...string) {
	l.t.Helper()
	for _, c := range cidrs {
		p, err := parsePrefix(c)
		if err != nil {
			l.t.Fatalf("netlab: %v", err)
		}
		if err := checkFree(p, l.root); err != nil {
			l.t.Fatalf("netlab: %v", err)
		}
	}
}

// Exec runs a command inside namespace ns ("" is only allowed for `ip netns`
// management commands issued by the lab itself) and returns combined output.
func Exec(ns string, args ...string) (string, error) {
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func (l *Lab) must(ns string, args ...string) string {
	l.t.Helper()
	out, err := Exec(ns, args...)
	if err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	return out
}

// Close stops every process the lab started (by PID), deletes its namespaces
// and scratch directory. On a failed test it dumps the lab's state first.
// It is idempotent and registered with t.Cleanup by New.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	if l.t.Failed() {
		l.Dump()
	}
	for _, f := range l.frrs {
		if err := f.stop(); err != nil {
			l.t.Errorf("netlab: %v", err)
		}
	}
	for _, c := range l.procs {
		stopCmd(c)
	}
	for _, h := range l.hosts {
		l.delNetns(h.NS)
	}
	l.delNetns(l.bridge)
	if err := os.RemoveAll(l.Dir); err != nil {
		l.t.Errorf("netlab: %v", err)
	}
}

func (l *Lab) delNetns(ns string) {
	if _, err := Exec("", "ip", "netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
		l.t.Errorf("netlab: %v", err)
	}
}
