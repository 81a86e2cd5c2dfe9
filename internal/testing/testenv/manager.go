package testenv

import (
	"context"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// StartManager builds a manager on the API server, lets setup add the reconcilers under test,
// and runs it until the test ends (failing the test if it stops with an error). Fields of opts
// left zero get a test's defaults: env's scheme, no metrics or probe listener, and controller
// name validation off, since one test process builds many managers.
func (e *Env) StartManager(t testing.TB, opts manager.Options, setup func(manager.Manager) error) manager.Manager {
	t.Helper()
	if opts.Scheme == nil {
		opts.Scheme = e.Scheme
	}
	if opts.Metrics.BindAddress == "" {
		opts.Metrics = metricsserver.Options{BindAddress: "0"}
	}
	if opts.HealthProbeBindAddress == "" {
		opts.HealthProbeBindAddress = "0"
	}
	if opts.Controller.SkipNameValidation == nil {
		skip := true
		opts.Controller.SkipNameValidation = &skip
	}
	mgr, err := ctrl.NewManager(e.Config, opts)
	if err != nil {
		t.Fatalf("building the manager: %v", err)
	}
	if setup != nil {
		if err := setup(mgr); err != nil {
			t.Fatalf("setting up the manager: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return mgr
}
