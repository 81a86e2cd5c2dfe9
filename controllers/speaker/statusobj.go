package speaker

import (
	"context"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
