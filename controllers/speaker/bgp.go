package speaker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// SpeakerBGPReconciler keeps one node's frr.conf, ServiceBGPStatus objects, problem reports and
// metrics in line with the cluster. It is level-driven: every watched change enqueues the same key
// and the whole node configuration is recomputed.
type SpeakerBGPReconciler struct {
	Client    client.Client
	Recorder  events.EventRecorder
	NodeName  string
	Namespace string // where the metallb.io objects and Secrets live
	LBClass   string
	// IgnoreExcludeLB is --ignore-exclude-lb: the exclusion label no longer withdraws this node.
	IgnoreExcludeLB bool
	// LogLevel is the speaker's log level, which FRR follows (nodeconfig.FRRLogLevel).
	LogLevel string
	// ExtrasConfigMap names the ConfigMap (in Namespace) whose "extras" key is appended to frr.conf,
	// as MetalLB's bgpextras; empty: none.
	ExtrasConfigMap string
	ConfigDir       string
	// Daemon is the routing daemon the config is rendered for: nodeconfig.DaemonFRR (also when empty, frr.conf)
	// or nodeconfig.DaemonBIRD (bird.conf).
	Daemon string
	// Owner, when set, is written into each ServiceBGPStatus this speaker creates (its pod), so the
	// garbage collector deletes them with it. An object of a previous pod goes with that pod, and the
	// deletion's event has this speaker create its own.
	Owner *metav1.OwnerReference
	// APIReader reads around the cache: a status object this speaker created and its cache does
	// not show yet is looked up there before creating another. Nil: Client.
	APIReader client.Reader
	// Metrics are updated at each reconcile (NewMetrics on the binary's registry). Nil: counted
	// on a registry of their own that nobody serves.
	Metrics *Metrics
	// Secrets holds the Secrets the BGPPeers name (the speaker does not cache Secrets). Nil: a
	// store of its own, refreshed every DefaultSecretRefresh.
	Secrets *SecretStore

	mu        sync.Mutex
	created   createdNotSeen // status objects created, not yet in the cache
	retries   backoff        // status writes failing in a row
	lastGood  *model.Config
	reported  map[string]bool               // problems already sent as events, so each is reported once
	announced map[string]bool               // Services announced at the last reconcile, for events
	lastNode  atomic.Pointer[model.NodeBGP] // the last node model's sessions (NodeBGP.Sessions), for the session reporter
	events    *pacedEvents                  // per-Service events, paced (pacedevents.go)
	write     writeHealth                   // last write of the config file, for /readyz
}

// ConfigFileCheck is the /readyz check "config-file": it fails while the node's config file
// cannot be written.
func (r *SpeakerBGPReconciler) ConfigFileCheck(req *http.Request) error { return r.write.Check(req) }

var speakerKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "node-bgp"}}

// SetupWithManager watches everything the node's configuration depends on.
func (r *SpeakerBGPReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.NodeName == "" || r.ConfigDir == "" {
		return errors.New("the BGP speaker needs a node name and an FRR config directory")
	}
	if r.Metrics == nil {
		r.Metrics = unservedMetrics()
	}
	if err := mgr.AddReadyzCheck("config-file", r.ConfigFileCheck); err != nil {
		return err
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
		return []reconcile.Request{speakerKey}
	})
	// A peer's event (old and new object alike) forgets its Secret, so the reconcile reads it anew.
	peerChanged := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		if p, ok := o.(*v1beta2.BGPPeer); ok {
			r.Secrets.Forget(p.Spec.PasswordSecret.Name)
		}
		return []reconcile.Request{speakerKey}
	})
	// Status writes (ours included) do not change generation; spec edits do.
	specOnly := builder.WithPredicates(predicate.GenerationChangedPredicate{})
	b := ctrl.NewControllerManagedBy(mgr).Named("speaker-bgp").
		Watches(&corev1.Service{}, one).
		Watches(&discoveryv1.EndpointSlice{}, one).
		// The Secrets BGPPeers name: no watch (the speaker may only get them), the store's refresh.
		WatchesRawSource(source.Channel(r.Secrets.Subscribe(), one)).
		Watches(&v1beta2.BGPPeer{}, peerChanged, specOnly).
		Watches(&corev1.ConfigMap{}, one, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return r.ExtrasConfigMap != "" && o.GetName() == r.ExtrasConfigMap
		}))).
		// Node heartbeats would wake us every few seconds; only labels (selectors, exclusion) and the
		// NetworkUnavailable condition matter.
		Watches(&corev1.Node{}, one, builder.WithPredicates(predicate.Or(predicate.LabelChangedPredicate{}, networkChanged{}))).
		Watches(&v1beta1.ServiceBGPStatus{}, one).
		// A deleted ConfigurationState is written again.
		Watches(&v1beta1.ConfigurationState{}, one, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetName() == controllers.SpeakerConfigState(r.Namespace, r.NodeName, nil).Name
		})))
	for _, obj := range []client.Object{&v1beta1.IPAddressPool{}, &v1beta1.BGPAdvertisement{},
		&v1beta1.BFDProfile{}, &v1beta1.Community{}, &v1beta1.L2Advertisement{}} {
		b = b.Watches(obj, one, specOnly)
	}
	return b.Complete(controllers.CountUpdates(r))
}

// SpeakerCacheOptions limits the manager's cache to what the speaker reads: metallb.io objects and
// ConfigMaps of its namespace only, and only this node's ServiceBGPStatus objects; what it stores is
// trimmed to what the speaker reads (cachetransform.go). Secrets are not cached at all
// (SpeakerClientOptions, SecretStore).
func SpeakerCacheOptions(namespace, node string) cache.Options {
	ns := map[string]cache.Config{namespace: {}}
	return withTransforms(cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}:         {Namespaces: ns},
		&v1beta1.IPAddressPool{}:    {Namespaces: ns},
		&v1beta2.BGPPeer{}:          {Namespaces: ns},
		&v1beta1.BGPAdvertisement{}: {Namespaces: ns},
		&v1beta1.L2Advertisement{}:  {Namespaces: ns},
		&v1beta1.BFDProfile{}:       {Namespaces: ns},
		&v1beta1.Community{}:        {Namespaces: ns},
		&v1beta1.ServiceBGPStatus{}: {Namespaces: ns, Label: nodeSelector(node)},
		// Only this node's ConfigurationState.
		&v1beta1.ConfigurationState{}: {Namespaces: ns, Label: labels.SelectorFromSet(labels.Set{v1beta1.LabelNodeName: node})},
		// Every node's, not only ours: a live speaker deletes the objects of a dead node.
		&v1beta1.ServiceL2Status{}: {Namespaces: ns},
	}})
}

// SpeakerClientOptions keeps Secrets out of the manager's cache: a cached read of one would start an
// informer that lists and watches every Secret of the namespace, which the speaker's RBAC refuses.
// Secrets are read through the SecretStore; any other read of one is a plain get.
func SpeakerClientOptions() client.Options {
	return client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
}

// Reconcile recomputes and writes the node's configuration.
func (r *SpeakerBGPReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := logf.FromContext(ctx).WithValues("node", r.NodeName)
	in, err := r.load(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	d, err := nodeconfig.DaemonFor(r.Daemon)
	if err != nil {
		return reconcile.Result{}, err
	}
	res, err := nodeconfig.ComputeFor(in, r.lastGood, d)
	if errors.Is(err, nodeconfig.ErrNodeNotFound) {
		// The Node's creation is an event of its own; until then there is nothing to compute.
		log.Info("Node not found, waiting for it")
		return reconcile.Result{}, nil
	}
	if err != nil {
		// The file on disk (the last good config) stays; FRR keeps running it.
		r.Metrics.renderErrors.Inc()
		r.Recorder.Eventf(nodeRef(r.NodeName), nil, corev1.EventTypeWarning, "FRRConfigRenderFailed", "RenderFRRConfig", "%v", err)
		return reconcile.Result{}, fmt.Errorf("computing the BGP configuration of node %s: %w", r.NodeName, err)
	}
	file := d.File
	changed, err := WriteFileIfChanged(r.ConfigDir, file, res.Rendered)
	if wait, first := r.write.record(err); err != nil {
		// Retried on a short capped backoff of its own (see writeHealth); /readyz fails meanwhile.
		r.Metrics.writeErrors.Inc()
		if first {
			r.Recorder.Eventf(nodeRef(r.NodeName), nil, corev1.EventTypeWarning, "FRRConfigWriteFailed", "WriteFRRConfig", "%v", err)
		}
		log.Error(err, "Cannot write the routing daemon config, the daemon keeps the previous one", "retryIn", wait)
		return reconcile.Result{RequeueAfter: wait}, nil
	}
	if changed {
		r.Metrics.configWrites.Inc()
		log.Info("Wrote routing daemon config", "daemon", d.File, "path", filepath.Join(r.ConfigDir, file), "bytes", len(res.Rendered),
			"peers", peerCount(res.Node), "problems", len(res.Problems))
	}
	r.lastGood = res.Config
	r.lastNode.Store(res.Node.Sessions())
	r.Metrics.observeBGP(res)
	r.reportProblems(ctx, in, res.Problems)
	r.reportAnnouncements(in, res.Node)
	err = firstError([]error{r.reportConditions(ctx, in, res.Problems), r.syncServiceStatus(ctx, res.Node), r.writeConfigState(ctx, res.Problems)})
	switch {
	case errors.Is(err, errRetry):
		// Conflicts come from a cache a step behind our own writes; not worth an error, but spaced
		// out in case the cache does not catch up.
		wait := r.retries.next()
		log.V(1).Info("Retrying status writes after a conflict", "after", wait)
		return reconcile.Result{RequeueAfter: wait}, nil
	case err != nil:
		// The controller's rate limiter spaces these retries out.
		return reconcile.Result{}, err
	}
	r.retries.reset()
	return reconcile.Result{}, nil
}

// writeConfigState reports the node's view of the configuration in its ConfigurationState
// ("speaker-<node>", MetalLB's name and labels).
func (r *SpeakerBGPReconciler) writeConfigState(ctx context.Context, ps model.Problems) error {
	err := controllers.SpeakerConfigState(r.Namespace, r.NodeName, r.Owner).Write(ctx, r.Client, ps)
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return errRetry
	}
	return err
}

func (r *SpeakerBGPReconciler) load(ctx context.Context) (nodeconfig.SpeakerInput, error) {
	in, err := controllers.LoadSpeakerInput(ctx, sharedLists{Reader: r.Client, secrets: r.Secrets}, r.Namespace, r.NodeName, r.LBClass)
	in.IgnoreExcludeLB, in.LogLevel = r.IgnoreExcludeLB, r.LogLevel
	if err != nil || r.ExtrasConfigMap == "" {
		return in, err
	}
	var cm corev1.ConfigMap
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.ExtrasConfigMap}, &cm)
	if apierrors.IsNotFound(err) {
		return in, nil
	}
	in.FRRExtras, in.FRRExtrasFrom = cm.Data[ExtrasKey], r.Namespace+"/"+r.ExtrasConfigMap
	return in, err
}

// ExtrasKey is the key of the extras ConfigMap that holds the FRR configuration (MetalLB's).
const ExtrasKey = "extras"

func nodeRef(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", Name: name, UID: types.UID(name), APIVersion: "v1"}
}

// WriteFileIfChanged replaces dir/name with data atomically (daemonfile.WriteFile: a unique
// temporary file in the same directory, synced, renamed over it), and only when the content
// differs, so the reloader's watcher never sees a half-written file nor a rewrite of the same bytes. It reports whether it wrote.
func WriteFileIfChanged(dir, name string, data []byte) (bool, error) {
	path := filepath.Join(dir, name)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		// A file of an older speaker may be 0644: narrow it even when the content stays.
		return false, restrictMode(path)
	}
	if err := daemonfile.WriteFile(path, data); err != nil {
		return false, err
	}
	return true, nil
}
