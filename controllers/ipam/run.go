package ipam

import (
	"context"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
)

// campaignAgainAfter is the pause between a lost leader election and the next manager.
const (
	campaignAgainAfter = time.Second
	maxRebuildWait     = 30 * time.Second
)

// RunController runs the controller's manager until ctx ends. A controller-runtime manager that
// loses its leader election (the API server unreachable for longer than the renew deadline) stops
// for good; instead of exiting and leaving recovery to the kubelet (a restart, then crash-loop
// backoff through a long outage), a new manager is built and campaigns again: once the API server
// answers, it re-acquires the Lease and allocation resumes in the same process.
func RunController(ctx context.Context, cfg *rest.Config, o ControllerOptions, log logr.Logger) error {
	mgr, err := NewControllerManager(cfg, o)
	for err == nil {
		err = mgr.Start(ctx)
		if ctx.Err() != nil || err == nil || !leaderLost(err) {
			return err
		}
		log.Info("Leader election lost, campaigning again", "error", err.Error())
		// The next manager registers the same controllers in this process.
		o.SkipNameValidation = true
		mgr, err = rebuild(ctx, cfg, o, log)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// rebuild builds the next manager, which needs the API server (its cache maps the kinds it
// watches): while the server is unreachable it retries, 1 s doubling to at most 30 s.
func rebuild(ctx context.Context, cfg *rest.Config, o ControllerOptions, log logr.Logger) (ctrl.Manager, error) {
	wait := campaignAgainAfter
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		mgr, err := NewControllerManager(cfg, o)
		if err == nil {
			return mgr, nil
		}
		log.Info("Cannot build the controller's manager yet, retrying", "error", err.Error(), "after", wait)
		wait = min(2*wait, maxRebuildWait)
	}
}

// leaderLost recognises controller-runtime's error for a lost leader election (it has no type).
func leaderLost(err error) bool { return strings.Contains(err.Error(), "leader election lost") }
