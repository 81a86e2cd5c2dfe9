package main

import (
	"fmt"
	"os"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// setupBGP adds BGP mode to the manager: the reconciler that renders this node's frr.conf (or
// bird.conf with --routing-daemon bird).
func setupBGP(mgr ctrl.Manager, o options, bin binary) error {
	if err := nodeconfig.CheckDaemon(o.RoutingDaemon); err != nil {
		return fmt.Errorf("--routing-daemon: %w", err)
	}
	if err := os.MkdirAll(o.ConfigDir, 0o755); err != nil {
		return fmt.Errorf("--config-dir: %w", err)
	}
	r := &speaker.SpeakerBGPReconciler{
		Client:          mgr.GetClient(),
		Recorder:        mgr.GetEventRecorder("routelb-speaker"),
		NodeName:        o.NodeName,
		Namespace:       o.Namespace,
		LBClass:         o.LBClass,
		IgnoreExcludeLB: o.IgnoreExcludeLB,
		LogLevel:        nodeconfig.LogLevelOf(mgr.GetLogger()),
		ExtrasConfigMap: o.BGPExtras,
		ConfigDir:       o.ConfigDir,
		Daemon:          o.RoutingDaemon,
		Owner:           speaker.PodOwner(o.PodName, o.PodUID),
		APIReader:       mgr.GetAPIReader(),
		Metrics:         bin.Metrics,
		Secrets:         bin.Secrets,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := setupReloaderOutcome(mgr, r, bin.Log); err != nil {
		return err
	}
	return speaker.SetupSpeakerSessions(mgr, r)
}

// setupReloaderOutcome makes /readyz fail while the routing daemon does not run the node's config,
// as the reloader reports it in the shared directory, records each change on the Node, and keeps
// the verdict in the node's ConfigurationState.
func setupReloaderOutcome(mgr ctrl.Manager, r *speaker.SpeakerBGPReconciler, log logr.Logger) error {
	state := controllers.SpeakerConfigState(r.Namespace, r.NodeName, r.Owner)
	o := &speaker.ReloaderOutcome{ConfigDir: r.ConfigDir, Daemon: r.Daemon, NodeName: r.NodeName, Recorder: r.Recorder,
		Metrics: r.Metrics, Log: log.WithName("reloader-outcome").WithValues("node", r.NodeName),
		State: &state, Client: mgr.GetClient()}
	if err := mgr.Add(o); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("routing-config", o.Check)
}
