package speaker

import (
	"context"
	"maps"
	"net/netip"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/l2responder/ownership"
)

// fakeL2 stands in for the ownership engine and the responder (both have tests of their own
// against the real thing); it records what the reconciler tells them.
type fakeL2 struct {
	mu         sync.Mutex
	answering  map[netip.Addr]bool
	live       map[string]bool
	wanted     map[netip.Addr]ownership.VIP
	owned      map[netip.Addr][]string
	announcing map[netip.Addr][]string
	usable     map[string]bool
}

func (f *fakeL2) SetVIPs(v map[netip.Addr]ownership.VIP) { f.mu.Lock(); f.wanted = v; f.mu.Unlock() }
func (f *fakeL2) Answering() map[netip.Addr]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.answering)
}
func (f *fakeL2) LiveNodes() map[string]bool { return f.live }
func (f *fakeL2) Started() bool              { return true }
func (f *fakeL2) SetOwned(m map[netip.Addr][]string) error {
	f.mu.Lock()
	f.owned = m
	f.mu.Unlock()
	return nil
}
func (f *fakeL2) Announcing() map[netip.Addr][]string { return f.announcing }
func (f *fakeL2) Usable() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.usable)
}

// TestSpeakerL2StatusAndEvents drives the reconciler against a real API server: the VIPs and their
// eligible nodes reach the engine, owned VIPs reach the responder with their interfaces,
// ServiceL2Status objects follow ownership (and the CEL rules accept every write), a dead node's
// objects are removed, and events name the node.
func TestSpeakerL2StatusAndEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("needs kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	ctx := context.Background()
	c := env.Client
	for _, n := range []string{"n1", "n2"} {
		mustL2(t, c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}))
	}
	mustL2(t, c.Create(ctx, &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: testenv.Namespace},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/28"}}}))
	mustL2(t, c.Create(ctx, &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: testenv.Namespace},
		Spec: v1beta1.L2AdvertisementSpec{Interfaces: []v1beta1.InterfaceName{"eth1"}}}))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
	mustL2(t, c.Create(ctx, svc))
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.4"}}
	mustL2(t, c.Status().Update(ctx, svc))
	pods := servingSlice("web", "n3")
	mustL2(t, c.Create(ctx, pods))
	// A leftover of n2, which is dead.
	stale := &v1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{GenerateName: "l2-", Namespace: testenv.Namespace,
		Labels: map[string]string{LabelNode: "n2", LabelServiceName: "web", LabelServiceNamespace: "default"}}}
	mustL2(t, c.Create(ctx, stale))

	vip := netip.MustParseAddr("203.0.113.4")
	f := &fakeL2{live: map[string]bool{"n1": true}, announcing: map[netip.Addr][]string{vip: {"eth1"}}}
	rec := events.NewFakeRecorder(10)
	r := &SpeakerL2Reconciler{Client: c, Recorder: rec, NodeName: "n1", Namespace: testenv.Namespace, Ownership: f, Responder: f,
		events: newPacedEvents(rec), Metrics: unservedMetrics()}
	reconcileL2(t, r)
	if w := f.wanted[vip]; len(f.wanted) != 1 || strings.Join(w.Eligible, ",") != "n1,n2" {
		t.Fatalf("engine got %+v, want %s eligible on n1,n2", f.wanted, vip)
	}
	if len(f.owned) != 0 {
		t.Fatalf("responder told to own %v before the engine owns anything", f.owned)
	}
	if got := l2StatusNames(t, c); len(got) != 0 {
		t.Fatalf("ServiceL2Status %v; the dead n2's one should be gone and n1 owns nothing", got)
	}

	f.mu.Lock()
	f.answering = map[netip.Addr]bool{vip: true}
	f.mu.Unlock()
	reconcileL2(t, r)
	if ifs := f.owned[vip]; len(f.owned) != 1 || strings.Join(ifs, ",") != "eth1" {
		t.Fatalf("responder owns %v, want %s on eth1", f.owned, vip)
	}
	var sts v1beta1.ServiceL2StatusList
	mustL2(t, c.List(ctx, &sts, client.InNamespace(testenv.Namespace), client.MatchingLabels{LabelNode: "n1", LabelServiceName: "web", LabelServiceNamespace: "default"}))
	if len(sts.Items) != 1 || !strings.HasPrefix(sts.Items[0].Name, "l2-") {
		t.Fatalf("want one ServiceL2Status named l2-..., got %v", l2StatusNames(t, c))
	}
	st := sts.Items[0]
	if st.Status.Node != "n1" || st.Status.ServiceName != "web" || st.Status.ServiceNamespace != "default" ||
		len(st.Status.Interfaces) != 1 || st.Status.Interfaces[0].Name != "eth1" || st.Labels[LabelNode] != "n1" {
		t.Fatalf("ServiceL2Status %+v %+v", st.Labels, st.Status)
	}
	expectEvent(t, rec, "nodeAssigned", `"n1"`)

	f.mu.Lock()
	f.answering = nil
	f.mu.Unlock()
	reconcileL2(t, r)
	if got := l2StatusNames(t, c); len(got) != 0 {
		t.Fatalf("ServiceL2Status %v left after n1 stopped owning", got)
	}
	expectEvent(t, rec, "nodeReleased", `"n1"`)

	// Owned, but the advertisement's eth1 does not exist here: MetalLB's announceFailed, once.
	f.mu.Lock()
	f.answering, f.usable = map[netip.Addr]bool{vip: true}, map[string]bool{"eth0": true}
	f.mu.Unlock()
	reconcileL2(t, r)
	expectEvent(t, rec, "nodeAssigned", `"n1"`)
	expectEvent(t, rec, "announceFailed", `"203.0.113.4" doesn't exist in assigned node "n1"`)
	reconcileL2(t, r)
	select {
	case e := <-rec.Events:
		t.Fatalf("reported again: %q", e)
	default:
	}
	f.mu.Lock()
	f.answering = nil
	f.mu.Unlock()
	reconcileL2(t, r)
	expectEvent(t, rec, "nodeReleased", `"n1"`)

	// The rules both modes share: an excluded node is not eligible, and a Service no endpoint serves
	// has no eligible node at all (withdrawn, as MetalLB).
	var n2 corev1.Node
	mustL2(t, c.Get(ctx, client.ObjectKey{Name: "n2"}, &n2))
	n2.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: ""}
	mustL2(t, c.Update(ctx, &n2))
	reconcileL2(t, r)
	if w := f.wanted[vip]; strings.Join(w.Eligible, ",") != "n1" {
		t.Fatalf("with n2 excluded: eligible %v, want n1", w.Eligible)
	}
	mustL2(t, c.Delete(ctx, pods))
	reconcileL2(t, r)
	if w := f.wanted[vip]; len(w.Eligible) != 0 {
		t.Fatalf("with no endpoint: eligible %v, want none", w.Eligible)
	}
}

func reconcileL2(t *testing.T, r *SpeakerL2Reconciler) {
	t.Helper()
	// The reconciler reads through a cache in the speaker; here it reads the API directly, so one
	// pass sees its own writes.
	if _, err := r.Reconcile(context.Background(), reconcile.Request{}); err != nil {
		t.Fatal(err)
	}
	// No manager runs the pacer here: what the pass queued is sent now, so the checks that follow
	// see every event of the pass and nothing later.
	for e, ok := r.events.next(); ok; e, ok = r.events.next() {
		r.events.rec.Eventf(&e.ref, nil, e.eventType, e.reason, e.action, "%s", e.note)
	}
}

func l2StatusNames(t *testing.T, c client.Client) []string {
	var list v1beta1.ServiceL2StatusList
	mustL2(t, c.List(context.Background(), &list, client.InNamespace(testenv.Namespace)))
	var out []string
	for _, s := range list.Items {
		out = append(out, s.Name)
	}
	return out
}

func expectEvent(t *testing.T, rec *events.FakeRecorder, reason, contains string) {
	t.Helper()
	select {
	case e := <-rec.Events:
		if !strings.Contains(e, reason) || !strings.Contains(e, contains) {
			t.Fatalf("event %q, want %s naming %s", e, reason, contains)
		}
	default:
		t.Fatalf("no %s event", reason)
	}
}

func mustL2(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
