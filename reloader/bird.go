package reloader

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/reloader/bird"
)

// BIRD is how the reloader reaches one BIRD 2 daemon: birdc over its control socket, and the bird
// binary for parse-only checks (`bird -p`), which need no running daemon.
type BIRD struct {
	Bird   string // bird binary
	Birdc  string // birdc binary
	Socket string // control socket (bird -s); "" = birdc's default
}

// birdc runs one command. With codes, birdc -v prints BIRD's reply codes, which tell errors
// (8xxx, 9xxx) apart from progress messages; show commands are read without them.
func (b *BIRD) birdc(ctx context.Context, codes bool, args ...string) (string, error) {
	var full []string
	if codes {
		full = append(full, "-v")
	}
	if b.Socket != "" {
		full = append(full, "-s", b.Socket)
	}
	cmd := exec.CommandContext(ctx, b.Birdc, append(full, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if codes {
		if err == nil {
			err = bird.ReplyError(text)
		}
		text = bird.StripCodes(text)
	}
	if err != nil {
		return text, fmt.Errorf("birdc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(text))
	}
	return text, nil
}

// Show runs one birdc command, e.g. Show(ctx, "show", "protocols", "all").
func (b *BIRD) Show(ctx context.Context, args ...string) (string, error) {
	return b.birdc(ctx, false, args...)
}

// Validate checks a config file with BIRD's own parser (bird -p) without applying it.
func (b *BIRD) Validate(ctx context.Context, file string) error {
	out, err := exec.CommandContext(ctx, b.Bird, "-p", "-c", file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bird -p: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Configure makes BIRD load file. BIRD compares the new configuration with the running one and
// restarts only the protocols whose options changed; a changed filter only re-exports routes.
func (b *BIRD) Configure(ctx context.Context, file string) error {
	_, err := b.birdc(ctx, true, "configure", `"`+file+`"`)
	return err
}

// Status reads `show status`.
func (b *BIRD) Status(ctx context.Context) (bird.Status, error) {
	out, err := b.birdc(ctx, false, "show", "status")
	if err != nil {
		return bird.Status{}, err
	}
	return bird.ParseStatus(out)
}

// BIRDApplier applies whole configs to one BIRD. BIRD cannot print the configuration it runs, so
// the reloader owns the file BIRD reads (its -c, ConfigPath) and writes there only configs that
// BIRD's parser accepted: a BIRD restart then comes back with the last good config, never with a
// rendered file that was refused.
type BIRDApplier struct {
	BIRD       *BIRD
	ConfigPath string // the file BIRD runs (bird -c)
	Scratch    string // private directory for candidate files (they hold passwords)
	Log        logr.Logger

	lastGood []byte
}

// LastGood returns the last config BIRD accepted.
func (a *BIRDApplier) LastGood() []byte { return a.lastGood }

// Apply brings BIRD to target: parse check with `bird -p`, then write ConfigPath and
// `birdc configure`. Nothing is written when the parser refuses the file; when BIRD refuses it or
// cannot be reached, ConfigPath is put back as it was. force configures even when target is what
// BIRD already runs (after a restart, or to undo a configure made by someone else).
func (a *BIRDApplier) Apply(ctx context.Context, target []byte, force bool) (res Result) {
	start := time.Now()
	res = Result{Hash: Hash(target), Bytes: len(target)}
	// BIRD's parser errors may quote the config: hide its passwords in what leaves Apply.
	secrets := Secrets(target, a.lastGood)
	defer func() {
		res.Duration = time.Since(start)
		res.Err = scrubErr(res.Err, secrets)
	}()
	if !force && a.lastGood != nil && bytes.Equal(a.lastGood, target) {
		res.Outcome = OutcomeUnchanged
		return res
	}
	candidate, err := a.writeScratch("candidate.conf", target)
	if err != nil {
		res.Outcome, res.Err = OutcomeFailed, err
		return res
	}
	if err := a.BIRD.Validate(ctx, candidate); err != nil {
		res.Outcome, res.Err = OutcomeInvalid, fmt.Errorf("BIRD refused the config: %w", err)
		return res
	}
	prev, err := os.ReadFile(a.ConfigPath)
	if err != nil && !os.IsNotExist(err) {
		res.Outcome, res.Err = OutcomeFailed, err
		return res
	}
	res.Commands = bird.ChangedLines(prev, target)
	if err := daemonfile.WriteFile(a.ConfigPath, target); err != nil {
		res.Outcome, res.Err = OutcomeFailed, err
		return res
	}
	err = a.BIRD.Configure(ctx, a.ConfigPath)
	res.ApplyDuration = time.Since(start)
	if err != nil {
		res.Outcome, res.Err = OutcomeFailed, err
		if prev != nil {
			if rerr := daemonfile.WriteFile(a.ConfigPath, prev); rerr != nil {
				res.Err = fmt.Errorf("%w; restoring %s: %w", err, a.ConfigPath, rerr)
			}
		}
		return res
	}
	res.Outcome, a.lastGood = OutcomeApplied, target
	return res
}

func (a *BIRDApplier) writeScratch(name string, b []byte) (string, error) {
	if err := os.MkdirAll(a.Scratch, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(a.Scratch, name)
	return p, os.WriteFile(p, b, 0o600)
}
