package reloader

import (
	"context"
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
}

// Run applies the config at start and then on every change, BIRD restart or foreign
// reconfiguration, until ctx ends.
func (r *BIRDReloader) Run(ctx context.Context) error {
	var own []string
	// BIRD's own file may live beside the rendered one; its writes are ours.
	if filepath.Dir(r.Applier.ConfigPath) == filepath.Dir(r.ConfigPath) {
		own = []string{filepath.Base(r.Applier.ConfigPath)}
	}
	s := &driver{d: &birdDaemon{r: r}, configPath: r.ConfigPath, statusDir: r.StatusDir, log: r.Log, onApply: r.OnApply}
	return s.run(ctx, r.Debounce, r.Poll, r.Sessions, own)
}

// birdDaemon is BIRD behind the loop. BIRD cannot print the config it runs, so restarts and
// foreign configures are seen in `show status`, whose times move between two readings.
type birdDaemon struct {
	r    *BIRDReloader
	seen bird.Reading // BIRD's status since our last successful apply; zero = none yet
}

func (b *birdDaemon) Describe() (string, string) { return "BIRD", "changedLines" }

func (b *birdDaemon) LastGood() []byte { return b.r.Applier.LastGood() }

// RestoreOnForce: the file last tried is not running (refused, or BIRD could not be reached), so
// the last good one is configured again.
func (b *birdDaemon) RestoreOnForce(h, lastTried string) bool { return h == lastTried }

// Check re-applies after a BIRD restart, a failed attempt, or a configure that was not ours.
func (b *birdDaemon) Check(ctx context.Context, retry bool) string {
	if retry {
		return "retry"
	}
	if b.seen.At.IsZero() {
		return ""
	}
	cur, err := b.read(ctx)
	if err != nil {
		// BIRD is down or restarting: its next start shows as a restart.
		b.r.Log.V(1).Info("BIRD not answering", "error", err.Error())
		return ""
	}
	switch restarted, reconfigured := bird.Changes(b.seen, cur); {
	case restarted:
		restartsTotal.Inc()
		b.r.Log.Info("BIRD restarted, re-applying config", "lastReboot", cur.St.LastReboot)
		return "bird-restart"
	case reconfigured:
		b.r.Log.Info("BIRD was reconfigured by someone else, re-applying config", "lastReconfiguration", cur.St.LastReconfig)
		return "drift"
	}
	b.seen = cur
	return ""
}

func (b *birdDaemon) read(ctx context.Context) (bird.Reading, error) {
	start := time.Now()
	st, err := b.r.Applier.BIRD.Status(ctx)
	d := time.Since(start)
	return bird.Reading{St: st, At: start.Add(d / 2), Unc: d/2 + 2*time.Millisecond}, err
}

func (b *birdDaemon) Apply(ctx context.Context, target []byte, force bool) Result {
	before, err := b.read(ctx)
	if err != nil {
		before = bird.Reading{} // BIRD not up yet: whatever it shows next is after our configure
	}
	res := b.r.Applier.Apply(ctx, target, force)
	if res.Outcome == OutcomeApplied || res.Outcome == OutcomeUnchanged {
		if cur, ok := b.settled(ctx, before, res.Outcome == OutcomeApplied); ok {
			b.seen = cur
		}
	}
	return res
}

// settleTimeout bounds the wait for BIRD to switch to our config. Past it the status is taken as it
// is; if our configure shows up later, check re-applies the same file once, which changes nothing.
const settleTimeout = 10 * time.Second

// settled waits until BIRD shows the configure we just made as its last one: a configure made while
// an earlier one is still in progress is queued, and a reading taken before BIRD switches would make
// our own configure look like someone else's a moment later.
func (b *birdDaemon) settled(ctx context.Context, before bird.Reading, configured bool) (bird.Reading, bool) {
	deadline := time.Now().Add(settleTimeout)
	for {
		cur, err := b.read(ctx)
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

// Running is the last good file: BIRD runs exactly it, and has no command to print its
// configuration.
func (b *birdDaemon) Running(context.Context) (string, bool, error) {
	g := b.r.Applier.LastGood()
	return string(g), g != nil, nil
}

func (b *birdDaemon) Annotate(*daemonfile.Status, Result) {}
