package reloader

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// FRR is how the reloader reaches one FRR instance: vtysh over the
// instance's Unix sockets, pid files in its runtime directory.
type FRR struct {
	Vtysh     string // vtysh binary
	Pathspace string // FRR's -N; "" is the default instance
	ConfigDir string // vtysh --config_dir ("" = vtysh's default)
	RunDir    string // FRR's runtime root, /var/run/frr
	FrrReload string // frr-reload.py, used for the full-reload fallback
}

// Daemons whose restart means the running config must be re-applied.
var Daemons = []string{"zebra", "bgpd", "bfdd", "staticd"}

func (f *FRR) baseArgs() []string {
	var a []string
	if f.Pathspace != "" {
		a = append(a, "-N", f.Pathspace)
	}
	if f.ConfigDir != "" {
		a = append(a, "--config_dir", f.ConfigDir)
	}
	return a
}

// run runs vtysh and returns stdout; a non-zero exit becomes an error
// carrying stderr and stdout (vtysh reports bad lines on either).
func (f *FRR) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, f.Vtysh, append(f.baseArgs(), args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String() + "\n" + stdout.String())
		return stdout.String(), fmt.Errorf("vtysh %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return stdout.String(), nil
}

// Show runs one vtysh command.
func (f *FRR) Show(ctx context.Context, command string) (string, error) {
	return f.run(ctx, "-c", command)
}

// Running returns `show running-config`.
func (f *FRR) Running(ctx context.Context) (string, error) {
	return f.Show(ctx, "show running-config")
}

// DaemonRunning returns one daemon's own running config (`vtysh -d DAEMON`), without the
// definitions vtysh merges in from the other daemons.
func (f *FRR) DaemonRunning(ctx context.Context, daemon string) (string, error) {
	return f.run(ctx, "-d", daemon, "-c", "show running-config")
}

// Version reads FRR's release from `show version`.
func (f *FRR) Version(ctx context.Context) (Version, error) {
	out, err := f.Show(ctx, "show version")
	if err != nil {
		return Version{}, err
	}
	v := ParseVersion(out)
	if v == (Version{}) {
		return v, fmt.Errorf("no FRR release in `show version`: %q", lastLines(out, 3))
	}
	return v, nil
}

// Validate checks a config file with FRR's own parser without applying it.
func (f *FRR) Validate(ctx context.Context, file string) error {
	_, err := f.run(ctx, "-C", "-f", file)
	return err
}

// ApplyFile applies a file of config commands in one vtysh process. vtysh
// goes on after a rejected line (exit code 2); the caller checks the result.
func (f *FRR) ApplyFile(ctx context.Context, file string) error {
	_, err := f.run(ctx, "-f", file)
	return err
}

// FullReload replaces the running config with file through frr-reload.py.
// frr-reload.py ends with `write`, which would overwrite the operator's
// frr.conf, so it is pointed at a scratch config dir of its own.
func (f *FRR) FullReload(ctx context.Context, file, scratch string) error {
	if _, err := os.Stat(f.FrrReload); err != nil {
		return fmt.Errorf("full reload needs frr-reload.py (frr-pythontools): %w", err)
	}
	confdir := filepath.Join(scratch, "frr-reload")
	sub := filepath.Join(confdir, f.Pathspace)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sub, "vtysh.conf"), []byte("service integrated-vtysh-config\n"), 0o644); err != nil {
		return err
	}
	vtysh, err := exec.LookPath(f.Vtysh)
	if err != nil {
		return err
	}
	args := []string{"--reload", "--stdout", "--confdir", confdir, "--bindir", filepath.Dir(vtysh)}
	if f.Pathspace != "" {
		args = append(args, "-N", f.Pathspace)
	}
	// Run the script itself: its shebang names the Python FRR was packaged for.
	out, err := exec.CommandContext(ctx, f.FrrReload, append(args, file)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("frr-reload.py: %w: %s", err, lastLines(string(out), 20))
	}
	return nil
}

// PIDs reads the daemons' pid files (missing ones are left out). Only the
// files are compared, not /proc: in a pod the sidecar may not see FRR's
// processes, but it shares /var/run/frr.
func (f *FRR) PIDs() map[string]int {
	dir := filepath.Join(f.RunDir, f.Pathspace)
	pids := map[string]int{}
	for _, d := range Daemons {
		b, err := os.ReadFile(filepath.Join(dir, d+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids[d] = pid
		}
	}
	return pids
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
