package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// routingDaemon chooses the renderer; main copies package-level flags into its flag set.
var routingDaemon = flag.String("routing-daemon", nodeconfig.DaemonFRR,
	"routing daemon of the sidecar: frr (frr.conf) or bird (bird.conf, BIRD 2), written into --frr-config-dir")

// bgpExtras names the ConfigMap appended to frr.conf; MetalLB's FRR mode reads the same name.
var bgpExtras = flag.String("bgp-extras-configmap", "bgpextras",
	"ConfigMap in --namespace whose \"extras\" key is appended verbatim to frr.conf (MetalLB's bgpextras); empty: none")

// setupBGP adds BGP mode to the manager: the reconciler that renders this node's frr.conf (or
// bird.conf with --routing-daemon bird).
func setupBGP(mgr ctrl.Manager, o options) error {
	if err := nodeconfig.CheckDaemon(*routingDaemon); err != nil {
		return fmt.Errorf("--routing-daemon: %w", err)
	}
	if err := os.MkdirAll(o.FRRConfigDir, 0o755); err != nil {
		return fmt.Errorf("--frr-config-dir: %w", err)
	}
	r := &speaker.SpeakerBGPReconciler{
		Client:          mgr.GetClient(),
		Recorder:        mgr.GetEventRecorder("routelb-speaker"),
		NodeName:        o.NodeName,
		Namespace:       o.Namespace,
		LBClass:         o.LBClass,
		IgnoreExcludeLB: o.IgnoreExcludeLB,
		LogLevel:        nodeconfig.LogLevelOf(mgr.GetLogger()),
		ExtrasConfigMap: *bgpExtras,
		ConfigDir:       o.FRRConfigDir,
		Daemon:          *routingDaemon,
		Owner:           speaker.PodOwner(o.PodName, o.PodUID),
		APIReader:       mgr.GetAPIReader(),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if err := setupReloaderOutcome(mgr, r); err != nil {
		return err
	}
	return speaker.SetupSpeakerSessions(mgr, r)
}

// setupReloaderOutcome makes /readyz fail while the routing daemon does not run the node's config,
// as the reloader reports it in the shared directory, and records each change on the Node.
func setupReloaderOutcome(mgr ctrl.Manager, r *speaker.SpeakerBGPReconciler) error {
	o := &speaker.ReloaderOutcome{ConfigDir: r.ConfigDir, Daemon: r.Daemon, NodeName: r.NodeName, Recorder: r.Recorder,
		Log: mgr.GetLogger().WithName("reloader-outcome").WithValues("node", r.NodeName)}
	if err := mgr.Add(o); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("routing-config", o.Check)
}
