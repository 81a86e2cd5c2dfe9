package netlab

import (
	"fmt"
	"net/netip"
	"os/exec"
	"syscall"
	"time"
)

// Host is a network namespace with one interface, eth0, on the lab's bridge.
type Host struct {
	Name  string
	NS    string // namespace name, for `ip netns exec`
	Addrs []netip.Prefix
	veth  string // bridge-side end, inside the bridge namespace
	lab   *Lab
}

// AddHost creates namespace Prefix-name with eth0 carrying the given
// addresses (CIDR notation, IPv4 or IPv6) and lo up. Each address range is
// checked against the root namespace before anything is created.
func (l *Lab) AddHost(name string, cidrs ...string) *Host {
	l.t.Helper()
	h := &Host{Name: name, NS: l.Prefix + "-" + name, lab: l}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			l.t.Fatalf("netlab: host %s: %v", name, err)
		}
		if err := checkFree(p.Masked(), l.root); err != nil {
			l.t.Fatalf("netlab: host %s: %v", name, err)
		}
		h.Addrs = append(h.Addrs, p)
	}
	l.mu.Lock()
	h.veth = fmt.Sprintf("v%d", len(l.hosts))
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	l.must("", "ip", "netns", "add", h.NS)
	h.MustRun("ip", "link", "set", "lo", "up")
	// The pair is created inside the bridge namespace so that no interface
	// ever appears in the root namespace, even for a moment.
	l.must(l.bridge, "ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	l.must(l.bridge, "ip", "link", "set", h.veth, "master", "br0", "up")
	for _, p := range h.Addrs {
		args := []string{"ip", "addr", "add", p.String(), "dev", "eth0"}
		if p.Addr().Is6() {
			args = append(args, "nodad") // usable at once, no 2 s DAD wait
		}
		h.MustRun(args...)
	}
	h.MustRun("ip", "link", "set", "eth0", "up")
	return h
}

// Addr returns the host's first address of the given family (4 or 6).
func (h *Host) Addr(family int) netip.Addr {
	for _, p := range h.Addrs {
		if (family == 4) == p.Addr().Is4() {
			return p.Addr()
		}
	}
	h.lab.t.Fatalf("netlab: host %s has no IPv%d address", h.Name, family)
	return netip.Addr{}
}

// Run runs a command inside the host's namespace.
func (h *Host) Run(args ...string) (string, error) { return Exec(h.NS, args...) }

// MustRun is Run failing the test on error.
func (h *Host) MustRun(args ...string) string {
	h.lab.t.Helper()
	out, err := h.Run(args...)
	if err != nil {
		h.lab.t.Fatalf("netlab: %v", err)
	}
	return out
}

// Start starts a long-running command in the host's namespace; the lab stops
// it (by PID) on Close.
func (h *Host) Start(args ...string) *exec.Cmd {
	h.lab.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		h.lab.t.Fatalf("netlab: start %v: %v", args, err)
	}
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, cmd)
	h.lab.mu.Unlock()
	return cmd
}

// SetLink takes the host's link down or up at the bridge side: the host's
// eth0 loses carrier but keeps its addresses, like a pulled cable (what BFD
// tests need).
func (h *Host) SetLink(up bool) {
	h.lab.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	h.lab.must(h.lab.bridge, "ip", "link", "set", h.veth, state)
}

// stopCmd ends a process started by Start: SIGTERM to its own process group
// (only processes it spawned), SIGKILL after a grace period.
func stopCmd(c *exec.Cmd) {
	if c.Process == nil || c.ProcessState != nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-done
	}
}
