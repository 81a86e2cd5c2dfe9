package speaker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/l2responder/ownership"
)

// L2Announcer is the part of *l2responder.Responder the Layer 2 speaker drives.
type L2Announcer interface {
	SetOwned(map[netip.Addr][]string) error
	Announcing() map[netip.Addr][]string
	Usable() map[string]bool
}

// L2Ownership is the part of *ownership.Engine the Layer 2 speaker drives.
type L2Ownership interface {
	SetVIPs(map[netip.Addr]ownership.VIP)
	Answering() map[netip.Addr]bool
	LiveNodes() map[string]bool
	Started() bool
}

// SpeakerL2Reconciler keeps one node's Layer 2 announcements in line with the cluster: it tells
// the ownership engine which VIPs exist and who may own them, tells the responder what to answer
// for (as soon as the engine's answer changes), and reports ownership in ServiceL2Status objects
// and events on the Services.
type SpeakerL2Reconciler struct {
	Client    client.Client
	Recorder  events.EventRecorder
	NodeName  string
	Namespace string
	LBClass   string
	// IgnoreExcludeLB is --ignore-exclude-lb: the exclusion label no longer withdraws this node.
	IgnoreExcludeLB bool
	Ownership       L2Ownership
	Responder       L2Announcer
	// Owner, when set, is written into each ServiceL2Status this speaker creates (as for BGP).
	Owner *metav1.OwnerReference
	// APIReader reads around the cache (see SpeakerBGPReconciler.APIReader). Nil: Client.
	APIReader client.Reader
	// Metrics as for SpeakerBGPReconciler.Metrics.
	Metrics *Metrics
	// Secrets as for SpeakerBGPReconciler.Secrets (share one store: each refresh is a get per Secret).
	Secrets *SecretStore
	// Log is for what happens outside a reconcile (the engine's OnChange); Reconcile logs through
	// the manager's logger in its context. The zero value discards.
	Log logr.Logger

	wake    chan event.GenericEvent
	events  *pacedEvents   // per-Service events, paced as BGP's (pacedevents.go)
	created createdNotSeen // status objects created, not yet in the cache; used by Reconcile only
	retries backoff

	mu       sync.Mutex
	lastGood *model.Config
	vips     map[netip.Addr]*nodeconfig.L2VIP // latest computed; read by OwnershipChanged
	reported map[netip.Addr]bool              // VIPs whose acquisition was reported with an event
	failed   map[netip.Addr]bool              // owned VIPs reported announceFailed, until they are answered
}

var speakerL2Key = reconcile.Request{NamespacedName: types.NamespacedName{Name: "node-l2"}}

// SetupWithManager watches what the VIPs and their eligible nodes depend on, plus the ownership
// engine's changes.
func (r *SpeakerL2Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.NodeName == "" || r.Ownership == nil || r.Responder == nil {
		return errors.New("the Layer 2 speaker needs a node name, an ownership engine and a responder")
	}
	r.wake = make(chan event.GenericEvent, 1)
	if r.Metrics == nil {
		r.Metrics = unservedMetrics()
	}
	r.events = newPacedEvents(r.Recorder)
	if err := mgr.Add(r.events); err != nil {
		return err
	}
	if r.Secrets == nil {
		var err error
		if r.Secrets, err = NewSecretStore(mgr, r.Namespace, 0); err != nil {
			return err
		}
	}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{speakerL2Key}
	})
	specOnly := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	return ctrl.NewControllerManagedBy(mgr).Named("speaker-l2").
		Watches(&corev1.Service{}, one).
		Watches(&discoveryv1.EndpointSlice{}, one).
		Watches(&corev1.Node{}, one, builder.WithPredicates(predicate.Or(predicate.LabelChangedPredicate{}, networkChanged{}))).
		Watches(&v1beta1.ServiceL2Status{}, one).
		Watches(&v1beta1.IPAddressPool{}, one, specOnly).
		Watches(&v1beta1.L2Advertisement{}, one, specOnly).
		WatchesRawSource(source.Channel(r.wake, one)).
		Complete(controllers.CountUpdates(r))
}

// networkChanged passes Node updates that flip NetworkUnavailable, which decides eligibility.
type networkChanged struct{ predicate.Funcs }

func (networkChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*corev1.Node)
	n, ok2 := e.ObjectNew.(*corev1.Node)
	return ok1 && ok2 && model.NetworkUnavailable(o) != model.NetworkUnavailable(n)
}

// OwnershipChanged is the engine's OnChange: the responder learns at once (no reconcile on the
// path of a take-over), then a reconcile updates status and events.
func (r *SpeakerL2Reconciler) OwnershipChanged(answering map[netip.Addr]bool, _ time.Time) {
	r.mu.Lock()
	owned := ownedInterfaces(answering, r.vips)
	r.mu.Unlock()
	if err := r.Responder.SetOwned(owned); err != nil {
		r.Log.Error(err, "Cannot hand owned VIPs to the responder", "node", r.NodeName)
	}
	if r.wake != nil {
		select {
		case r.wake <- event.GenericEvent{Object: &corev1.Node{}}:
		default:
		}
	}
}

func ownedInterfaces(answering map[netip.Addr]bool, vips map[netip.Addr]*nodeconfig.L2VIP) map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for vip := range answering {
		if v := vips[vip]; v != nil {
			out[vip] = v.Interfaces
		}
	}
	return out
}

// Reconcile recomputes the VIPs, feeds the engine and the responder, and reports.
func (r *SpeakerL2Reconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	log := logf.FromContext(ctx).WithValues("node", r.NodeName)
	in, err := r.load(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	r.mu.Lock()
	res := nodeconfig.ComputeL2(in, r.lastGood)
	r.lastGood, r.vips = res.Config, res.VIPs
	r.mu.Unlock()
	want := make(map[netip.Addr]ownership.VIP, len(res.VIPs))
	for vip, v := range res.VIPs {
		want[vip] = ownership.VIP{Eligible: v.Eligible, Preferred: v.Preferred, Scores: v.Scores, Key: v.Key}
	}
	r.Ownership.SetVIPs(want)
	answering := r.Ownership.Answering()
	r.mu.Lock()
	owned := ownedInterfaces(answering, res.VIPs)
	r.mu.Unlock()
	if err := r.Responder.SetOwned(owned); err != nil {
		return reconcile.Result{}, fmt.Errorf("handing owned VIPs to the responder: %w", err)
	}
	r.reportEvents(in.Services, res.VIPs, answering)
	r.reportAnnounceFailed(in.Services, res.VIPs, answering)
	pending, err := r.syncL2Status(ctx, res.VIPs, answering)
	if errors.Is(err, errRetry) {
		wait := r.retries.next()
		log.V(1).Info("Retrying status writes after a conflict", "after", wait)
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	r.retries.reset()
	r.Metrics.observeL2(r.NodeName, res.VIPs, answering)
	if pending {
		// The responder opens interfaces asynchronously: report them once it has.
		log.V(1).Info("Waiting for the responder to report interfaces")
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	return reconcile.Result{}, nil
}

func (r *SpeakerL2Reconciler) load(ctx context.Context) (nodeconfig.SpeakerInput, error) {
	in, err := controllers.LoadSpeakerInput(ctx, sharedLists{Reader: r.Client, secrets: r.Secrets}, r.Namespace, r.NodeName, r.LBClass)
	in.IgnoreExcludeLB = r.IgnoreExcludeLB
	return in, err
}

// reportEvents sends nodeAssigned (MetalLB's reason) on each Service when this node starts
// answering for one of its VIPs, and nodeReleased when it stops.
func (r *SpeakerL2Reconciler) reportEvents(svcs []corev1.Service, vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) {
	byName := map[types.NamespacedName]*corev1.Service{}
	for i := range svcs {
		byName[types.NamespacedName{Namespace: svcs[i].Namespace, Name: svcs[i].Name}] = &svcs[i]
	}
	r.mu.Lock()
	prev := r.reported
	r.reported = maps.Clone(answering)
	r.mu.Unlock()
	for _, vip := range slices.SortedFunc(maps.Keys(answering), netip.Addr.Compare) {
		if prev[vip] || vips[vip] == nil {
			continue
		}
		for _, s := range vips[vip].Services {
			if svc := byName[s]; svc != nil {
				r.events.serviceEventf(svc, corev1.EventTypeNormal, "nodeAssigned", "AnnounceL2",
					"announcing %s from node %q with protocol \"layer2\"", vip, r.NodeName)
			}
		}
	}
	for vip := range prev {
		if answering[vip] || vips[vip] == nil {
			continue
		}
		for _, s := range vips[vip].Services {
			if svc := byName[s]; svc != nil {
				r.events.serviceEventf(svc, corev1.EventTypeNormal, "nodeReleased", "WithdrawL2",
					"node %q stopped announcing %s", r.NodeName, vip)
			}
		}
	}
}

// reportAnnounceFailed sends MetalLB's announceFailed Warning once for each VIP this node owns whose
// L2Advertisement names only interfaces the node does not have (or cannot answer on), so the VIP
// is answered nowhere; again if it recovers and fails anew.
func (r *SpeakerL2Reconciler) reportAnnounceFailed(svcs []corev1.Service, vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) {
	usable := r.Responder.Usable()
	if usable == nil {
		return // interfaces not listed yet
	}
	byName := map[types.NamespacedName]*corev1.Service{}
	for i := range svcs {
		byName[types.NamespacedName{Namespace: svcs[i].Namespace, Name: svcs[i].Name}] = &svcs[i]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	failed := map[netip.Addr]bool{}
	for _, vip := range slices.SortedFunc(maps.Keys(answering), netip.Addr.Compare) {
		v := vips[vip]
		if v == nil || v.Interfaces == nil || slices.ContainsFunc(v.Interfaces, func(i string) bool { return usable[i] }) {
			continue
		}
		failed[vip] = true
		if r.failed[vip] {
			continue
		}
		for _, s := range v.Services {
			if svc := byName[s]; svc != nil {
				r.events.serviceEventf(svc, corev1.EventTypeWarning, "announceFailed", "AnnounceL2",
					"the interfaces specified by LB IP %q doesn't exist in assigned node %q with protocol %q (%s)",
					vip.String(), r.NodeName, "layer2", strings.Join(v.Interfaces, ","))
			}
		}
	}
	r.failed = failed
}
