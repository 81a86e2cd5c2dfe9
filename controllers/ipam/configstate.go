package ipam

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/model"
)

// ConfigStateWriter writes the controller's ConfigurationState ("controller", MetalLB's name and
// labels) from the problems the IPAM found in the pools, the part of the configuration the
// controller uses. Each speaker writes its own for the whole configuration.
type ConfigStateWriter struct {
	IPAM *IPAM
}

var configStateKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "controller"}}

// SetupWithManager registers it: woken by pool changes (after the pool controller loaded them) and
// by its own object, so a deleted one is written again.
func (w *ConfigStateWriter) SetupWithManager(mgr ctrl.Manager, inNS predicate.Predicate) error {
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{configStateKey}
	})
	name := controllers.ControllerConfigState(w.IPAM.Namespace).Name
	return ctrl.NewControllerManagedBy(mgr).Named("ipam-configstate").
		Watches(&v1beta1.IPAddressPool{}, one, builder.WithPredicates(inNS)).
		Watches(&v1beta1.ConfigurationState{}, one, builder.WithPredicates(inNS,
			predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == name }))).
		WithOptions(controller.Options{SkipNameValidation: &w.IPAM.SkipNameValidation}).
		Complete(w)
}

// Reconcile writes the state once the pools of the current generation are loaded.
func (w *ConfigStateWriter) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r := w.IPAM
	var pools v1beta1.IPAddressPoolList
	if err := r.Client.List(ctx, &pools, client.InNamespace(r.Namespace)); err != nil {
		return reconcile.Result{}, err
	}
	r.mu.Lock()
	if err := r.ready(ctx); err != nil {
		r.mu.Unlock()
		return reconcile.Result{}, err
	}
	stale := len(r.loaded) != len(pools.Items) // a deleted pool not unloaded yet
	for _, p := range pools.Items {
		if gen, ok := r.loaded[p.Name]; stale || !ok || gen != p.Generation {
			// Not loaded yet: the pool controller's load is followed by another event (its status).
			r.mu.Unlock()
			return reconcile.Result{RequeueAfter: poolStatusInterval}, nil
		}
	}
	ps := append(model.Problems(nil), r.problems...)
	r.mu.Unlock()
	err := controllers.ControllerConfigState(r.Namespace).Write(ctx, r.Client, ps)
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return reconcile.Result{}, err
}
