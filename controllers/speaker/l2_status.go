package speaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// ServiceL2StatusName is "l2-<namespace>-<service>-<node>", shortened with a hash of the whole when
// longer than an object name may be. One object per Service and announcing node, as in MetalLB, so
// status.node (immutable) never has to change: a new owner writes its own object and the old one
// is deleted by its node, or by whoever sees that node's Lease dead.
func ServiceL2StatusName(namespace, service, node string) string {
	name := "l2-" + namespace + "-" + service + "-" + node
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(namespace + "/" + service + "/" + node))
	return strings.TrimRight(name[:240], "-.") + "-" + hex.EncodeToString(sum[:6])
}

// l2Want is one ServiceL2Status this node should have.
type l2Want struct {
	svc        types.NamespacedName
	interfaces []string
}

// syncL2Status makes this node's ServiceL2Status objects list exactly the Services it answers for,
// with the interfaces the responder really answers on, and deletes the objects of nodes whose
// Lease is dead. It reports pending when some answered VIP has no interface yet.
func (r *SpeakerL2Reconciler) syncL2Status(ctx context.Context, vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) (bool, error) {
	want, pending := r.wantedL2Status(vips, answering)
	var have v1beta1.ServiceL2StatusList
	if err := r.Client.List(ctx, &have, client.InNamespace(r.Namespace)); err != nil {
		return false, fmt.Errorf("listing ServiceL2Status: %w", err)
	}
	live := r.Ownership.LiveNodes()
	started := r.Ownership.Started()
	for i := range have.Items {
		cur := &have.Items[i]
		node := cur.Labels[LabelNode]
		if node == r.NodeName {
			if w, ok := want[cur.Name]; ok {
				delete(want, cur.Name)
				if err := r.putL2Status(ctx, cur.Name, cur, w); err != nil {
					return false, err
				}
				continue
			}
		} else if !started || live[node] {
			continue
		}
		if err := r.Client.Delete(ctx, cur); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("deleting ServiceL2Status %s: %w", cur.Name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if err := r.putL2Status(ctx, name, nil, want[name]); err != nil {
			return false, err
		}
	}
	return pending, nil
}

func (r *SpeakerL2Reconciler) wantedL2Status(vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) (map[string]l2Want, bool) {
	announcing := r.Responder.Announcing()
	want := map[string]l2Want{}
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
			name := ServiceL2StatusName(s.Namespace, s.Name, r.NodeName)
			w := want[name]
			w.svc = s
			for _, i := range ifaces {
				w.interfaces = nodeconfig.InsertSorted(w.interfaces, i, strings.Compare)
			}
			want[name] = w
		}
	}
	return want, pending
}

func (r *SpeakerL2Reconciler) putL2Status(ctx context.Context, name string, cur *v1beta1.ServiceL2Status, w l2Want) error {
	if cur == nil {
		cur = &v1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace, Labels: map[string]string{
			LabelNode: r.NodeName, LabelServiceName: w.svc.Name, LabelServiceNamespace: w.svc.Namespace,
		}, OwnerReferences: owners(r.Owner)}}
		if err := r.Client.Create(ctx, cur); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating ServiceL2Status %s: %w", name, err)
		}
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: name}, cur); err != nil {
			// The cache may not have it yet: the next event (its creation) retries.
			return client.IgnoreNotFound(err)
		}
	}
	ifaces := make([]v1beta1.InterfaceInfo, 0, len(w.interfaces))
	for _, i := range w.interfaces {
		ifaces = append(ifaces, v1beta1.InterfaceInfo{Name: i})
	}
	st := v1beta1.MetalLBServiceL2Status{Node: r.NodeName, ServiceName: w.svc.Name, ServiceNamespace: w.svc.Namespace, Interfaces: ifaces}
	if cur.Status.Node == st.Node && cur.Status.ServiceName == st.ServiceName && cur.Status.ServiceNamespace == st.ServiceNamespace &&
		slices.Equal(cur.Status.Interfaces, st.Interfaces) {
		return nil
	}
	cur.Status = st
	if err := r.Client.Status().Update(ctx, cur); err != nil {
		return fmt.Errorf("updating ServiceL2Status %s: %w", name, err)
	}
	return nil
}
