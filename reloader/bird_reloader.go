package reloader

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/reloader/bird"
)

// BIRDReloader keeps one BIRD running the config in one file: the BIRD mode of the reloader. It
// watches and debounces like Reloader and reports through the same status file and metrics; a
// BIRD restart or a configure made by someone else is noticed through `birdc show status`.
type BIRDReloader struct {
	ConfigPath string        // rendered by the speaker
	StatusDir  string        // status and redacted running config; "" = beside the config
	Debounce   time.Duration // coalescing window after the first change of a burst
	Poll       time.Duration // how often BIRD's status is checked
	Applier    *BIRDApplier
	Log        logr.Logger
	OnApply    func(Result)     // called after every apply attempt (tests, instrumentation)
	Sessions   *SessionReporter // writes daemonfile.SessionsFile into StatusDir while Run runs; nil = none

	seen       bird.Reading // BIRD's status since our last successful apply; zero = none yet
	lastTried  string       // hash of the last file content tried
	waitLogged bool         // "waiting for the first config" was logged
	retry      bool         // last attempt could not reach BIRD
}

// Run applies the config at start and then on every change, BIRD restart or foreign
// reconfiguration, until ctx ends.
func (r *BIRDReloader) Run(ctx context.Context) error {
	if r.StatusDir == "" {
		r.StatusDir = filepath.Dir(r.ConfigPath)
	}
	l := &loop{log: r.Log, configPath: r.ConfigPath, debounce: r.Debounce, poll: r.Poll, sync: r.sync, check: r.check}
	// BIRD's own file may live beside the rendered one; its writes are ours.
	if filepath.Dir(r.Applier.ConfigPath) == filepath.Dir(r.ConfigPath) {
		l.extraOwn = []string{filepath.Base(r.Applier.ConfigPath)}
	}
	if r.Sessions != nil {
		l.startSessions = func(ctx context.Context) {
			r.Sessions.Dir = r.StatusDir
			go r.Sessions.Run(ctx)
		}
	}
	return l.run(ctx)
}

// check re-applies after a BIRD restart, a failed attempt, or a configure that was not ours.
func (r *BIRDReloader) check(ctx context.Context) {
	if r.retry {
		r.sync(ctx, "retry", true)
		return
	}
	if r.seen.At.IsZero() {
		return
	}
	cur, err := r.read(ctx)
	if err != nil {
		// BIRD is down or restarting: its next start shows as a restart.
		r.Log.V(1).Info("BIRD not answering", "error", err.Error())
		return
	}
	switch restarted, reconfigured := bird.Changes(r.seen, cur); {
	case restarted:
		restartsTotal.Inc()
		r.Log.Info("BIRD restarted, re-applying config", "lastReboot", cur.St.LastReboot)
		r.sync(ctx, "bird-restart", true)
	case reconfigured:
		r.Log.Info("BIRD was reconfigured by someone else, re-applying config", "lastReconfiguration", cur.St.LastReconfig)
		r.sync(ctx, "drift", true)
	default:
		r.seen = cur
	}
}

func (r *BIRDReloader) read(ctx context.Context) (bird.Reading, error) {
	start := time.Now()
	st, err := r.Applier.BIRD.Status(ctx)
	d := time.Since(start)
	return bird.Reading{St: st, At: start.Add(d / 2), Unc: d/2 + 2*time.Millisecond}, err
}

// sync applies the file when its content changed (or force is set). A file that is missing or that
// BIRD refuses leaves the last good config running.
func (r *BIRDReloader) sync(ctx context.Context, reason string, force bool) {
	target, err := os.ReadFile(r.ConfigPath)
	if firstNotWritten(err, r.lastTried) {
		logWaiting(r.Log, &r.waitLogged, r.ConfigPath)
		return
	}
	if err != nil {
		r.Log.Error(err, "Cannot read BIRD config, keeping the running one", "path", r.ConfigPath)
		r.finish(reason, Result{Outcome: OutcomeFailed, Err: err})
		return
	}
	h := Hash(target)
	if !force && h == r.lastTried && !r.retry {
		return
	}
	if force && h == r.lastTried && r.Applier.LastGood() != nil && Hash(r.Applier.LastGood()) != h {
		// The file is the one BIRD refused: re-apply the last good one instead.
		target = r.Applier.LastGood()
	}
	r.lastTried = h
	before, err := r.read(ctx)
	if err != nil {
		before = bird.Reading{} // BIRD not up yet: whatever it shows next is after our configure
	}
	res := r.Applier.Apply(ctx, target, force)
	r.retry = res.Outcome == OutcomeFailed && !errors.Is(ctx.Err(), context.Canceled)
	if res.Outcome == OutcomeApplied || res.Outcome == OutcomeUnchanged {
		if cur, ok := r.settled(ctx, before, res.Outcome == OutcomeApplied); ok {
			r.seen = cur
		}
	}
	r.finish(reason, res)
}

// settleTimeout bounds the wait for BIRD to switch to our config. Past it the status is taken as it
// is; if our configure shows up later, check re-applies the same file once, which changes nothing.
const settleTimeout = 10 * time.Second

// settled waits until BIRD shows the configure we just made as its last one: a configure made while
// an earlier one is still in progress is queued, and a reading taken before BIRD switches would make
// our own configure look like someone else's a moment later.
func (r *BIRDReloader) settled(ctx context.Context, before bird.Reading, configured bool) (bird.Reading, bool) {
	deadline := time.Now().Add(settleTimeout)
	for {
		cur, err := r.read(ctx)
		_, reconfigured := bird.Changes(before, cur)
		switched := !configured || before.At.IsZero() || reconfigured
		if err == nil && !cur.St.Reconfiguring && switched || time.Now().After(deadline) {
			return cur, err == nil
		}
		select {
		case <-ctx.Done():
			return cur, false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *BIRDReloader) finish(reason string, res Result) {
	observe(res)
	kv := []any{"reason", reason, "outcome", res.Outcome, "bytes", res.Bytes, "changedLines", res.Commands,
		"duration", res.Duration, "sha256", res.Hash}
	switch res.Outcome {
	case OutcomeApplied:
		r.Log.Info("Applied BIRD config", kv...)
	case OutcomeUnchanged:
		r.Log.V(1).Info("BIRD config unchanged", kv...)
	default:
		r.Log.Error(res.Err, "BIRD config not applied, last good config keeps running", kv...)
	}
	r.report(reason, res)
	if r.OnApply != nil {
		r.OnApply(res)
	}
}

// report writes the running config (BIRD runs exactly the last good file; it has no command to
// print its configuration), then the status file.
func (r *BIRDReloader) report(reason string, res Result) {
	st := daemonfile.Status{Time: time.Now().UTC(), Result: res.Outcome, Reason: reason, FileSHA256: res.Hash,
		Commands: res.Commands, DurationSeconds: res.Duration.Seconds(), ApplySeconds: res.ApplyDuration.Seconds()}
	if res.Err != nil {
		st.Error = res.Err.Error()
	}
	if g := r.Applier.LastGood(); g != nil {
		st.AppliedSHA256 = Hash(g)
		if err := daemonfile.WriteFile(filepath.Join(r.StatusDir, daemonfile.RunningFile), []byte(Scrub(string(g), Secrets(g)))); err != nil {
			r.Log.Error(err, "Cannot write running config", "dir", r.StatusDir)
		}
	}
	if err := daemonfile.WriteJSON(r.StatusDir, daemonfile.StatusFile, st); err != nil {
		r.Log.Error(err, "Cannot write status file", "dir", r.StatusDir)
	}
}
