package speaker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// Labels of ServiceBGPStatus objects, as MetalLB sets them.
const (
	LabelNode             = "metallb.io/node"
	LabelServiceName      = "metallb.io/service-name"
	LabelServiceNamespace = "metallb.io/service-namespace"
)

// ConditionSpeakerValid is the condition the BGP speaker sets on the metallb.io objects it reads.
// Its own type keeps it apart from conditions the controller sets on the same objects.
const ConditionSpeakerValid = "SpeakerValid"

func nodeSelector(node string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{LabelNode: node})
}

// errRetry means the cache was behind the API server; the reconcile is retried once it catches up.
var errRetry = errors.New("cache behind the API server")

// syncServiceStatus makes this node's ServiceBGPStatus objects say exactly which Services it
// announces and to which peers: one object per Service, named by the API server ("bgp-" and a
// suffix) and found by its labels. A failed write does not stop the others; the first error is
// returned once all were tried.
// The list shares the cache's objects (no deep copy: at 10,000 Services that copy was tens of MB
// of garbage per reconcile, docs/benchmarks.md): only reading, grouping and deleting touch them,
// and putServiceStatus copies the one it writes.
func (r *SpeakerBGPReconciler) syncServiceStatus(ctx context.Context, n *model.NodeBGP) error {
	var have v1beta1.ServiceBGPStatusList
	if err := r.Client.List(ctx, &have, client.InNamespace(r.Namespace), client.MatchingLabels{LabelNode: r.NodeName},
		client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing ServiceBGPStatus: %w", err)
	}
	objs := make([]*v1beta1.ServiceBGPStatus, len(have.Items))
	for i := range have.Items {
		objs[i] = &have.Items[i]
	}
	byKey, unlabelled := groupByKey(objs)
	if r.created == nil {
		r.created = createdNotSeen{}
	}
	seen := map[statusKey]bool{}
	for k := range byKey {
		seen[k] = true
	}
	r.created.seen(seen)
	var errs []error
	stale := unlabelled
	for _, ann := range n.Services {
		k := statusKey{Node: r.NodeName, svc: types.NamespacedName{Namespace: ann.Namespace, Name: ann.Name}}
		want := v1beta1.MetalLBServiceBGPStatus{Node: r.NodeName, ServiceName: ann.Name, ServiceNamespace: ann.Namespace, Peers: ann.Peers}
		var cur *v1beta1.ServiceBGPStatus
		if list := byKey[k]; len(list) > 0 {
			cur, stale = list[0], append(stale, list[1:]...)
		}
		delete(byKey, k)
		errs = append(errs, r.putServiceStatus(ctx, k, cur, want))
	}
	for _, list := range byKey {
		stale = append(stale, list...)
	}
	for _, o := range stale {
		if err := r.Client.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting ServiceBGPStatus %s: %w", o.Name, err))
		}
	}
	return firstError(errs)
}

// firstError returns the first real error, or errRetry when the only failures were a stale cache.
func firstError(errs []error) error {
	var retry error
	for _, err := range errs {
		switch {
		case errors.Is(err, errRetry):
			retry = err
		case err != nil:
			return err
		}
	}
	return retry
}

func (r *SpeakerBGPReconciler) putServiceStatus(ctx context.Context, k statusKey, cur *v1beta1.ServiceBGPStatus, want v1beta1.MetalLBServiceBGPStatus) error {
	store := newStatusStore(r.Client, r.APIReader, r.Namespace, r.Owner, r.created, "ServiceBGPStatus", "bgp-")
	if cur == nil {
		var err error
		if cur, err = createStatus(ctx, store, k, func() *v1beta1.ServiceBGPStatus { return &v1beta1.ServiceBGPStatus{} }); cur == nil || err != nil {
			return err
		}
	}
	if cur.Status.Node == want.Node && cur.Status.ServiceName == want.ServiceName &&
		cur.Status.ServiceNamespace == want.ServiceNamespace && slices.Equal(cur.Status.Peers, want.Peers) {
		return nil
	}
	// cur may be the cache's own object: the update fills its argument from the response.
	cur = cur.DeepCopy()
	cur.Status = want
	return store.updateStatus(ctx, k, cur)
}

// reportProblems sends each problem once as a Warning event on the object it is about (a Service,
// or the metallb.io object in routelb's namespace).
func (r *SpeakerBGPReconciler) reportProblems(ctx context.Context, in nodeconfig.SpeakerInput, ps model.Problems) {
	now := map[string]bool{}
	for _, p := range ps {
		key := p.Error()
		now[key] = true
		if r.reported[key] {
			continue
		}
		logf.FromContext(ctx).Info("Configuration problem", "node", r.NodeName, "problem", key)
		if obj := findObject(in, p.Object); obj != nil {
			r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "InvalidConfiguration", "RenderFRRConfig", "%s", truncate(key, 1000))
		}
	}
	r.reported = now
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// kindObjects lists the objects of each kind the speaker sets its condition on.
func kindObjects(in nodeconfig.SpeakerInput) map[string][]client.Object {
	out := map[string][]client.Object{}
	for i := range in.Pools {
		out[model.KindPool] = append(out[model.KindPool], &in.Pools[i])
	}
	for i := range in.Peers {
		out[model.KindPeer] = append(out[model.KindPeer], &in.Peers[i])
	}
	for i := range in.BGPAdvs {
		out[model.KindBGPAdv] = append(out[model.KindBGPAdv], &in.BGPAdvs[i])
	}
	for i := range in.BFDProfiles {
		out[model.KindBFD] = append(out[model.KindBFD], &in.BFDProfiles[i])
	}
	for i := range in.Communities {
		out[model.KindCommunity] = append(out[model.KindCommunity], &in.Communities[i])
	}
	// Layer 2's advertisements too: model.Build checks them with the rest, and a problem in one must
	// reach a condition and an event like any other.
	for i := range in.L2Advs {
		out[model.KindL2Adv] = append(out[model.KindL2Adv], &in.L2Advs[i])
	}
	return out
}

func findObject(in nodeconfig.SpeakerInput, ref model.Ref) client.Object {
	if ref.Kind == model.KindService {
		for i := range in.Services {
			if in.Services[i].Namespace+"/"+in.Services[i].Name == ref.Name {
				return &in.Services[i]
			}
		}
		return nil
	}
	if ref.Kind == model.KindNode {
		for i := range in.Nodes {
			if in.Nodes[i].Name == ref.Name {
				return &in.Nodes[i]
			}
		}
		return nil
	}
	for _, obj := range kindObjects(in)[ref.Kind] {
		if obj.GetName() == ref.Name {
			return obj
		}
	}
	return nil
}

// reportConditions sets SpeakerValid on every metallb.io object the model reads: False with the problems
// found, True otherwise. Every speaker computes the same conditions, so their writes agree.
func (r *SpeakerBGPReconciler) reportConditions(ctx context.Context, in nodeconfig.SpeakerInput, ps model.Problems) error {
	var errs []error
	for kind, objs := range kindObjects(in) {
		for _, obj := range objs {
			own := ps.For(model.Ref{Kind: kind, Name: obj.GetName()})
			cond := metav1.Condition{Type: ConditionSpeakerValid, Status: metav1.ConditionTrue, Reason: "Valid",
				Message: "accepted by the BGP speaker", ObservedGeneration: obj.GetGeneration()}
			if len(own) > 0 {
				cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Invalid", truncate(own.Error(), 32768)
				if own.Waiting() {
					// Not an error: it names the object it waits for, and applies once it exists.
					cond.Reason = "Waiting"
				}
			}
			conds := conditionsOf(obj)
			if conds == nil || !meta.SetStatusCondition(conds, cond) {
				continue
			}
			if err := r.Client.Status().Update(ctx, obj); apierrors.IsConflict(err) {
				errs = append(errs, errRetry)
			} else if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("setting %s on %s %s: %w", ConditionSpeakerValid, kind, obj.GetName(), err))
			}
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func conditionsOf(obj client.Object) *[]metav1.Condition {
	switch o := obj.(type) {
	case *v1beta1.IPAddressPool:
		return &o.Status.Conditions
	case *v1beta1.BGPAdvertisement:
		return &o.Status.Conditions
	case *v1beta1.BFDProfile:
		return &o.Status.Conditions
	case *v1beta1.Community:
		return &o.Status.Conditions
	case *v1beta1.L2Advertisement:
		return &o.Status.Conditions
	case *v1beta2.BGPPeer:
		return &o.Status.Conditions
	}
	return nil
}
