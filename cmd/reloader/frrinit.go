package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// frrInit is PID 1 of the speaker pod's FRR container (`reloader frr-init`). It starts FRR with
// frrinit.sh, which both the upstream image (Alpine) and Debian's frr package ship in
// /usr/lib/frr, and on SIGTERM stops it with `frrinit.sh stop`: bgpd then gets its SIGTERM and
// sends every peer a Cease NOTIFICATION, so a deleted pod closes its sessions instead of leaving
// them to the peers' hold timers. As PID 1 it also reaps the daemons it inherits (a zombie would
// keep frrinit.sh's stop waiting), copies FRR's log file to stdout for `kubectl logs`, and exits
// with an error when watchfrr is gone, so the kubelet restarts the container.
func frrInit(args []string) error {
	fs := flag.NewFlagSet("frr-init", flag.ContinueOnError)
	script := fs.String("frrinit", "/usr/lib/frr/frrinit.sh", "FRR's init script (start, stop)")
	logFile := fs.String("log-file", "/etc/frr/frr.log", "FRR's log file, copied to stdout; empty: none")
	pidFile := fs.String("watchfrr-pid", "/var/run/frr/watchfrr.pid", "watchfrr's pid file, watched for its exit")
	vtysh := fs.String("vtysh", "/usr/bin/vtysh", "vtysh, for shutting BGP down before FRR stops")
	message := fs.String("bgp-shutdown-message", "routelb speaker pod stopping",
		"the shutdown communication (RFC 8203) peers log when the pod stops; empty: no administrative shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	s := &supervisor{sigs: sigs}
	if err := s.run(*script, "start"); err != nil {
		return err
	}
	done := make(chan struct{})
	followed := make(chan struct{})
	go func() { follow(*logFile, os.Stdout, done); close(followed) }()
	defer func() { close(done); <-followed }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for !s.stopping {
		select {
		case sig := <-sigs:
			s.handle(sig)
		case <-tick.C:
			reap(0)
			if !alive(*pidFile) {
				return fmt.Errorf("frr-init: watchfrr (%s) is gone", *pidFile)
			}
		}
	}
	if *message != "" {
		if err := shutdownBGP(execVtysh(*vtysh), *message); err != nil {
			fmt.Fprintf(os.Stderr, "reloader frr-init: BGP shutdown: %v (stopping FRR anyway)\n", err)
		}
	}
	fmt.Fprintln(os.Stderr, "reloader frr-init: stopping FRR")
	return s.run(*script, "stop")
}

// supervisor runs frrinit.sh while reaping every other child; a SIGTERM during a run is kept.
type supervisor struct {
	sigs     chan os.Signal
	stopping bool
	want     int // the pid run waits for
	status   *syscall.WaitStatus
}

func (s *supervisor) handle(sig os.Signal) {
	if sig == syscall.SIGCHLD {
		if st, ok := reap(s.want); ok {
			s.status = &st
		}
		return
	}
	s.stopping = true
}

func (s *supervisor) run(script, action string) error {
	p, err := os.StartProcess(script, []string{script, action}, &os.ProcAttr{Files: []*os.File{nil, os.Stdout, os.Stderr}})
	if err != nil {
		return fmt.Errorf("frr-init: %s %s: %w", script, action, err)
	}
	s.want, s.status = p.Pid, nil
	for s.status == nil {
		// SIGCHLD may have come before want was set: reap once before waiting for the next one.
		if st, ok := reap(s.want); ok {
			s.status = &st
			break
		}
		s.handle(<-s.sigs)
	}
	s.want = 0
	if !s.status.Exited() || s.status.ExitStatus() != 0 {
		return fmt.Errorf("frr-init: %s %s failed (%v)", script, action, *s.status)
	}
	return nil
}

// reap collects every exited child and reports the status of want (0: none) when it was one.
func reap(want int) (syscall.WaitStatus, bool) {
	var found syscall.WaitStatus
	ok := false
	for {
		var st syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &st, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return found, ok
		}
		if want != 0 && pid == want {
			found, ok = st, true
		}
	}
}

// alive reports whether the process of pidFile exists (signal 0).
func alive(pidFile string) bool {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// follow copies what is appended to path to w until done closes, then copies the rest once more
// (FRR's shutdown lines). A shorter file starts again from its beginning.
func follow(path string, w io.Writer, done <-chan struct{}) {
	if path == "" {
		return
	}
	var off int64
	for {
		last := false
		select {
		case <-done:
			last = true
		case <-time.After(250 * time.Millisecond):
		}
		if f, err := os.Open(path); err == nil {
			if st, err := f.Stat(); err == nil && st.Size() < off {
				off = 0
			}
			if _, err := f.Seek(off, io.SeekStart); err == nil {
				n, _ := io.Copy(w, f)
				off += n
			}
			_ = f.Close()
		}
		if last {
			return
		}
	}
}

// shutdownBGP shuts every BGP instance down administratively (`bgp shutdown message ...`), so each
// peer gets a Cease/Administrative Shutdown NOTIFICATION with the message and withdraws the node's
// routes at once. bgpd alone does not do this on SIGTERM when the session negotiated graceful
// restart (FRR's default helper mode): it just closes the TCP connection.
func shutdownBGP(vtysh func(args ...string) (string, error), message string) error {
	running, err := vtysh("-c", "show running-config")
	if err != nil {
		return fmt.Errorf("show running-config: %w: %s", err, running)
	}
	args := []string{"-c", "configure terminal"}
	for _, line := range strings.Split(running, "\n") {
		if strings.HasPrefix(line, "router bgp ") {
			args = append(args, "-c", strings.TrimSpace(line), "-c", "bgp shutdown message "+message, "-c", "exit")
		}
	}
	if len(args) == 2 {
		return nil
	}
	if out, err := vtysh(args...); err != nil {
		return fmt.Errorf("bgp shutdown: %w: %s", err, out)
	}
	return nil
}

// execVtysh runs vtysh with a bound on each call: a hung daemon must not use up the grace period.
func execVtysh(path string) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
		return string(out), err
	}
}
