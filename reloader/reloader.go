package reloader

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/daemonfile"
)

// Reloader keeps one FRR instance running the config in one file.
type Reloader struct {
	ConfigPath string
	StatusDir  string        // status and redacted running config; "" = beside the config
	Debounce   time.Duration // coalescing window after the first change of a burst
	Poll       time.Duration // how often FRR restarts (pid files) are checked
	Resync     time.Duration // how often the running config is checked for drift; 0 = never
	Applier    *Applier
	Log        logr.Logger
	OnApply    func(Result)     // called after every apply attempt (tests, instrumentation)
	Sessions   *SessionReporter // writes daemonfile.SessionsFile into StatusDir while Run runs; nil = none

	pids        map[string]int // daemon pids at the last attempt that reached FRR
	lastTried   string         // hash of the last file content tried
	refused     string         // hash of the last file FRR's parser refused
	retry       bool           // last attempt failed: try again at retryAt
	retryAt     time.Time
	backoff     time.Duration // wait before retrying a target that diverged; doubles each time
	lastApplied time.Time
	waitLogged  bool // "waiting for the first config" was logged
}

// Backoff bounds for retrying a target that FRR runs differently even after a full reload.
const (
	minDivergedBackoff = time.Second
	maxDivergedBackoff = 5 * time.Minute
)

// Run applies the config at start and then on every change, FRR restart or
// drift, until ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	if r.StatusDir == "" {
		r.StatusDir = filepath.Dir(r.ConfigPath)
	}
	l := &loop{log: r.Log, configPath: r.ConfigPath, debounce: r.Debounce, poll: r.Poll, sync: r.sync, check: r.check}
	if r.Sessions != nil {
		l.startSessions = func(ctx context.Context) {
			r.Sessions.Dir = r.StatusDir
			go r.Sessions.Run(ctx)
		}
	}
	return l.run(ctx)
}

// check re-applies after an FRR restart, a failed attempt, or drift.
func (r *Reloader) check(ctx context.Context) {
	switch {
	case r.restarted():
		restartsTotal.Inc()
		r.Log.Info("FRR restarted, re-applying config", "pids", r.Applier.FRR.PIDs())
		r.sync(ctx, "frr-restart", true)
	case r.retry && !time.Now().Before(r.retryAt):
		r.sync(ctx, "retry", true)
	case r.Resync > 0 && time.Since(r.lastApplied) > r.Resync:
		r.sync(ctx, "drift", true)
	}
}

// restarted reports whether a daemon's pid changed since the last apply.
func (r *Reloader) restarted() bool {
	if r.pids == nil {
		return false
	}
	now := r.Applier.FRR.PIDs()
	for d, pid := range now {
		if r.pids[d] != pid {
			return true
		}
	}
	return false
}

// sync applies the file when its content changed (or force is set, to
// re-apply the same file after a restart). A file that is missing or that
// FRR refuses leaves the last good config running.
func (r *Reloader) sync(ctx context.Context, reason string, force bool) {
	target, err := os.ReadFile(r.ConfigPath)
	if firstNotWritten(err, r.lastTried) {
		// The speaker starts after this sidecar: no file yet is the normal start, not a failure.
		logWaiting(r.Log, &r.waitLogged, r.ConfigPath)
		return
	}
	if err != nil {
		r.Log.Error(err, "Cannot read FRR config, keeping the running one", "path", r.ConfigPath)
		res := Result{Outcome: OutcomeFailed, Err: err}
		r.report(reason, res, err)
		if r.OnApply != nil {
			r.OnApply(res)
		}
		return
	}
	h := Hash(target)
	if !force && h == r.lastTried && !r.retry {
		return
	}
	if force && h == r.refused && r.Applier.LastGood() != nil && Hash(r.Applier.LastGood()) != h {
		// The file is the one FRR refused: restore the last good one instead.
		target = r.Applier.LastGood()
	}
	r.lastTried = h
	if force {
		r.Applier.Forget() // FRR may have restarted or drifted: read what it really runs
	}
	pids := r.Applier.FRR.PIDs()
	res := r.Applier.Apply(ctx, target)
	if res.Outcome == OutcomeInvalid {
		r.refused = res.Hash
	}
	// Whatever the outcome, the pids and time of this attempt are recorded: a failure must not
	// stop restart detection, nor turn every poll into a drift sync.
	r.pids, r.lastApplied = pids, time.Now()
	r.scheduleRetry(ctx, res)
	observe(res)
	r.logResult(reason, res)
	r.report(reason, res, nil)
	if r.OnApply != nil {
		r.OnApply(res)
	}
}

// scheduleRetry: a failure to reach FRR is retried at the next poll; a target that FRR runs
// differently after a full reload, with exponential backoff (each attempt costs a full reload).
func (r *Reloader) scheduleRetry(ctx context.Context, res Result) {
	r.retry = res.Outcome == OutcomeFailed && !errors.Is(ctx.Err(), context.Canceled)
	divergedGauge.Set(boolFloat(res.Diverged))
	if !res.Diverged {
		r.backoff, r.retryAt = 0, time.Time{}
		return
	}
	r.backoff = min(max(2*r.backoff, minDivergedBackoff), maxDivergedBackoff)
	r.retryAt = time.Now().Add(r.backoff)
}

func (r *Reloader) logResult(reason string, res Result) {
	kv := []any{"reason", reason, "outcome", res.Outcome, "bytes", res.Bytes, "commands", res.Commands,
		"duration", res.Duration, "sha256", res.Hash}
	switch {
	case res.Outcome == OutcomeApplied, res.Outcome == OutcomeFullReload:
		r.Log.Info("Applied FRR config", kv...)
	case res.Outcome == OutcomeUnchanged:
		r.Log.V(1).Info("FRR config unchanged", kv...)
	case res.Diverged && r.backoff > minDivergedBackoff:
		// Reported once, at the first attempt; the retries only at V(1).
		r.Log.V(1).Info("FRR still runs a config that differs from the target", append(kv, "retryIn", r.backoff)...)
	default:
		r.Log.Error(res.Err, "FRR config not applied, last good config keeps running", append(kv, "diverged", res.Diverged)...)
	}
}

// report writes the redacted running config, then the status file (last,
// so that a reader seeing the new status also finds the running config).
func (r *Reloader) report(reason string, res Result, readErr error) {
	if readErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		running, err := r.Applier.FRR.Running(ctx)
		cancel()
		if err == nil {
			secrets := Secrets([]byte(running), r.Applier.LastGood())
			err = daemonfile.WriteFile(filepath.Join(r.StatusDir, daemonfile.RunningFile), []byte(Scrub(running, secrets)))
		}
		if err != nil {
			r.Log.Error(err, "Cannot write running config", "dir", r.StatusDir)
		}
	}
	st := daemonfile.Status{Time: time.Now().UTC(), Result: res.Outcome, Reason: reason, FileSHA256: res.Hash,
		Commands: res.Commands, DurationSeconds: res.Duration.Seconds(), ApplySeconds: res.ApplyDuration.Seconds(),
		Differences: res.Diff, Diverged: res.Diverged, FRRVersion: r.Applier.Rules().Version.String()}
	if res.Diverged {
		st.NextRetry = r.retryAt.UTC()
	}
	if res.Err != nil {
		st.Error = res.Err.Error()
	}
	if g := r.Applier.LastGood(); g != nil {
		st.AppliedSHA256 = Hash(g)
	}
	if err := daemonfile.WriteJSON(r.StatusDir, daemonfile.StatusFile, st); err != nil {
		r.Log.Error(err, "Cannot write status file", "dir", r.StatusDir)
	}
}

// firstNotWritten reports a config file that does not exist yet and never did for this process.
func firstNotWritten(err error, lastTried string) bool {
	return errors.Is(err, fs.ErrNotExist) && lastTried == ""
}

// logWaiting logs once that the reloader waits for the speaker's first file; the file watch
// applies it the moment it appears.
func logWaiting(log logr.Logger, logged *bool, path string) {
	if !*logged {
		log.Info("Waiting for the speaker's first config", "path", path)
		*logged = true
	}
}
