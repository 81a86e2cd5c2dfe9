package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Proc is one of routelb's binaries running inside a namespace, as its container would, with its
// output in a log file. `ip netns exec` execs the binary, so Pid is the binary's own PID.
type Proc struct {
	Name string // e.g. "node1/speaker"
	NS   string
	Args []string
	Log  string

	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(name, ns, logPath string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, NS: ns, Args: args, Log: logPath}
	return p, p.start()
}

func (p *Proc) start() error {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, _ = fmt.Fprintf(f, "----- %s start: %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(p.Args, " "))
	cmd := exec.Command("ip", append([]string{"netns", "exec", p.NS}, p.Args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.done) }()
	return nil
}

// Pid is the running process's PID.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Running reports whether the process has not exited.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to this process only (by PID) and, for SIGKILL and SIGTERM, waits until it exited.
func (p *Proc) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return fmt.Errorf("%s (pid %d) is not running", p.Name, p.Pid())
	}
	if err := syscall.Kill(p.Pid(), sig); err != nil {
		return err
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return nil
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 15s after %v", p.Name, p.Pid(), sig)
	}
}

// Restart starts the same command again, after the previous process exited.
func (p *Proc) Restart() error {
	if p.Running() {
		return fmt.Errorf("%s is still running", p.Name)
	}
	return p.start()
}

// Stop ends the process: SIGTERM to its own process group, SIGKILL after a grace period.
func (p *Proc) Stop() {
	if p.cmd == nil || !p.Running() {
		return
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	}
}

// Tail is the end of the process's log.
func (p *Proc) Tail(n int) string {
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func logPath(dir, name string) string {
	return filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".log")
}
