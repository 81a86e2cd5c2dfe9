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

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/reloader/frr"
)

// Outcomes of one apply, as reported in the status file and metrics (the contract's names).
const (
	OutcomeApplied    = daemonfile.OutcomeApplied
	OutcomeUnchanged  = daemonfile.OutcomeUnchanged
	OutcomeFullReload = daemonfile.OutcomeFullReload
	OutcomeInvalid    = daemonfile.OutcomeInvalid
	OutcomeFailed     = daemonfile.OutcomeFailed
)

// Result describes one apply.
type Result struct {
	Outcome  string
	Err      error
	Hash     string // sha256 of the config this apply was for
	Bytes    int
	Commands int // lines in the delta
	// ApplyDuration ends when the delta has been applied; Duration also
	// covers reading back and comparing the running config.
	ApplyDuration time.Duration
	Duration      time.Duration
	Diff          []string // remaining semantic differences, when any
	// Diverged: FRR accepted the target but still runs something else after a full reload (a
	// difference no rule explains); the reloader reports it and retries with backoff.
	Diverged bool
	// RetryIn: diverged, the wait before the next attempt (the reloader's backoff).
	RetryIn time.Duration
}

// Applier applies whole target configs to one FRR instance.
type Applier struct {
	FRR     *FRR
	Scratch string // private directory for target/delta files (may hold passwords)
	Log     logr.Logger

	lastGood []byte     // last config that FRR accepted and matched
	known    *frr.Block // FRR's running config as last verified; nil = ask FRR
	shapes   frr.Shapes // line shapes FRR's parser accepted
	rules    *frr.Rules // what this FRR release prints differently; nil = ask FRR
	checkOwn bool       // after Forget: bgpd's own view is checked too (see checkOwnView)
}

// Rules returns the normalization rules of the FRR release last read (FRR 8.4's before).
func (a *Applier) Rules() frr.Rules {
	if a.rules == nil {
		return frr.Rules{}
	}
	return *a.rules
}

// readRules reads FRR's release when not known yet (at start, and after Forget: a restarted
// FRR may be another release).
func (a *Applier) readRules(ctx context.Context) error {
	if a.rules != nil {
		return nil
	}
	v, err := a.FRR.Version(ctx)
	if err != nil {
		return fmt.Errorf("reading FRR's version: %w", err)
	}
	r := frr.RulesFor(v)
	a.rules = &r
	a.Log.Info("FRR release", "version", v.String())
	return nil
}

// Hash is the sha256 of a config, as reported in the status file.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// LastGood returns the last config that was applied successfully.
func (a *Applier) LastGood() []byte { return a.lastGood }

// Forget drops the cached view of FRR's running config, so the next apply
// reads it from FRR (after a restart, or to catch changes made by hand).
// bgpd's own view is checked at the next successful apply (a restarted bgpd may lack what
// vtysh's combined view shows).
func (a *Applier) Forget() { a.known, a.rules, a.checkOwn = nil, nil, true }

// Apply brings FRR to target: it computes the delta from the running config
// (the last verified target when known, else read from FRR), validates the
// delta with FRR's own parser (every line of target that FRR does not run
// yet is in it), applies it in one vtysh call, and verifies the running
// config semantically. On a mismatch it retries once from the config FRR
// really runs, then falls back to a full reload; if even that does not reach
// the target it rolls back to the last good config, so nothing stays
// half-applied.
func (a *Applier) Apply(ctx context.Context, target []byte) (res Result) {
	start := time.Now()
	res = Result{Hash: Hash(target), Bytes: len(target)}
	// FRR's errors and the differences quote config lines: what leaves Apply has its passwords
	// (the target's and the last good config's) hidden.
	secrets := Secrets(target, a.lastGood)
	defer func() {
		res.Duration = time.Since(start)
		res.Err, res.Diff = scrubErr(res.Err, secrets), scrubAll(res.Diff, secrets)
	}()
	want := frr.Parse(string(target))
	if err := a.readRules(ctx); err != nil {
		res.Outcome, res.Err = interrupted(ctx, OutcomeFailed, err)
		return res
	}
	cached := a.known != nil
	outcome, err := a.applyDelta(ctx, want, &res, secrets)
	res.ApplyDuration = time.Since(start)
	if err == nil && outcome == OutcomeApplied {
		err = a.verify(ctx, want, &res)
		if err != nil && cached {
			a.Log.Info("Running config was not what was last applied, retrying from FRR's running config", "error", Scrub(err.Error(), secrets))
			if outcome, err = a.applyDelta(ctx, want, &res, secrets); err == nil && outcome == OutcomeApplied {
				err = a.verify(ctx, want, &res)
			}
		}
		if err != nil {
			a.Log.Info("Running config differs after delta, falling back to full reload", "error", Scrub(err.Error(), secrets))
			outcome, err = a.fullReload(ctx, target, want, &res)
		}
	}
	if err == nil && a.checkOwn && (outcome == OutcomeApplied || outcome == OutcomeUnchanged || outcome == OutcomeFullReload) {
		outcome, err = a.checkOwnView(ctx, target, want, outcome, &res)
		if err == nil {
			outcome, err = a.checkBFDAfter(ctx, want, outcome)
		}
	}
	res.Outcome, res.Err = interrupted(ctx, outcome, err)
	res.Diverged = res.Diverged && ctx.Err() == nil
	if outcome == OutcomeApplied || outcome == OutcomeUnchanged || outcome == OutcomeFullReload {
		a.lastGood, a.known = target, want
	}
	return res
}

// interrupted turns the outcome of an apply that ctx ended (the reloader is stopping) into a
// failure saying so: a vtysh killed by the cancel is no verdict of FRR's parser on the config.
func interrupted(ctx context.Context, outcome string, err error) (string, error) {
	if err == nil || ctx.Err() == nil {
		return outcome, err
	}
	return OutcomeFailed, fmt.Errorf("apply interrupted (%w): %w", ctx.Err(), err)
}

// applyDelta validates and applies the delta; it returns OutcomeApplied
// when commands were sent (not yet verified).
func (a *Applier) applyDelta(ctx context.Context, want *frr.Block, res *Result, secrets []string) (string, error) {
	base := a.known
	if base == nil {
		running, err := a.FRR.Running(ctx)
		if err != nil {
			return OutcomeFailed, fmt.Errorf("reading running config: %w", err)
		}
		base = frr.Parse(running)
	}
	a.known = nil // unknown until verified
	delta := a.Rules().Delta(base, want)
	res.Commands = len(delta)
	if len(delta) == 0 {
		a.known = base
		return OutcomeUnchanged, nil
	}
	dfile, err := a.writeScratch("delta.conf", []byte(strings.Join(delta, "\n")+"\n"))
	if err != nil {
		return OutcomeFailed, err
	}
	if err := a.validate(ctx, dfile, delta); err != nil {
		return OutcomeInvalid, err
	}
	if err := a.FRR.ApplyFile(ctx, dfile); err != nil {
		a.Log.Info("vtysh reported errors while applying the delta", "error", Scrub(err.Error(), secrets))
	}
	return OutcomeApplied, nil
}

// validate runs FRR's parser on the delta unless it parsed lines of the
// same shapes before.
func (a *Applier) validate(ctx context.Context, file string, delta []string) error {
	if a.shapes == nil {
		a.shapes = frr.Shapes{}
	}
	if a.shapes.Known(delta) {
		return nil
	}
	if err := a.FRR.Validate(ctx, file); err != nil {
		return fmt.Errorf("FRR refused the config: %w", err)
	}
	a.shapes.Learn(delta)
	return nil
}

// verify compares FRR's running config with the target.
func (a *Applier) verify(ctx context.Context, want *frr.Block, res *Result) error {
	diff, err := a.diff(ctx, want)
	if err != nil {
		return err
	}
	res.Diff = diff
	if len(diff) > 0 {
		return fmt.Errorf("running config differs from target in %d lines, first %q", len(diff), diff[0])
	}
	return nil
}

func (a *Applier) fullReload(ctx context.Context, target []byte, want *frr.Block, res *Result) (string, error) {
	file, err := a.writeScratch("target.conf", target)
	if err != nil {
		return OutcomeFailed, err
	}
	if err := a.FRR.Validate(ctx, file); err != nil {
		return OutcomeInvalid, errors.Join(fmt.Errorf("FRR refused the config: %w", err), a.rollback(ctx))
	}
	reloadErr := a.FRR.FullReload(ctx, file, a.Scratch)
	if err := a.verify(ctx, want, res); err != nil {
		res.Diverged = len(res.Diff) > 0
		err = fmt.Errorf("after full reload: %w (frr-reload.py: %v)", err, errString(reloadErr))
		return OutcomeFailed, errors.Join(err, a.rollback(ctx))
	}
	res.Diff = nil
	return OutcomeFullReload, nil
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
	delta := a.Rules().Delta(frr.Parse(running), frr.Parse(string(a.lastGood)))
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

func (a *Applier) diff(ctx context.Context, want *frr.Block) ([]string, error) {
	running, err := a.FRR.Running(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading running config: %w", err)
	}
	return a.Rules().Compare(want, frr.Parse(running)), nil
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
