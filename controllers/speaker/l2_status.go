package speaker

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// l2Want is one ServiceL2Status this node should have.
type l2Want struct {
	interfaces []string
}

// syncL2Status makes this node's ServiceL2Status objects list exactly the Services it answers for,
// with the interfaces the responder really answers on, and deletes the objects of nodes whose
// Lease is dead. One object per Service and announcing node, as in MetalLB, so status.node
// (immutable) never has to change: a new owner writes its own object and the old one is deleted
// by its node, or by whoever sees that node's Lease dead. Objects are named by the API server
// ("l2-" and a suffix) and found by their labels. It reports pending when some answered VIP has
// no interface yet. A failed write does not stop the others.
func (r *SpeakerL2Reconciler) syncL2Status(ctx context.Context, vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) (bool, error) {
	want, pending := r.wantedL2Status(vips, answering)
	var have v1beta1.ServiceL2StatusList
	if err := r.Client.List(ctx, &have, client.InNamespace(r.Namespace)); err != nil {
		return false, fmt.Errorf("listing ServiceL2Status: %w", err)
	}
	objs := make([]*v1beta1.ServiceL2Status, len(have.Items))
	for i := range have.Items {
		objs[i] = &have.Items[i]
	}
	byKey, unlabelled := groupByKey(objs)
	var stale []*v1beta1.ServiceL2Status
	if r.created == nil {
		r.created = createdNotSeen{}
	}
	seen := map[statusKey]bool{}
	for k := range byKey {
		seen[k] = true
	}
	r.created.seen(seen)
	live := r.Ownership.LiveNodes()
	started := r.Ownership.Started()
	if started {
		stale = append(stale, unlabelled...)
	}
	var errs []error
	for k, list := range byKey {
		w, mine := want[k]
		switch {
		case mine:
			delete(want, k)
			stale = append(stale, list[1:]...)
			errs = append(errs, r.putL2Status(ctx, k, list[0], w))
		case k.Node == r.NodeName || started && !live[k.Node]:
			stale = append(stale, list...)
		}
	}
	for _, o := range stale {
		if err := r.Client.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting ServiceL2Status %s: %w", o.Name, err))
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(want), func(a, b statusKey) int { return strings.Compare(a.svc.String(), b.svc.String()) }) {
		errs = append(errs, r.putL2Status(ctx, k, nil, want[k]))
	}
	return pending, firstError(errs)
}

func (r *SpeakerL2Reconciler) wantedL2Status(vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) (map[statusKey]l2Want, bool) {
	announcing := r.Responder.Announcing()
	want := map[statusKey]l2Want{}
	pending := false
	for vip := range answering {
		v := vips[vip]
		if v == nil {
			continue
		}
		ifaces := announcing[vip]
		if len(ifaces) == 0 {
			pending = true
		}
		for _, s := range v.Services {
			k := statusKey{Node: r.NodeName, svc: s}
			w := want[k]
			for _, i := range ifaces {
				w.interfaces = nodeconfig.InsertSorted(w.interfaces, i, strings.Compare)
			}
			want[k] = w
		}
	}
	return want, pending
}

func (r *SpeakerL2Reconciler) putL2Status(ctx context.Context, k statusKey, cur *v1beta1.ServiceL2Status, w l2Want) error {
	store := newStatusStore(r.Client, r.APIReader, r.Namespace, r.Owner, r.created, "ServiceL2Status", "l2-")
	if cur == nil {
		var err error
		if cur, err = createStatus(ctx, store, k, func() *v1beta1.ServiceL2Status { return &v1beta1.ServiceL2Status{} }); cur == nil || err != nil {
			return err
		}
	}
	ifaces := make([]v1beta1.InterfaceInfo, 0, len(w.interfaces))
	for _, i := range w.interfaces {
		ifaces = append(ifaces, v1beta1.InterfaceInfo{Name: i})
	}
	st := v1beta1.MetalLBServiceL2Status{Node: r.NodeName, ServiceName: k.svc.Name, ServiceNamespace: k.svc.Namespace, Interfaces: ifaces}
	if cur.Status.Node == st.Node && cur.Status.ServiceName == st.ServiceName && cur.Status.ServiceNamespace == st.ServiceNamespace &&
		slices.Equal(cur.Status.Interfaces, st.Interfaces) {
		return nil
	}
	cur.Status = st
	return store.updateStatus(ctx, k, cur)
}
