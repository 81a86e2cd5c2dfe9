package reloader

import (
	"context"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/daemonfile"
)

// Reloader keeps one FRR instance running the config in one file: the FRR mode of the reloader.
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
}

// Backoff bounds for retrying a target that FRR runs differently even after a full reload.
const (
	minDivergedBackoff = time.Second
	maxDivergedBackoff = 5 * time.Minute
)

// Run applies the config at start and then on every change, FRR restart or
// drift, until ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	s := &driver{d: &frrDaemon{r: r}, configPath: r.ConfigPath, statusDir: r.StatusDir, log: r.Log, onApply: r.OnApply}
	return s.run(ctx, r.Debounce, r.Poll, r.Sessions, nil)
}

// frrDaemon is FRR behind the loop: restarts are seen in bgpd's and its kin's pid files, drift by
// reading the running config back every Resync, and a target FRR runs differently even after a
// full reload is retried with exponential backoff.
type frrDaemon struct {
	r           *Reloader
	pids        map[string]int // daemon pids at the last attempt that reached FRR
	refused     string         // hash of the last file FRR's parser refused
	retryAt     time.Time
	backoff     time.Duration // wait before retrying a target that diverged; doubles each time
	lastApplied time.Time
}

func (f *frrDaemon) Describe() (string, string) { return "FRR", "commands" }

func (f *frrDaemon) LastGood() []byte { return f.r.Applier.LastGood() }

// RestoreOnForce: only a file FRR's parser refused is replaced by the last good one; a file that
// could not be applied for another reason is tried again.
func (f *frrDaemon) RestoreOnForce(h, _ string) bool { return h == f.refused }

// Check re-applies after an FRR restart, a failed attempt, or drift.
func (f *frrDaemon) Check(_ context.Context, retry bool) string {
	switch {
	case f.restarted():
		restartsTotal.Inc()
		f.r.Log.Info("FRR restarted, re-applying config", "pids", f.r.Applier.FRR.PIDs())
		return "frr-restart"
	case retry && !time.Now().Before(f.retryAt):
		return "retry"
	case f.r.Resync > 0 && time.Since(f.lastApplied) > f.r.Resync:
		return "drift"
	}
	return ""
}

// restarted reports whether a daemon's pid changed since the last apply.
func (f *frrDaemon) restarted() bool {
	if f.pids == nil {
		return false
	}
	for d, pid := range f.r.Applier.FRR.PIDs() {
		if f.pids[d] != pid {
			return true
		}
	}
	return false
}

func (f *frrDaemon) Apply(ctx context.Context, target []byte, force bool) Result {
	a := f.r.Applier
	if force {
		a.Forget() // FRR may have restarted or drifted: read what it really runs
	}
	pids := a.FRR.PIDs()
	res := a.Apply(ctx, target)
	if res.Outcome == OutcomeInvalid {
		f.refused = res.Hash
	}
	// Whatever the outcome, the pids and time of this attempt are recorded: a failure must not
	// stop restart detection, nor turn every poll into a drift sync.
	f.pids, f.lastApplied = pids, time.Now()
	f.scheduleRetry(&res)
	return res
}

// scheduleRetry: a failure to reach FRR is retried at the next poll; a target that FRR runs
// differently after a full reload, with exponential backoff (each attempt costs a full reload).
func (f *frrDaemon) scheduleRetry(res *Result) {
	divergedGauge.Set(boolFloat(res.Diverged))
	if !res.Diverged {
		f.backoff, f.retryAt = 0, time.Time{}
		return
	}
	f.backoff = min(max(2*f.backoff, minDivergedBackoff), maxDivergedBackoff)
	f.retryAt = time.Now().Add(f.backoff)
	res.RetryIn = f.backoff
}

// Running asks FRR: it prints its running config (vtysh show running-config).
func (f *frrDaemon) Running(ctx context.Context) (string, bool, error) {
	running, err := f.r.Applier.FRR.Running(ctx)
	return running, err == nil, err
}

func (f *frrDaemon) Annotate(st *daemonfile.Status, res Result) {
	st.FRRVersion = f.r.Applier.Rules().Version.String()
	if res.Diverged {
		st.NextRetry = f.retryAt.UTC()
	}
}
