package reloader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// Outcomes of one apply, as reported in the status file and metrics.
const (
	OutcomeApplied    = "applied"     // delta applied, running config matches
	OutcomeUnchanged  = "unchanged"   // running config already matched
	OutcomeFullReload = "full-reload" // delta left a mismatch; frr-reload.py fixed it
	OutcomeInvalid    = "invalid"     // FRR's parser refused the file; nothing applied
	OutcomeFailed     = "failed"      // FRR unreachable, or no way to reach the target
)

// Result describes one apply.
type Result struct {
	Outcome  string
	Err      error
	Hash     string // sha256 of the config this apply was for
	Bytes    int
	Commands int // lines in the delta
	Duration time.Duration
	Diff     []string // remaining semantic differences, when any
}

// Applier applies whole target configs to one FRR instance.
type Applier struct {
	FRR     *FRR
	Scratch string // private directory for target/delta files (may hold passwords)
	Log     logr.Logger

	lastGood []byte // last config that FRR accepted and matched
}

// Hash is the sha256 of a config, as reported in the status file.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// LastGood returns the last config that was applied successfully.
func (a *Applier) LastGood() []byte { return a.lastGood }

// Apply validates target with FRR's parser, applies the delta from the
// running config in one vtysh call and checks the outcome; on a mismatch it
// falls back to a full reload, and if even that does not reach the target it
// rolls back to the last good config so nothing stays half-applied.
func (a *Applier) Apply(ctx context.Context, target []byte) (res Result) {
	start := time.Now()
	res = Result{Hash: Hash(target), Bytes: len(target)}
	defer func() { res.Duration = time.Since(start) }()
	file, err := a.writeScratch("target.conf", target)
	if err == nil {
		err = a.FRR.Validate(ctx, file)
		if err != nil {
			res.Outcome, res.Err = OutcomeInvalid, fmt.Errorf("FRR refused the config: %w", err)
			return res
		}
	}
	if err != nil {
		res.Outcome, res.Err = OutcomeFailed, err
		return res
	}
	res.Outcome, res.Commands, res.Err = a.applyDelta(ctx, target, file, &res)
	if res.Outcome != OutcomeFailed {
		a.lastGood = target
	}
	return res
}

func (a *Applier) applyDelta(ctx context.Context, target []byte, file string, res *Result) (string, int, error) {
	running, err := a.FRR.Running(ctx)
	if err != nil {
		return OutcomeFailed, 0, fmt.Errorf("reading running config: %w", err)
	}
	want := Parse(string(target))
	delta := Delta(Parse(running), want)
	if len(delta) == 0 {
		return OutcomeUnchanged, 0, nil
	}
	dfile, err := a.writeScratch("delta.conf", []byte(strings.Join(delta, "\n")+"\n"))
	if err != nil {
		return OutcomeFailed, len(delta), err
	}
	applyErr := a.FRR.ApplyFile(ctx, dfile)
	diff, err := a.diff(ctx, want)
	if err != nil {
		return OutcomeFailed, len(delta), err
	}
	if len(diff) == 0 {
		return OutcomeApplied, len(delta), nil
	}
	a.Log.Info("Running config differs after delta, falling back to full reload",
		"differences", len(diff), "first", diff[0], "vtyshError", errString(applyErr))
	return a.fullReload(ctx, want, file, len(delta), res)
}

func (a *Applier) fullReload(ctx context.Context, want *Block, file string, n int, res *Result) (string, int, error) {
	reloadErr := a.FRR.FullReload(ctx, file, a.Scratch)
	diff, err := a.diff(ctx, want)
	if err != nil {
		return OutcomeFailed, n, err
	}
	if len(diff) == 0 {
		return OutcomeFullReload, n, nil
	}
	res.Diff = diff
	err = fmt.Errorf("running config still differs after full reload (%d lines, first %q): %v",
		len(diff), diff[0], errString(reloadErr))
	return OutcomeFailed, n, errors.Join(err, a.rollback(ctx))
}

// rollback brings FRR back to the last good config after a target that FRR
// parsed but did not accept.
func (a *Applier) rollback(ctx context.Context) error {
	if a.lastGood == nil {
		return nil
	}
	running, err := a.FRR.Running(ctx)
	if err != nil {
		return err
	}
	delta := Delta(Parse(running), Parse(string(a.lastGood)))
	if len(delta) == 0 {
		return nil
	}
	dfile, err := a.writeScratch("rollback.conf", []byte(strings.Join(delta, "\n")+"\n"))
	if err == nil {
		err = a.FRR.ApplyFile(ctx, dfile)
	}
	if err != nil {
		return fmt.Errorf("rolling back to the last good config: %w", err)
	}
	return errors.New("rolled back to the last good config")
}

func (a *Applier) diff(ctx context.Context, want *Block) ([]string, error) {
	running, err := a.FRR.Running(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading running config: %w", err)
	}
	return Compare(want, Parse(running)), nil
}

func (a *Applier) writeScratch(name string, b []byte) (string, error) {
	if err := os.MkdirAll(a.Scratch, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(a.Scratch, name)
	return p, os.WriteFile(p, b, 0o600)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
