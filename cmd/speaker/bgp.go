package main

import (
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/routelb/routelb/controllers"
)

// setupBGP adds BGP mode to the manager: the reconciler that renders this node's frr.conf.
func setupBGP(mgr ctrl.Manager, o options) error {
	if err := os.MkdirAll(o.FRRConfigDir, 0o755); err != nil {
		return fmt.Errorf("--frr-config-dir: %w", err)
	}
	r := &controllers.SpeakerBGPReconciler{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorder("routelb-speaker"),
		NodeName:  o.NodeName,
		Namespace: o.Namespace,
		LBClass:   o.LBClass,
		ConfigDir: o.FRRConfigDir,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	return controllers.SetupSpeakerSessions(mgr, r)
}
