package speaker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// TestReloaderOutcomeReachesReadyzAndEvents: the reloader's status file, written with the
// reloader's own type, drives /readyz and the Node's events through a real API server: no file is
// ready, a refused config and a diverged one fail the check with the daemon's error and each makes
// one Warning event, the good config again passes and makes a Normal event. Each verdict is the
// RoutingConfigApplied condition of the node's ConfigurationState, which the BGP reconciler's own
// writes leave in place.
func TestReloaderOutcomeReachesReadyzAndEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	dir := t.TempDir()
	skip := true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	m := unservedMetrics()
	state := controllers.SpeakerConfigState(testenv.Namespace, "node-rs", nil)
	o := &ReloaderOutcome{ConfigDir: dir, Daemon: "frr", NodeName: "node-rs", Recorder: mgr.GetEventRecorder("routelb-speaker"),
		Interval: 50 * time.Millisecond, Log: mgr.GetLogger(), Metrics: m, State: &state, Client: env.Client}
	applied := func(want float64) {
		t.Helper()
		if got := gaugeValue(m.routingConfigApplied.WithLabelValues("frr")); got != want {
			t.Errorf("routelb_speaker_bgp_routing_config_applied %v, want %v", got, want)
		}
	}
	if err := mgr.Add(o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &speakerEnv{t: t, c: env.Client, dir: dir}

	o.Sync()
	if err := o.Check(nil); err != nil {
		t.Fatalf("no status file yet: want ready, got %v", err)
	}
	if n := seriesCount(m.routingConfigApplied); n != 0 {
		t.Errorf("no status file yet: %d routing_config_applied series, want none", n)
	}
	writeReloaderStatus(t, dir, daemonfile.Status{Result: daemonfile.OutcomeApplied, FileSHA256: "a"})
	e.eventually("ready after an apply", func() error { o.Sync(); return o.Check(nil) })
	applied(1)

	writeReloaderStatus(t, dir, daemonfile.Status{Result: daemonfile.OutcomeInvalid, FileSHA256: "b",
		Error: "FRR refused the config: line 3: % Unknown command: router bgp 0"})
	e.eventually("not ready after a refused config", func() error { return wantNotReady(o, "refused", "router bgp 0") })
	waitNodeEvent(e, "node-rs", "RoutingConfigRefused", "router bgp 0")
	applied(0)
	wantStateCondition(e, state, metav1.ConditionFalse, "Refused", "router bgp 0")
	// The BGP reconciler writes the same object's result and ConfigurationValid condition.
	if err := state.Write(context.Background(), env.Client, nil); err != nil {
		t.Fatal(err)
	}
	wantStateCondition(e, state, metav1.ConditionFalse, "Refused", "router bgp 0")
	// The reloader retries the same file: the same verdict, no second event.
	refused := daemonfile.Status{Result: daemonfile.OutcomeInvalid, FileSHA256: "b", Reason: "retry",
		Error: "FRR refused the config: line 3: % Unknown command: router bgp 0"}
	writeReloaderStatus(t, dir, refused)
	o.Sync()

	writeReloaderStatus(t, dir, daemonfile.Status{Result: daemonfile.OutcomeFailed, FileSHA256: "c", Diverged: true,
		Error: "after full reload: running config differs"})
	e.eventually("not ready while diverged", func() error { return wantNotReady(o, "even after a full reload") })
	waitNodeEvent(e, "node-rs", "RoutingConfigNotApplied", "running config differs")
	wantStateCondition(e, state, metav1.ConditionFalse, "Diverged", "running config differs")

	writeReloaderStatus(t, dir, daemonfile.Status{Result: daemonfile.OutcomeFullReload, FileSHA256: "d"})
	e.eventually("ready again", func() error { return o.Check(nil) })
	applied(1)
	waitNodeEvent(e, "node-rs", "RoutingConfigApplied", "again")
	wantStateCondition(e, state, metav1.ConditionTrue, "Applied", "frr runs the node's config")
	if n := countNodeEvents(e, "node-rs", "RoutingConfigRefused"); n != 1 {
		t.Errorf("%d RoutingConfigRefused events for one refused file, want 1", n)
	}
}

// wantStateCondition waits for the ConfigurationState's RoutingConfigApplied condition.
func wantStateCondition(e *speakerEnv, cs controllers.ConfigState, status metav1.ConditionStatus, reason, substr string) {
	e.t.Helper()
	e.eventually("RoutingConfigApplied "+reason+" on "+cs.Name, func() error {
		var st v1beta1.ConfigurationState
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: cs.Namespace, Name: cs.Name}, &st); err != nil {
			return err
		}
		c := meta.FindStatusCondition(st.Status.Conditions, v1beta1.ConditionRoutingConfigApplied)
		if c == nil || c.Status != status || c.Reason != reason || !strings.Contains(c.Message, substr) {
			return fmt.Errorf("condition %+v, want %s %s with %q", c, status, reason, substr)
		}
		return nil
	})
}

func wantNotReady(o *ReloaderOutcome, substrs ...string) error {
	err := o.Check(nil)
	if err == nil {
		return fmt.Errorf("still ready")
	}
	for _, s := range substrs {
		if !strings.Contains(err.Error(), s) {
			return fmt.Errorf("check error %q lacks %q", err.Error(), s)
		}
	}
	return nil
}

// writeReloaderStatus writes the status as the reloader does, with the contract's writer.
func writeReloaderStatus(t *testing.T, dir string, st daemonfile.Status) {
	t.Helper()
	st.Time = time.Now().UTC()
	if err := daemonfile.WriteJSON(dir, daemonfile.StatusFile, st); err != nil {
		t.Fatal(err)
	}
}

func nodeEvents(e *speakerEnv, node, reason string) ([]eventsv1.Event, error) {
	var evs eventsv1.EventList
	if err := e.c.List(context.Background(), &evs); err != nil {
		return nil, err
	}
	var out []eventsv1.Event
	for _, ev := range evs.Items {
		if ev.Regarding.Kind == "Node" && ev.Regarding.Name == node && ev.Reason == reason {
			out = append(out, ev)
		}
	}
	return out, nil
}

func waitNodeEvent(e *speakerEnv, node, reason, substr string) {
	e.t.Helper()
	e.eventually(reason+" event on "+node, func() error {
		evs, err := nodeEvents(e, node, reason)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if strings.Contains(ev.Note, substr) {
				return nil
			}
		}
		return fmt.Errorf("%d %s events, none with %q", len(evs), reason, substr)
	})
}

func countNodeEvents(e *speakerEnv, node, reason string) int {
	e.t.Helper()
	evs, err := nodeEvents(e, node, reason)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		n += max(1, int(ev.DeprecatedCount)) // a repeated event may be counted in place
		if ev.Series != nil {
			n += int(ev.Series.Count) - 1
		}
	}
	return n
}

// TestReloaderOutcomeNamesExtrasConfigMap: when the refused frr.conf carries a ConfigMap's extras,
// the refusal is also an event on that ConfigMap, where whoever wrote the extras looks.
func TestReloaderOutcomeNamesExtrasConfigMap(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	dir := t.TempDir()
	skip := true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	o := &ReloaderOutcome{ConfigDir: dir, Daemon: "frr", NodeName: "node-ex", Recorder: mgr.GetEventRecorder("routelb-speaker"),
		Interval: 50 * time.Millisecond, Log: mgr.GetLogger()}
	if err := mgr.Add(o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &speakerEnv{t: t, c: env.Client, dir: dir}

	conf := "frr defaults traditional\n!\n" + frrtemplates.ExtrasMarker + testenv.Namespace + "/bgpextras\nthis is not FRR\n"
	if err := os.WriteFile(filepath.Join(dir, "frr.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	writeReloaderStatus(t, dir, daemonfile.Status{Result: daemonfile.OutcomeInvalid, FileSHA256: "x",
		Error: "FRR refused the config: line 4: % Unknown command: this is not FRR"})
	e.eventually("an ExtrasRefused event on the ConfigMap", func() error {
		var evs eventsv1.EventList
		if err := e.c.List(context.Background(), &evs); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Regarding.Kind == "ConfigMap" && ev.Regarding.Name == "bgpextras" && ev.Reason == "ExtrasRefused" &&
				strings.Contains(ev.Note, "this is not FRR") && strings.Contains(ev.Note, "node-ex") {
				return nil
			}
		}
		return fmt.Errorf("no ExtrasRefused event on ConfigMap bgpextras among %d events", len(evs.Items))
	})
	waitNodeEvent(e, "node-ex", "RoutingConfigRefused", "this is not FRR")
}

// seriesCount is the number of series c exports.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}
