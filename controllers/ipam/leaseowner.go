package ipam

import (
	"context"
	"encoding/json"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// leaseOwner makes the leader's pod the owner of the leader-election Lease, so the garbage
// collector deletes the Lease with the last controller pod (`helm uninstall` leaves nothing
// behind) even when the release namespace outlives the chart. It runs only on the leader and
// checks again every interval: a Lease deleted with an old leader's pod is re-created by
// client-go's election without an owner.
type leaseOwner struct {
	client   client.Client
	reader   client.Reader
	key      types.NamespacedName
	owner    metav1.OwnerReference
	interval time.Duration
	log      logr.Logger
}

// NeedLeaderElection: only the holder may write the Lease.
func (l *leaseOwner) NeedLeaderElection() bool { return true }

func (l *leaseOwner) Start(ctx context.Context) error {
	for {
		if err := l.ensure(ctx); err != nil && ctx.Err() == nil {
			l.log.Info("Cannot set the leader Lease's owner, retrying", "lease", l.key, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.interval):
		}
	}
}

func (l *leaseOwner) ensure(ctx context.Context) error {
	var lease coordinationv1.Lease
	if err := l.reader.Get(ctx, l.key, &lease); err != nil {
		return client.IgnoreNotFound(err)
	}
	for _, o := range lease.OwnerReferences {
		if o.UID == l.owner.UID {
			return nil
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{l.owner}, "resourceVersion": lease.ResourceVersion}})
	if err != nil {
		return err
	}
	// resourceVersion in the patch: never overwrite a renewal that raced with this read.
	return l.client.Patch(ctx, &lease, client.RawPatch(types.MergePatchType, patch))
}
