package speaker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// maxEventNote keeps a daemon's error within what an Event's note may hold (1 kB);
// maxConditionMessage within a condition's message (32 kB).
const (
	maxEventNote        = 900
	maxConditionMessage = 4096
)

// ReloaderOutcome brings the reloader's verdict into the cluster: while the routing daemon refuses
// the node's config, runs something else, or cannot be reached, Check (a /readyz check) fails with
// the reloader's error, and each change of verdict is an event on the Node. Without a status file
// (the reloader has not applied yet, or Layer 2 only) there is no verdict and the check passes.
type ReloaderOutcome struct {
	ConfigDir string
	Daemon    string // frr or bird, for the messages
	NodeName  string
	Recorder  events.EventRecorder
	Interval  time.Duration // 0 = daemonfile.StatusInterval
	Log       logr.Logger
	Metrics   *Metrics // the verdict as a gauge; nil: none
	// State, when set, is the node's ConfigurationState: the verdict is its RoutingConfigApplied
	// condition, written through Client (what `kubectl get configurationstates` shows).
	State  *controllers.ConfigState
	Client client.Client

	mu       sync.Mutex
	verdict  error
	seen     *daemonfile.Status // last status acted on; nil = none yet
	lastCond *metav1.Condition  // the condition last written (nil: none, or it failed); Sync's alone
}

// NeedLeaderElection is false: every node's speaker reports its own reloader.
func (o *ReloaderOutcome) NeedLeaderElection() bool { return false }

// Start reads the status file every Interval until ctx ends.
func (o *ReloaderOutcome) Start(ctx context.Context) error {
	if o.Interval <= 0 {
		o.Interval = daemonfile.StatusInterval
	}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		o.Sync()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check is the /readyz check: the reloader's last verdict.
func (o *ReloaderOutcome) Check(*http.Request) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.verdict
}

// Sync reads the status file once and acts on a changed verdict.
func (o *ReloaderOutcome) Sync() {
	st, err := o.read()
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		// The reloader writes by rename, so this is no half-written file: say so, keep the verdict.
		o.Log.Error(err, "Cannot read the reloader's status", "path", filepath.Join(o.ConfigDir, daemonfile.StatusFile))
		return
	}
	o.mu.Lock()
	cond := o.update(st)
	o.mu.Unlock()
	o.writeCondition(cond)
}

// update acts on a status read and returns the condition it calls for.
func (o *ReloaderOutcome) update(st daemonfile.Status) metav1.Condition {
	prev := o.seen
	o.seen = &st
	o.verdict = verdictOf(o.Daemon, st)
	cond := conditionOf(o.Daemon, st, o.verdict)
	if o.Metrics != nil {
		applied := 0.0
		if st.OK() {
			applied = 1
		}
		o.Metrics.routingConfigApplied.WithLabelValues(o.Daemon).Set(applied)
	}
	if prev != nil && sameVerdict(*prev, st) || prev == nil && st.OK() {
		return cond // nothing new; a first good status is the normal start, not news
	}
	o.report(st)
	return cond
}

// writeCondition sets cond on the node's ConfigurationState when it differs from the one last
// written; a failed write is tried again at the next read of the status.
func (o *ReloaderOutcome) writeCondition(cond metav1.Condition) {
	if o.State == nil || o.lastCond != nil && o.lastCond.Status == cond.Status && o.lastCond.Reason == cond.Reason &&
		o.lastCond.Message == cond.Message {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.State.SetCondition(ctx, o.Client, cond); err != nil {
		o.lastCond = nil
		o.Log.Error(err, "Cannot report the routing daemon's verdict on the ConfigurationState", "name", o.State.Name)
		return
	}
	o.lastCond = &cond
}

// conditionOf is the RoutingConfigApplied condition for a status and its verdict.
func conditionOf(daemon string, st daemonfile.Status, verdict error) metav1.Condition {
	cond := metav1.Condition{Type: v1beta1.ConditionRoutingConfigApplied, Status: metav1.ConditionTrue,
		Reason: "Applied", Message: daemon + " runs the node's config"}
	if verdict == nil {
		return cond
	}
	cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "NotApplied", truncate(verdict.Error(), maxConditionMessage)
	switch {
	case st.Result == daemonfile.OutcomeInvalid:
		cond.Reason = "Refused"
	case st.Diverged:
		cond.Reason = "Diverged"
	}
	return cond
}

func (o *ReloaderOutcome) read() (daemonfile.Status, error) {
	return daemonfile.ReadStatus(o.ConfigDir)
}

// sameVerdict: the same outcome for the same file is one verdict, however often it is retried.
func sameVerdict(a, b daemonfile.Status) bool {
	if a.OK() && b.OK() {
		return true
	}
	return a.Result == b.Result && a.Diverged == b.Diverged && a.FileSHA256 == b.FileSHA256
}

func verdictOf(daemon string, st daemonfile.Status) error {
	switch {
	case st.OK():
		return nil
	case st.Result == daemonfile.OutcomeInvalid:
		return fmt.Errorf("%s refused the node's config, the last good one keeps running: %s", daemon, st.Error)
	case st.Diverged:
		return fmt.Errorf("%s runs another config than the node's, even after a full reload: %s", daemon, st.Error)
	default:
		return fmt.Errorf("the node's config could not be applied to %s (%s): %s", daemon, st.Result, st.Error)
	}
}

// report logs the new verdict and records it on the Node.
func (o *ReloaderOutcome) report(st daemonfile.Status) {
	node := nodeRef(o.NodeName)
	if st.OK() {
		o.Log.Info("Routing daemon runs the node's config again", "result", st.Result, "sha256", st.FileSHA256)
		o.Recorder.Eventf(node, nil, corev1.EventTypeNormal, "RoutingConfigApplied", "ApplyRoutingConfig",
			"%s runs the node's config again (%s)", o.Daemon, st.Result)
		return
	}
	reason := "RoutingConfigNotApplied"
	if st.Result == daemonfile.OutcomeInvalid {
		reason = "RoutingConfigRefused"
	}
	o.Log.Error(o.verdict, "Routing daemon does not run the node's config", "result", st.Result, "reason", st.Reason,
		"sha256", st.FileSHA256)
	o.Recorder.Eventf(node, nil, corev1.EventTypeWarning, reason, "ApplyRoutingConfig", "%s", truncate(o.verdict.Error(), maxEventNote))
	if cm := o.extrasIn(); cm != nil && st.Result == "invalid" {
		// The extras are the one part routelb did not check: say so where their author looks.
		o.Recorder.Eventf(cm, node, corev1.EventTypeWarning, "ExtrasRefused", "ApplyRoutingConfig",
			"%s on node %s refused frr.conf with these extras appended (the last good config keeps running): %s",
			o.Daemon, o.NodeName, truncate(st.Error, maxEventNote-200))
	}
}

// extrasIn is the ConfigMap whose extras the node's current config file carries, nil if none.
func (o *ReloaderOutcome) extrasIn() *corev1.ObjectReference {
	d, err := nodeconfig.DaemonFor(o.Daemon)
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(o.ConfigDir, d.File))
	if err != nil {
		return nil
	}
	_, rest, ok := strings.Cut(string(b), frrtemplates.ExtrasMarker)
	if !ok {
		return nil
	}
	line, _, _ := strings.Cut(rest, "\n")
	ns, name, ok := strings.Cut(strings.TrimSpace(line), "/")
	if !ok {
		return nil
	}
	return &corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: ns, Name: name}
}
