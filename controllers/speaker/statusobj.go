package speaker

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Status objects (ServiceBGPStatus, ServiceL2Status) are named by the API server (generateName, as
// MetalLB names them) and found by their labels: a name built from namespace, Service and node
// collides ("prod/web-api" and "prod-web/api"), a label set cannot.

// statusKey is what a status object is about, read from its labels.
type statusKey struct {
	Node string
	svc  types.NamespacedName
}

func keyOf(o client.Object) (statusKey, bool) {
	l := o.GetLabels()
	k := statusKey{Node: l[LabelNode], svc: types.NamespacedName{Namespace: l[LabelServiceNamespace], Name: l[LabelServiceName]}}
	return k, k.Node != "" && k.svc.Namespace != "" && k.svc.Name != ""
}

func (k statusKey) labels() map[string]string {
	return map[string]string{LabelNode: k.Node, LabelServiceName: k.svc.Name, LabelServiceNamespace: k.svc.Namespace}
}

// groupByKey sorts the objects of each key oldest first (then by name): the first is the one kept,
// the others are duplicates left by a create the cache had not yet seen.
func groupByKey[T client.Object](objs []T) (map[statusKey][]T, []T) {
	out := map[statusKey][]T{}
	var unlabelled []T
	for _, o := range objs {
		k, ok := keyOf(o)
		if !ok {
			unlabelled = append(unlabelled, o)
			continue
		}
		out[k] = append(out[k], o)
	}
	for _, list := range out {
		sort.SliceStable(list, func(i, j int) bool {
			a, b := list[i].GetCreationTimestamp(), list[j].GetCreationTimestamp()
			if !a.Equal(&b) {
				return a.Before(&b)
			}
			return list[i].GetName() < list[j].GetName()
		})
	}
	return out, unlabelled
}

// createdNotSeen remembers the status objects this speaker created that its cache has not shown
// yet, so a reconcile in between does not create a second one. Callers serialise access.
type createdNotSeen map[statusKey]string

// seen forgets the keys the cache now shows.
func (c createdNotSeen) seen(have map[statusKey]bool) {
	for k := range c {
		if have[k] {
			delete(c, k)
		}
	}
}

// pending reports whether an object created for k still exists though the cache does not show it
// yet (asking the API server directly); a deleted one is forgotten, so it is created again.
func (c createdNotSeen) pending(ctx context.Context, reader client.Reader, namespace string, k statusKey, obj client.Object) (bool, error) {
	name, ok := c[k]
	if !ok {
		return false, nil
	}
	err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		delete(c, k)
		return false, nil
	}
	return false, fmt.Errorf("reading status object %s: %w", name, err)
}

// statusStore is what writing one mode's status objects needs: both modes create and update
// theirs the same way, differing only in the type, its kind and its name prefix.
type statusStore struct {
	client    client.Client
	reader    client.Reader // around the cache, for createdNotSeen.pending
	namespace string
	owner     *metav1.OwnerReference
	created   createdNotSeen
	kind      string // "ServiceBGPStatus", for errors
	prefix    string // generateName: "bgp-"
}

// newStatusStore reads around the cache through reader, or through c when reader is nil.
func newStatusStore(c client.Client, reader client.Reader, namespace string, owner *metav1.OwnerReference,
	created createdNotSeen, kind, prefix string) statusStore {
	if reader == nil {
		reader = c
	}
	return statusStore{client: c, reader: reader, namespace: namespace, owner: owner, created: created, kind: kind, prefix: prefix}
}

// createStatus creates the object of k, unless one created earlier is not in the cache yet (then
// it returns the zero T, nil for a pointer, and errRetry). Status is a subresource: the returned
// object (with its resourceVersion) gets it next, through updateStatus.
func createStatus[T client.Object](ctx context.Context, s statusStore, k statusKey, newObj func() T) (T, error) {
	var none T
	if pending, err := s.created.pending(ctx, s.reader, s.namespace, k, newObj()); pending || err != nil {
		return none, cmp.Or(err, errRetry)
	}
	obj := newObj()
	obj.SetGenerateName(s.prefix)
	obj.SetNamespace(s.namespace)
	obj.SetLabels(k.labels())
	obj.SetOwnerReferences(owners(s.owner))
	if err := s.client.Create(ctx, obj); err != nil {
		return none, fmt.Errorf("creating %s for Service %s: %w", s.kind, k.svc, err)
	}
	s.created[k] = obj.GetName()
	return obj, nil
}

// updateStatus writes obj's status; a conflict or a deletion (a cache a step behind) is errRetry.
func (s statusStore) updateStatus(ctx context.Context, k statusKey, obj client.Object) error {
	if err := s.client.Status().Update(ctx, obj); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return errRetry
		}
		return fmt.Errorf("updating %s %s for Service %s: %w", s.kind, obj.GetName(), k.svc, err)
	}
	return nil
}

// backoff spaces the retries of status writes that keep failing: 200ms doubling to 5 minutes, back
// to the start after a success. A write that cannot succeed (a conflict with a stale cache that
// does not catch up, a quota, a webhook) must not become a loop of requests.
type backoff struct{ failures int }

const (
	backoffStart = 200 * time.Millisecond
	backoffMax   = 5 * time.Minute
)

func (b *backoff) next() time.Duration {
	d := backoffStart << min(b.failures, 20)
	b.failures++
	return min(d, backoffMax)
}

func (b *backoff) reset() { b.failures = 0 }
