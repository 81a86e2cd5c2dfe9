package ipam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/allocator"
	"github.com/routelb/routelb/internal/model"
)

// Event reasons on Services, as MetalLB emits them.
const (
	EventIPAllocated            = "IPAllocated"
	EventAllocationFailed       = "AllocationFailed"
	EventClearAssignment        = "ClearAssignment"
	EventAdditionalAssignFailed = "AdditionalAssignFailed"
	EventDeprecatedAnnotation   = "deprecatedAnnotation"
)

// IPAM gives LoadBalancer Services their addresses. It holds the allocator, which is primed from every
// existing Service's status before it allocates anything, so a restart or a migration from MetalLB
// never moves or duplicates an address.
type IPAM struct {
	Client    client.Client // the manager's cached client
	APIReader client.Reader // uncached reads, for priming and for pools
	Recorder  recorder.EventRecorder
	Namespace string // where the IPAddressPools live
	LBClass   string // the loadBalancerClass handled; empty: only Services without one
	Workers   int
	// SkipNameValidation lets one process run the controllers more than once, as tests that restart do.
	SkipNameValidation bool

	mu       sync.Mutex
	alloc    *allocator.Allocator
	lastGood *model.Config
	problems model.Problems
	failed   map[string]allocator.Reason // Services waiting for an address to free up, and why
	partial  map[string]bool             // Services preferring dual stack still waiting for their second family
	loaded   map[string]int64            // generation of each pool at the last load

	services kicker // requeues Services
	pools    kicker // requeues pool status
}

// SetupWithManager registers the Service controller, the pool controller and the pool status controller.
func (r *IPAM) SetupWithManager(mgr ctrl.Manager) error {
	r.alloc, r.failed, r.loaded = allocator.New(), map[string]allocator.Reason{}, map[string]int64{}
	r.partial = map[string]bool{}
	if r.Workers == 0 {
		r.Workers = 8
	}
	err := ctrl.NewControllerManagedBy(mgr).Named("ipam").
		For(&corev1.Service{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.servicesInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WatchesRawSource(&r.services).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Workers, SkipNameValidation: &r.SkipNameValidation}).
		Complete(controllers.CountUpdates(r))
	if err != nil {
		return err
	}
	inNS := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == r.Namespace })
	err = ctrl.NewControllerManagedBy(mgr).Named("ipam-pools").
		For(&v1beta1.IPAddressPool{}, builder.WithPredicates(inNS, predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{SkipNameValidation: &r.SkipNameValidation}).
		Complete(controllers.CountUpdates(reconcile.Func(r.reconcilePools)))
	if err != nil {
		return err
	}
	if err := (&ConfigStateWriter{IPAM: r}).SetupWithManager(mgr, inNS); err != nil {
		return err
	}
	return (&PoolStatus{IPAM: r}).SetupWithManager(mgr, inNS)
}

// handles reports whether the Service is a LoadBalancer of our class, by the rule the speakers
// use (model.Announces), so the controller allocates exactly for the Services they announce.
func (r *IPAM) handles(svc *corev1.Service) bool { return model.Announces(svc, r.LBClass) }

// ready primes the allocator once: pools first, then every existing Service's addresses, oldest
// Service first, all read straight from the API server so nothing is missed. Callers hold r.mu.
func (r *IPAM) ready(ctx context.Context) error {
	if r.alloc.Primed() {
		return nil
	}
	logger := log.FromContext(ctx)
	if err := r.loadPools(ctx); err != nil {
		return err
	}
	var svcs corev1.ServiceList
	if err := r.APIReader.List(ctx, &svcs); err != nil {
		return fmt.Errorf("listing Services to prime the allocator: %w", err)
	}
	items := svcs.Items
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i].CreationTimestamp, items[j].CreationTimestamp
		if !a.Equal(&b) {
			return a.Before(&b)
		}
		return allocator.Key(&items[i]) < allocator.Key(&items[j])
	})
	primed := 0
	for i := range items {
		svc := &items[i]
		ips := allocator.StatusIPs(svc)
		if !r.handles(svc) || len(ips) == 0 {
			continue
		}
		req, _ := allocator.FromService(svc, nil)
		if err := r.alloc.Prime(req, ips); err != nil {
			logger.Info("Not keeping a Service's status address", "service", req.Key, "reason", err.Error())
			continue
		}
		primed++
	}
	r.alloc.MarkPrimed()
	logger.Info("Primed the allocator from Service statuses", "services", len(items), "primed", primed)
	return nil
}

// loadPools reads the pools from the API server (never from a possibly older cache, which could make
// Services lose addresses of a pool the allocator already knows) and hands the valid ones to the
// allocator. It returns the Services that lost their addresses. Callers hold r.mu.
func (r *IPAM) loadPools(ctx context.Context) error {
	var list v1beta1.IPAddressPoolList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(r.Namespace)); err != nil {
		return fmt.Errorf("listing IPAddressPools: %w", err)
	}
	clear(r.loaded)
	for i := range list.Items {
		r.loaded[list.Items[i].Name] = list.Items[i].Generation
	}
	cfg, ps := model.Build(model.Input{Pools: list.Items}, r.lastGood)
	r.lastGood, r.problems = cfg, ps
	controllers.ObserveConfig(len(ps))
	lost := r.alloc.SetPools(cfg.Pools)
	if len(lost) > 0 {
		log.FromContext(ctx).Info("Services lost their addresses to a pool change", "services", lost)
	}
	return nil
}

// reconcilePools reloads every pool on any pool change and requeues every Service: some lost their
// address, some may now fit where they did not.
func (r *IPAM) reconcilePools(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	wasPrimed := r.alloc.Primed()
	err := r.ready(ctx)
	if err == nil && wasPrimed {
		err = r.loadPools(ctx)
	}
	dirty := r.alloc.TakeDirty()
	r.mu.Unlock()
	if err != nil {
		return reconcile.Result{}, err
	}
	r.kickPools(dirty)
	var svcs corev1.ServiceList
	if err := r.Client.List(ctx, &svcs); err != nil {
		return reconcile.Result{}, err
	}
	reqs := make([]reconcile.Request, 0, len(svcs.Items))
	for i := range svcs.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&svcs.Items[i])})
	}
	r.services.add(reqs...)
	return reconcile.Result{}, nil
}

func (r *IPAM) kickPools(names []string) {
	reqs := make([]reconcile.Request, len(names))
	for i, n := range names {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: n}}
	}
	r.pools.add(reqs...)
}

func (r *IPAM) servicesInNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	var svcs corev1.ServiceList
	if err := r.Client.List(ctx, &svcs, client.InNamespace(o.GetName())); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(svcs.Items))
	for i := range svcs.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&svcs.Items[i])})
	}
	return out
}

// Reconcile gives one Service the addresses it should have and writes them to its status.
func (r *IPAM) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	key := req.Namespace + "/" + req.Name
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, r.release(ctx, key)
	}
	if !r.handles(&svc) {
		if err := r.release(ctx, key); err != nil {
			return reconcile.Result{}, err
		}
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			return retryConflict(ctx, r.write(ctx, &svc, allocator.Result{}))
		}
		return reconcile.Result{}, nil // another controller's class: its status is not ours to touch
	}
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, types.NamespacedName{Name: svc.Namespace}, &ns); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	areq, err := allocator.FromService(&svc, ns.Labels)
	res, freed, err := r.ensure(ctx, areq, allocator.StatusIPs(&svc), err)
	if freed {
		r.retryFailed()
	}
	if res.Cleared != "" {
		log.FromContext(ctx).Info("Current IP not allowed by config, clearing", "service", key, "reason", res.Cleared)
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeNormal, EventClearAssignment, "Allocate",
			"current IP for %q not allowed by config, will attempt for new IP assignment: %s", key, res.Cleared)
	}
	if res.AdditionalFailed != "" {
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeNormal, EventAdditionalAssignFailed, "Allocate",
			"cannot assign additional IP in PreferDualStack: %s", res.AdditionalFailed)
	}
	if err != nil {
		var aerr *allocator.Error
		if !errors.As(err, &aerr) {
			return reconcile.Result{}, err
		}
		log.FromContext(ctx).Info("Allocation failed", "service", key, "reason", aerr.Reason, "message", aerr.Message)
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeWarning, EventAllocationFailed, "Allocate",
			"Failed to allocate IP for %q: %s: %s", key, aerr.Reason, aerr.Message)
		return retryConflict(ctx, r.write(ctx, &svc, allocator.Result{}))
	}
	had := allocator.StatusIPs(&svc)
	if err := r.write(ctx, &svc, res); err != nil {
		return retryConflict(ctx, err)
	}
	if !slices.Equal(had, res.IPs) {
		log.FromContext(ctx).Info("Assigned IP", "service", key, "ips", res.IPs, "pool", res.Pool)
		r.Recorder.Eventf(&svc, nil, corev1.EventTypeNormal, EventIPAllocated, "Allocate",
			"Assigned IP %s", res.String())
		r.warnDeprecated(&svc)
	}
	return reconcile.Result{}, nil
}

// warnDeprecated reports each metallb.universe.tf annotation the Service uses, as MetalLB does: only
// when there was something to do for the Service, so a steady Service is not reported again and again.
func (r *IPAM) warnDeprecated(svc *corev1.Service) {
	for _, k := range slices.Sorted(maps.Keys(svc.Annotations)) {
		if strings.HasPrefix(k, allocator.DeprecatedAnnotationPrefix) {
			r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, EventDeprecatedAnnotation, "Allocate",
				"Service uses deprecated annotation %s", k)
		}
	}
}

// retryConflict requeues quietly when a write lost a race with a newer version of the Service, which
// happens when the cache lags our own previous write; the allocator already holds the decision.
func retryConflict(ctx context.Context, err error) (reconcile.Result, error) {
	if err == nil {
		return reconcile.Result{}, nil
	}
	if apierrors.IsConflict(errors.Unwrap(err)) || apierrors.IsConflict(err) {
		log.FromContext(ctx).V(1).Info("Service changed while writing; retrying", "error", err.Error())
		return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return reconcile.Result{}, err
}

// ensure runs the allocator under the lock, priming it first if needed.
func (r *IPAM) ensure(ctx context.Context, req allocator.Request, status []netip.Addr, reqErr error) (allocator.Result, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ready(ctx); err != nil {
		return allocator.Result{}, false, err
	}
	before, held := r.alloc.Get(req.Key)
	var res allocator.Result
	err := reqErr
	if err != nil {
		r.alloc.Release(req.Key)
	} else {
		res, err = r.alloc.Ensure(req, status)
	}
	if err != nil {
		r.noteFailure(req.Key, err)
	} else {
		delete(r.failed, req.Key)
	}
	if res.AdditionalFailed != "" {
		r.partial[req.Key] = true
	} else {
		delete(r.partial, req.Key)
	}
	freed := held && !slices.Equal(before.IPs, res.IPs)
	r.kickPools(r.alloc.TakeDirty())
	return res, freed, err
}

// noteFailure counts a Service's failure once, not once per reconcile: a failing Service is
// reconciled again on every change to it and on every retry, and still fails for the same reason.
func (r *IPAM) noteFailure(key string, err error) {
	var reason allocator.Reason
	var aerr *allocator.Error
	if errors.As(err, &aerr) {
		reason = aerr.Reason
	}
	if before, was := r.failed[key]; reason != "" && (!was || before != reason) {
		allocationFailures.WithLabelValues(string(reason)).Inc()
	}
	r.failed[key] = reason
}

func (r *IPAM) release(ctx context.Context, key string) error {
	r.mu.Lock()
	if err := r.ready(ctx); err != nil {
		r.mu.Unlock()
		return err
	}
	_, held := r.alloc.Get(key)
	r.alloc.Release(key)
	delete(r.failed, key)
	delete(r.partial, key)
	r.kickPools(r.alloc.TakeDirty())
	r.mu.Unlock()
	if held {
		log.FromContext(ctx).Info("Released IP", "service", key)
		r.retryFailed()
	}
	return nil
}

// retryFailed requeues the Services that found no address, and those preferring dual stack that
// miss a family, now that one was freed (MetalLB reprocesses every Service then).
func (r *IPAM) retryFailed() {
	r.mu.Lock()
	reqs := make([]reconcile.Request, 0, len(r.failed)+len(r.partial))
	for _, k := range append(slices.Collect(maps.Keys(r.failed)), slices.Collect(maps.Keys(r.partial))...) {
		ns, name, _ := strings.Cut(k, "/")
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	}
	r.mu.Unlock()
	r.services.add(reqs...)
}

// write makes the Service's pool annotation and status show res (nothing, when res is empty). Both
// patches carry the resourceVersion, so a write based on a stale read fails and is retried.
func (r *IPAM) write(ctx context.Context, svc *corev1.Service, res allocator.Result) error {
	wantPool := res.Pool
	if svc.Annotations[allocator.AnnotationAllocatedFrom] != wantPool {
		orig := svc.DeepCopy()
		if wantPool == "" {
			delete(svc.Annotations, allocator.AnnotationAllocatedFrom)
		} else {
			if svc.Annotations == nil {
				svc.Annotations = map[string]string{}
			}
			svc.Annotations[allocator.AnnotationAllocatedFrom] = wantPool
		}
		if err := r.Client.Patch(ctx, svc, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("annotating Service: %w", err)
		}
	}
	if slices.Equal(allocator.StatusIPs(svc), res.IPs) && len(svc.Status.LoadBalancer.Ingress) == len(res.IPs) {
		return nil
	}
	orig := svc.DeepCopy()
	svc.Status.LoadBalancer.Ingress = nil
	for _, ip := range res.IPs {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip.String()})
	}
	if err := r.Client.Status().Patch(ctx, svc, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing Service status: %w", err)
	}
	return nil
}
