package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FRRDir is where FRR 8.4 daemons are installed (Debian's frr package).
const FRRDir = "/usr/lib/frr"

// Daemons are the FRR daemons a routelb speaker or lab router needs.
var Daemons = []string{"zebra", "bgpd", "staticd", "bfdd"}

// FRR is one FRR instance (zebra, bgpd, staticd, bfdd; mgmtd too from FRR 9) inside a host.
//
// An instance of a chrooted version keeps everything it writes inside the shared root under
// /tmp/Pathspace (config, logs) and /run/frr/Pathspace (sockets, pid files), both unique to the
// instance and removed by Stop, so that concurrent tests can share one cached root.
type FRR struct {
	Host      *Host
	Version   *FRRVersion
	Pathspace string // FRR's -N; the lab prefix keeps it unique across tests
	// ConfigDir is vtysh's --config_dir as FRR's processes see it (inside the root when
	// chrooted); the instance's files are in ConfigDir/Pathspace.
	ConfigDir string
	LogDir    string // as FRR's processes see it
	lab       *Lab
	stopped   bool
}

// RunRoot is FRR's runtime root (the reloader's --frr-run-dir) on the host: pid files and sockets
// are in RunRoot/Pathspace. The root's /var/run is an absolute link to /run, so /run is used.
func (f *FRR) RunRoot() string {
	if f.Version.Chrooted() {
		return f.Version.HostPath("/run/frr")
	}
	return "/var/run/frr"
}

// RunDir is FRR's runtime directory for the instance (sockets, pid files), on the host.
func (f *FRR) RunDir() string { return filepath.Join(f.RunRoot(), f.Pathspace) }

// ConfPath is the integrated config file `vtysh -b` reads, on the host.
func (f *FRR) ConfPath() string {
	return f.Version.HostPath(filepath.Join(f.ConfigDir, f.Pathspace, "frr.conf"))
}

// instanceDir is the chrooted instance's own directory inside the root ("" on the host).
func (f *FRR) instanceDir() string {
	if !f.Version.Chrooted() {
		return ""
	}
	return filepath.Join("/tmp", f.Pathspace)
}

// StartFRR starts the host's FRR inside host h with pathspace Prefix-name. When config is not
// empty it is written to ConfPath and loaded with `vtysh -b`.
func (l *Lab) StartFRR(h *Host, name, config string) *FRR {
	l.t.Helper()
	return l.StartFRRVersion(HostFRR, h, name, config)
}

// StartFRRVersion is StartFRR with FRR of version v (nil: the host's).
func (l *Lab) StartFRRVersion(v *FRRVersion, h *Host, name, config string) *FRR {
	l.t.Helper()
	if v == nil {
		v = HostFRR
	}
	if err := v.check(); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	f := &FRR{Host: h, Version: v, Pathspace: l.Prefix + "-" + name, lab: l}
	if inst := f.instanceDir(); inst != "" {
		f.ConfigDir, f.LogDir = filepath.Join(inst, "conf"), filepath.Join(inst, "log")
	} else {
		f.ConfigDir = filepath.Join(l.Dir, "frr", "conf")
		f.LogDir = filepath.Join(l.Dir, "frr", "log", f.Pathspace)
	}
	l.mu.Lock()
	l.frrs = append(l.frrs, f)
	l.mu.Unlock()
	if err := f.prepare(config); err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
	for _, d := range v.daemons() {
		if err := f.StartDaemon(d); err != nil {
			l.t.Fatalf("netlab: %v", err)
		}
	}
	if config != "" {
		if out, err := f.Vtysh("-b"); err != nil {
			l.t.Fatalf("netlab: loading config of %s: %v\n%s", f.Pathspace, err, out)
		}
	}
	return f
}

// prepare creates the config, log and runtime directories with the owners
// FRR expects (daemons run as user frr).
func (f *FRR) prepare(config string) error {
	uid, gid, err := f.Version.ids()
	if err != nil {
		return err
	}
	logDir, confDir := f.Version.HostPath(f.LogDir), f.Version.HostPath(filepath.Join(f.ConfigDir, f.Pathspace))
	for _, dir := range []string{logDir, confDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	vtyshConf := filepath.Join(confDir, "vtysh.conf")
	if err := os.WriteFile(vtyshConf, []byte("service integrated-vtysh-config\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(f.ConfPath(), []byte(config), 0o644); err != nil {
		return err
	}
	for _, dir := range []string{logDir, confDir} {
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(f.RunDir(), 0o755); err != nil {
		return err
	}
	return os.Chown(f.RunDir(), uid, gid)
}

// CheckFRR reports a clear error when the host's FRR daemons or vtysh are missing.
func CheckFRR() error { return HostFRR.check() }

func (v *FRRVersion) check() error {
	for _, d := range Daemons {
		if _, err := os.Stat(v.HostPath(filepath.Join(FRRDir, d))); err != nil {
			if v.Chrooted() {
				return fmt.Errorf("FRR %s root incomplete (%w): run hack/frr-root.sh trixie", v.Name, err)
			}
			return fmt.Errorf("FRR not installed (%w): apt-get install frr frr-pythontools", err)
		}
	}
	if v.Chrooted() {
		return nil
	}
	if _, err := exec.LookPath("vtysh"); err != nil {
		return fmt.Errorf("vtysh not found (%w): apt-get install frr", err)
	}
	return nil
}

// StartDaemon starts one daemon (again) and waits for its pid file and vty
// socket, so that vtysh can reach it as soon as this returns.
func (f *FRR) StartDaemon(d string) error {
	args := []string{filepath.Join(FRRDir, d), "-N", f.Pathspace, "-d", "-F", "traditional", "-P", "0",
		"--log", "file:" + filepath.Join(f.LogDir, d+".log")}
	if d == "zebra" {
		args = append(args, "-s", "90000000") // netlink buffer for 10k+ routes
	}
	_ = os.Remove(f.pidFile(d))
	if err := f.runDaemon(d, args); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := f.PID(d); err == nil {
			if _, err := os.Stat(filepath.Join(f.RunDir(), d+".vty")); err == nil {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s of %s did not come up in 10s; log:\n%s", d, f.Pathspace, f.readLog(d))
}

// runDaemon runs one daemon's start command with its output in a file: from FRR 10 a daemon
// started with -d keeps its stdout and stderr, and a pipe there would never close.
func (f *FRR) runDaemon(d string, args []string) error {
	outPath := f.Version.HostPath(filepath.Join(f.LogDir, d+".start"))
	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	defer func() { _ = out.Close() }()
	full := append([]string{"ip", "netns", "exec", f.Host.NS}, f.Version.Command(args...)...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(outPath)
		return fmt.Errorf("starting %s in %s: %w\n%s", d, f.Pathspace, err, b)
	}
	return nil
}

func (f *FRR) pidFile(d string) string { return filepath.Join(f.RunDir(), d+".pid") }

// PID returns the running daemon's PID from its pid file, checking that the
// process is alive and really is this instance's daemon (PIDs get reused).
func (f *FRR) PID(d string) (int, error) {
	b, err := os.ReadFile(f.pidFile(d))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid file %s: %q", f.pidFile(d), b)
	}
	if !f.owns(pid, d) {
		return 0, fmt.Errorf("%s of %s (pid %d) is not running", d, f.Pathspace, pid)
	}
	return pid, nil
}

// owns reports whether pid is a live (not zombie) d started with our -N.
func (f *FRR) owns(pid int, d string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	if len(args) < 3 || filepath.Base(args[0]) != d || !containsPair(args, "-N", f.Pathspace) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Field 3 is the state; it follows the ")" closing the command name.
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] != 'Z'
}

func containsPair(args []string, k, v string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == k && args[i+1] == v {
			return true
		}
	}
	return false
}

// KillDaemon sends sig to one daemon, by the PID in its pid file, and for
// SIGKILL/SIGTERM waits until it is gone.
func (f *FRR) KillDaemon(d string, sig syscall.Signal) error {
	pid, err := f.PID(d)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return err
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return nil
	}
	return f.waitGone(pid, d, 5*time.Second)
}

func (f *FRR) waitGone(pid int, d string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !f.owns(pid, d) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s of %s (pid %d) still running after %v", d, f.Pathspace, pid, timeout)
}

// Vtysh runs vtysh against this instance (vtysh talks over the instance's
// Unix sockets, so it needs no `ip netns exec`).
func (f *FRR) Vtysh(args ...string) (string, error) {
	full := append([]string{"-N", f.Pathspace, "--config_dir", f.ConfigDir}, args...)
	cmd := f.Version.Command(append([]string{"vtysh"}, full...)...)
	out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// MustVtysh is Vtysh with each argument as one -c command, failing the test.
func (f *FRR) MustVtysh(cmds ...string) string {
	f.lab.t.Helper()
	var args []string
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := f.Vtysh(args...)
	if err != nil {
		f.lab.t.Fatalf("netlab: %v", err)
	}
	return out
}

// Stop ends the instance's daemons by PID and removes its directories.
func (f *FRR) Stop() {
	f.lab.t.Helper()
	if err := f.stop(); err != nil {
		f.lab.t.Errorf("netlab: %v", err)
	}
}

func (f *FRR) stop() error {
	if f.stopped {
		return nil
	}
	f.stopped = true
	var errs []error
	for _, d := range f.Version.daemons() {
		pid, err := f.PID(d)
		if err != nil {
			continue // never started or already gone
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if f.waitGone(pid, d, 3*time.Second) != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			errs = append(errs, f.waitGone(pid, d, 3*time.Second))
		}
	}
	if f.Version.Chrooted() {
		f.Version.removeStaleTmp()
	}
	errs = append(errs, os.RemoveAll(f.RunDir()), os.RemoveAll(f.Version.HostPath(filepath.Join(f.ConfigDir, f.Pathspace))))
	if inst := f.instanceDir(); inst != "" {
		errs = append(errs, os.RemoveAll(f.Version.HostPath(inst)))
	}
	return errors.Join(errs...)
}

// removeStaleTmp removes FRR's per-process directories (/var/tmp/frr/DAEMON.PID, named after the
// pid before daemonizing) in the shared root whose process and its child are both gone.
func (v *FRRVersion) removeStaleTmp() {
	dirs, _ := filepath.Glob(v.HostPath("/var/tmp/frr/*.*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Ext(d)[1:])
		if err != nil || alive(pid) || alive(pid+1) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// alive: pid is a process that is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] != 'Z'
}

func (f *FRR) readLog(d string) string {
	b, err := os.ReadFile(f.Version.HostPath(filepath.Join(f.LogDir, d+".log")))
	if err != nil {
		return err.Error()
	}
	return string(b)
}
