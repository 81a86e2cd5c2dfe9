package netlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// BIRD is one BIRD 2 daemon inside a host. It runs in the foreground (bird -f) as a process of the
// lab, so the lab stops it by PID on Close; its control socket and config live in the lab's
// directory, so birdc reaches it from the root namespace without `ip netns exec`.
type BIRD struct {
	Host     *Host
	Name     string
	ConfPath string // the file bird reads at start and on `birdc configure` (the reloader writes it)
	Socket   string // birdc -s
	LogPath  string // bird's stderr (the rendered configs log to stderr)
	lab      *Lab
	cmd      *exec.Cmd
}

// MinimalBIRDConfig is what a node's BIRD runs before the reloader applies the rendered bird.conf:
// no protocol but the interface scanner, named as in the rendered file (birdtemplates) so that the
// first configure keeps it instead of replacing it, which would make every interface disappear
// and come back. BIRD takes its router ID from the host's IPv4 address.
const MinimalBIRDConfig = "log stderr all;\nprotocol device 'routelb_device' {\n}\n"

// StartBIRD starts BIRD inside host h with config (MinimalBIRDConfig when empty) and waits until
// its control socket answers. On a failed test its protocols and log are logged.
func (l *Lab) StartBIRD(h *Host, name, config string) *BIRD {
	l.t.Helper()
	if err := CheckBIRD(); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	dir := filepath.Join(l.Dir, "bird", name)
	b := &BIRD{Host: h, Name: name, lab: l, ConfPath: filepath.Join(dir, "bird.conf"),
		Socket: filepath.Join(dir, "bird.ctl"), LogPath: filepath.Join(dir, "bird.log")}
	if config == "" {
		config = MinimalBIRDConfig
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	if err := os.WriteFile(b.ConfPath, []byte(config), 0o644); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	// Registered after New's Close, so it runs before it, while BIRD still answers.
	l.t.Cleanup(func() {
		if l.t.Failed() {
			l.t.Log("\n" + b.DumpString())
		}
	})
	if err := b.Start(); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	return b
}

// CheckBIRD reports a clear error when BIRD 2 or birdc is missing.
func CheckBIRD() error {
	for _, bin := range []string{"bird", "birdc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found (%w): apt-get install bird2", bin, err)
		}
	}
	return nil
}

// Start (re)starts BIRD with ConfPath and waits for its control socket.
func (b *BIRD) Start() error {
	if b.cmd != nil && b.cmd.ProcessState == nil {
		return fmt.Errorf("BIRD %s is already running (pid %d)", b.Name, b.cmd.Process.Pid)
	}
	_ = os.Remove(b.Socket)
	logf, err := os.OpenFile(b.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }() // the child holds its own descriptor
	cmd := exec.Command("ip", "netns", "exec", b.Host.NS, "bird", "-f", "-c", b.ConfPath, "-s", b.Socket)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting BIRD %s: %w", b.Name, err)
	}
	b.cmd = cmd
	b.lab.mu.Lock()
	b.lab.procs = append(b.lab.procs, cmd)
	b.lab.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := b.Birdc("show", "status"); err == nil && strings.Contains(out, "Daemon is up and running") {
			return nil
		}
		if !b.alive() {
			_ = cmd.Wait()
			return fmt.Errorf("BIRD %s exited at start; log:\n%s", b.Name, b.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("BIRD %s did not answer on %s in 10s; log:\n%s", b.Name, b.Socket, b.Log())
}

// alive reports whether the process is running and not a zombie.
func (b *BIRD) alive() bool {
	if b.cmd == nil || b.cmd.Process == nil || b.cmd.ProcessState != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", b.cmd.Process.Pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] != 'Z'
}

// PID is the running BIRD's process id (0 when not running).
func (b *BIRD) PID() int {
	if !b.alive() {
		return 0
	}
	return b.cmd.Process.Pid
}

// Kill sends sig to BIRD, by PID; for SIGKILL and SIGTERM it waits until BIRD is gone.
func (b *BIRD) Kill(sig syscall.Signal) error {
	pid := b.PID()
	if pid == 0 {
		return fmt.Errorf("BIRD %s is not running", b.Name)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return nil
	}
	done := make(chan struct{})
	// Wait reports the signal as an error: that is the expected end.
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("BIRD %s (pid %d) still running 5s after %v", b.Name, pid, sig)
	}
}

// Birdc runs one birdc command against this BIRD (words as separate arguments or one string).
func (b *BIRD) Birdc(args ...string) (string, error) {
	full := append([]string{"-s", b.Socket}, args...)
	out, err := exec.Command("birdc", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("birdc %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// MustBirdc is Birdc failing the test on error.
func (b *BIRD) MustBirdc(args ...string) string {
	b.lab.t.Helper()
	out, err := b.Birdc(args...)
	if err != nil {
		b.lab.t.Fatalf("netlab: %v", err)
	}
	return out
}

// Protocols returns each protocol's state and info columns from `show protocols`, e.g.
// "rlb_router" -> "up Established" (names as BIRD prints them, without quotes).
func (b *BIRD) Protocols() (map[string]string, error) {
	out, err := b.Birdc("show", "protocols")
	if err != nil {
		return nil, err
	}
	states := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		// Name Proto Table State Since(1 or 2 fields) Info...
		if len(f) < 5 || f[0] == "Name" || f[0] == "BIRD" {
			continue
		}
		info := ""
		if len(f) > 5 {
			info = f[len(f)-1]
		}
		states[f[0]] = f[3] + " " + info
	}
	return states, nil
}

// WaitEstablished waits until BGP protocol proto is up and Established.
func (b *BIRD) WaitEstablished(proto string, timeout time.Duration) {
	b.lab.t.Helper()
	b.lab.Eventually(timeout, func() error {
		st, err := b.Protocols()
		if err != nil {
			return err
		}
		if st[proto] != "up Established" {
			return fmt.Errorf("BIRD %s: protocol %s is %q", b.Name, proto, st[proto])
		}
		return nil
	})
}

// Log returns what BIRD wrote to stderr.
func (b *BIRD) Log() string {
	out, err := os.ReadFile(b.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(out)
}

// DumpString is a post-mortem of this BIRD: protocols, BFD sessions, exported routes, log tail.
func (b *BIRD) DumpString() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "===== BIRD %s in %s (config %s)\n", b.Name, b.Host.NS, b.ConfPath)
	for _, c := range [][]string{{"show", "protocols", "all"}, {"show", "bfd", "sessions"}, {"show", "route", "all"}} {
		out, err := b.Birdc(c...)
		fmt.Fprintf(&sb, "--- birdc %s\n%s%s\n", strings.Join(c, " "), tail(out, 200), errText(err))
	}
	fmt.Fprintf(&sb, "--- bird.log (tail)\n%s\n", tail(b.Log(), 60))
	return sb.String()
}
