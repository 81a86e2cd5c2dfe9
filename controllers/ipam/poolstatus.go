package ipam

import (
	"context"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/model"
)

// ConditionValid says whether a pool is part of the configuration; when False its message is the problem.
const ConditionValid = "Valid"

// poolStatusInterval is the shortest time between two status writes of one pool: under churn the counts
// change with every Service, and the API server need not see each step.
const poolStatusInterval = time.Second

// PoolStatus writes each IPAddressPool's address counts and validity, and the allocator's metrics.
type PoolStatus struct {
	IPAM *IPAM

	mu   sync.Mutex
	last map[string]time.Time
}

// SetupWithManager registers the controller; it is woken by pool changes and by the allocator.
func (p *PoolStatus) SetupWithManager(mgr ctrl.Manager, inNS predicate.Predicate) error {
	p.last = map[string]time.Time{}
	return ctrl.NewControllerManagedBy(mgr).Named("ipam-poolstatus").
		For(&v1beta1.IPAddressPool{}, builder.WithPredicates(inNS)).
		WatchesRawSource(&p.IPAM.pools).
		WithOptions(controller.Options{SkipNameValidation: &p.IPAM.SkipNameValidation}).
		Complete(p)
}

// Reconcile writes one pool's status.
func (p *PoolStatus) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pool v1beta1.IPAddressPool
	if err := p.IPAM.Client.Get(ctx, req.NamespacedName, &pool); err != nil {
		if apierrors.IsNotFound(err) {
			addressesTotal.DeleteLabelValues(req.Name)
			addressesInUse.DeleteLabelValues(req.Name)
			deleteMetalLBPool(req.Name)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if wait := p.throttle(req.Name); wait > 0 {
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	r := p.IPAM
	r.mu.Lock()
	if err := r.ready(ctx); err != nil {
		r.mu.Unlock()
		return reconcile.Result{}, err
	}
	if gen, ok := r.loaded[pool.Name]; !ok || gen != pool.Generation {
		// The pool controller has not loaded this version yet; counts and validity would be stale.
		r.mu.Unlock()
		return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	counts, inModel := r.alloc.Counts(pool.Name)
	var own []string
	for _, pr := range r.problems {
		if pr.Object == (model.Ref{Kind: model.KindPool, Name: pool.Name}) {
			own = append(own, pr.Error())
		}
	}
	r.mu.Unlock()

	addressesTotal.WithLabelValues(pool.Name).Set(float64(counts.Total()))
	addressesInUse.WithLabelValues(pool.Name).Set(float64(counts.InUse()))
	observeMetalLBPool(pool.Name, counts)
	st := pool.Status.DeepCopy()
	st.AssignedIPv4, st.AssignedIPv6 = counts.AssignedIPv4, counts.AssignedIPv6
	st.AvailableIPv4, st.AvailableIPv6 = counts.AvailableIPv4, counts.AvailableIPv6
	cond := metav1.Condition{Type: ConditionValid, Status: metav1.ConditionTrue, Reason: "Valid",
		Message: "the pool is in use", ObservedGeneration: pool.Generation}
	switch {
	case len(own) > 0 && inModel:
		cond.Status, cond.Reason = metav1.ConditionFalse, "InvalidKeptLastGood"
		cond.Message = strings.Join(own, "; ") + "; the last valid version stays in use"
	case len(own) > 0 || !inModel:
		cond.Status, cond.Reason = metav1.ConditionFalse, "Invalid"
		cond.Message = strings.Join(own, "; ") + "; the pool gives out no addresses"
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	if equality.Semantic.DeepEqual(*st, pool.Status) {
		return reconcile.Result{}, nil
	}
	pool.Status = *st
	if err := r.Client.Status().Update(ctx, &pool); err != nil {
		return reconcile.Result{}, err
	}
	p.mu.Lock()
	p.last[pool.Name] = time.Now()
	p.mu.Unlock()
	return reconcile.Result{}, nil
}

func (p *PoolStatus) throttle(name string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.last[name]; ok {
		if d := poolStatusInterval - time.Since(t); d > 0 {
			return d
		}
	}
	return 0
}
