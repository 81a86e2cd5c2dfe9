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

// Daemon is one routing daemon as the reloader's loop drives it; FRR (Reloader) and BIRD
// (BIRDReloader) each implement it over their applier. The loop owns the file: reading it, waiting
// for the first one, skipping a content already tried, retrying a failure, and reporting.
type Daemon interface {
	// Describe names the daemon in logs ("FRR") and the key under which Result.Commands is logged.
	Describe() (name, commandsKey string)
	// Apply validates target with the daemon's own parser, applies the change (a delta, or a
	// configure), and reads back what the daemon runs. force: the daemon may have restarted or
	// drifted, so what it runs is read again rather than assumed.
	Apply(ctx context.Context, target []byte, force bool) Result
	// LastGood is the last config the daemon accepted and runs; nil before the first.
	LastGood() []byte
	// RestoreOnForce reports whether a forced sync of the file whose hash is h, lastTried the hash
	// last applied, should apply LastGood instead (the file is one the daemon refused).
	RestoreOnForce(h, lastTried string) bool
	// Check is called every poll: the reason to re-apply now ("" = none), retry telling that the
	// last attempt failed.
	Check(ctx context.Context, retry bool) string
	// Running is the config the daemon runs, for RunningFile (secrets not yet hidden); ok false:
	// nothing to show.
	Running(ctx context.Context) (cfg string, ok bool, err error)
	// Annotate adds what only this daemon knows to the status of an attempt.
	Annotate(st *daemonfile.Status, res Result)
}

// driver is the loop's state around one Daemon: what it read and tried, and how it reports.
type driver struct {
	d          Daemon
	configPath string
	statusDir  string
	log        logr.Logger
	onApply    func(Result)

	lastTried  string // hash of the last file content tried
	retry      bool   // last attempt failed: try again (when Check says so)
	waitLogged bool   // "waiting for the first config" was logged
}

// run is the loop around the driver: the watch, the sessions reporter and the polls.
func (s *driver) run(ctx context.Context, debounce, poll time.Duration, sessions *SessionReporter, extraOwn []string) error {
	if s.statusDir == "" {
		s.statusDir = filepath.Dir(s.configPath)
	}
	l := &loop{log: s.log, configPath: s.configPath, extraOwn: extraOwn, debounce: debounce, poll: poll,
		sync: s.sync, check: func(ctx context.Context) {
			if reason := s.d.Check(ctx, s.retry); reason != "" {
				s.sync(ctx, reason, true)
			}
		}}
	if sessions != nil {
		l.startSessions = func(ctx context.Context) {
			sessions.Dir = s.statusDir
			go sessions.Run(ctx)
		}
	}
	return l.run(ctx)
}

// sync applies the file when its content changed (or force is set, to re-apply the same file after
// a restart or drift). A file that is missing or that the daemon refuses leaves the last good
// config running.
func (s *driver) sync(ctx context.Context, reason string, force bool) {
	name, _ := s.d.Describe()
	target, err := os.ReadFile(s.configPath)
	if firstNotWritten(err, s.lastTried) {
		// The speaker starts after this sidecar: no file yet is the normal start, not a failure.
		logWaiting(s.log, &s.waitLogged, s.configPath)
		return
	}
	if err != nil {
		s.log.Error(err, "Cannot read "+name+" config, keeping the running one", "path", s.configPath)
		s.finish(reason, Result{Outcome: OutcomeFailed, Err: err}, false)
		return
	}
	h := Hash(target)
	if !force && h == s.lastTried && !s.retry {
		return
	}
	if good := s.d.LastGood(); force && s.d.RestoreOnForce(h, s.lastTried) && good != nil && Hash(good) != h {
		// The file is the one the daemon refused: re-apply the last good one instead.
		target = good
	}
	s.lastTried = h
	res := s.d.Apply(ctx, target, force)
	s.retry = res.Outcome == OutcomeFailed && !errors.Is(ctx.Err(), context.Canceled)
	s.finish(reason, res, true)
}

func (s *driver) finish(reason string, res Result, applied bool) {
	if applied {
		observe(res)
		s.logResult(reason, res)
	}
	s.report(reason, res, applied)
	if s.onApply != nil {
		s.onApply(res)
	}
}

func (s *driver) logResult(reason string, res Result) {
	name, commandsKey := s.d.Describe()
	kv := []any{"reason", reason, "outcome", res.Outcome, "bytes", res.Bytes, commandsKey, res.Commands,
		"duration", res.Duration, "sha256", res.Hash}
	switch {
	case res.Outcome == OutcomeApplied, res.Outcome == OutcomeFullReload:
		s.log.Info("Applied "+name+" config", kv...)
	case res.Outcome == OutcomeUnchanged:
		s.log.V(1).Info(name+" config unchanged", kv...)
	case res.Diverged && res.RetryIn > minDivergedBackoff:
		// Reported once, at the first attempt; the retries only at V(1).
		s.log.V(1).Info(name+" still runs a config that differs from the target", append(kv, "retryIn", res.RetryIn)...)
	case res.Diverged:
		s.log.Error(res.Err, name+" config not applied, last good config keeps running", append(kv, "diverged", true)...)
	default:
		s.log.Error(res.Err, name+" config not applied, last good config keeps running", kv...)
	}
}

// report writes the redacted running config, then the status file (last, so that a reader seeing
// the new status also finds the running config). After a failed read of the file the daemon was
// not touched: the running config shown stays.
func (s *driver) report(reason string, res Result, applied bool) {
	if applied {
		if err := s.writeRunning(); err != nil {
			s.log.Error(err, "Cannot write running config", "dir", s.statusDir)
		}
	}
	st := daemonfile.Status{Time: time.Now().UTC(), Result: res.Outcome, Reason: reason, FileSHA256: res.Hash,
		Commands: res.Commands, DurationSeconds: res.Duration.Seconds(), ApplySeconds: res.ApplyDuration.Seconds(),
		Differences: res.Diff, Diverged: res.Diverged}
	if res.Err != nil {
		st.Error = res.Err.Error()
	}
	if g := s.d.LastGood(); g != nil {
		st.AppliedSHA256 = Hash(g)
	}
	s.d.Annotate(&st, res)
	if err := daemonfile.WriteJSON(s.statusDir, daemonfile.StatusFile, st); err != nil {
		s.log.Error(err, "Cannot write status file", "dir", s.statusDir)
	}
}

func (s *driver) writeRunning() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	running, ok, err := s.d.Running(ctx)
	if err != nil || !ok {
		return err
	}
	secrets := Secrets([]byte(running), s.d.LastGood())
	return daemonfile.WriteFile(filepath.Join(s.statusDir, daemonfile.RunningFile), []byte(Scrub(running, secrets)))
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
