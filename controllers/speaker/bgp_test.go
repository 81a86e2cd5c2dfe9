package speaker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
)

// speakerEnv is a real API server with a BGP speaker for node1 running against it.
type speakerEnv struct {
	t   *testing.T
	c   client.Client
	dir string
	r   *SpeakerBGPReconciler

	mu      sync.Mutex
	creates map[string]int // ServiceBGPStatus creations the speaker attempted, by "namespace/service"
}

func startSpeaker(t *testing.T, daemon string) *speakerEnv {
	t.Helper()
	return startSpeakerIn(t, daemon, t.TempDir())
}

// startSpeakerIn is startSpeaker writing its config into dir.
func startSpeakerIn(t *testing.T, daemon, dir string) *speakerEnv {
	t.Helper()
	env := testenv.Start(t)
	e := &speakerEnv{t: t, c: env.Client, dir: dir, creates: map[string]int{}}
	env.StartManager(t, ctrl.Options{Cache: SpeakerCacheOptions(testenv.Namespace, "node1")}, func(mgr ctrl.Manager) error {
		// The speaker's own client, counting its attempts to create status objects: a write that
		// keeps failing shows as a growing count.
		counting := countingClient{Client: mgr.GetClient(), e: e}
		e.r = &SpeakerBGPReconciler{Client: counting, APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("routelb-speaker"),
			NodeName: "node1", Namespace: testenv.Namespace, ConfigDir: dir, Daemon: daemon}
		return e.r.SetupWithManager(mgr)
	})
	return e
}

// countingClient counts the ServiceBGPStatus creations it is asked for.
type countingClient struct {
	client.Client
	e *speakerEnv
}

func (c countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*v1beta1.ServiceBGPStatus); ok {
		c.e.mu.Lock()
		c.e.creates[obj.GetLabels()[LabelServiceNamespace]+"/"+obj.GetLabels()[LabelServiceName]]++
		c.e.mu.Unlock()
	}
	return c.Client.Create(ctx, obj, opts...)
}

// bgpStatuses lists the ServiceBGPStatus objects of a Service on node1, found by their labels.
func (e *speakerEnv) bgpStatuses(namespace, service string) []v1beta1.ServiceBGPStatus {
	e.t.Helper()
	var list v1beta1.ServiceBGPStatusList
	if err := e.c.List(context.Background(), &list, client.InNamespace(testenv.Namespace),
		client.MatchingLabels{LabelNode: "node1", LabelServiceNamespace: namespace, LabelServiceName: service}); err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

func (e *speakerEnv) create(objs ...client.Object) {
	e.t.Helper()
	for _, o := range objs {
		if err := e.c.Create(context.Background(), o); err != nil {
			e.t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// eventually waits for cond with a generous bound; the test asserts behaviour, not speed.
func (e *speakerEnv) eventually(what string, cond func() error) {
	e.t.Helper()
	if err := wait.Poll(30*time.Second, cond); err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

func (e *speakerEnv) conf() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, nodeconfig.FRRConfigFile))
	return string(b)
}

// waitConf waits until frr.conf has every want line and none of the unwanted ones, then checks that
// reaching it took exactly one write: a change is applied within one reconcile, not in steps.
// hasLine reports whether conf has the line l; a network line may go on with its origination
// route-map, whose name is a hash the tests need not know.
func hasLine(conf, l string) bool {
	return strings.Contains(conf, l+"\n") || strings.HasPrefix(l, "  network ") && strings.Contains(conf, l+" route-map rlb_net_")
}

func (e *speakerEnv) waitConf(writesBefore float64, want []string, unwanted ...string) {
	e.t.Helper()
	e.eventually("frr.conf", func() error {
		c := e.conf()
		for _, w := range want {
			if !hasLine(c, w) {
				return fmt.Errorf("missing %q in:\n%s", w, c)
			}
		}
		for _, u := range unwanted {
			if hasLine(c, u) {
				return fmt.Errorf("still has %q in:\n%s", u, c)
			}
		}
		return nil
	})
	// The reconciler counts a write just after making it, so the file can be seen a moment before the count.
	e.eventually("the write counted", func() error {
		if counterValue(e.r.Metrics.configWrites) == writesBefore {
			return errors.New("the config_writes_total counter has not moved")
		}
		return nil
	})
	if got := counterValue(e.r.Metrics.configWrites) - writesBefore; got != 1 {
		e.t.Errorf("frr.conf written %v times for one change, want 1", got)
	}
}

// waitWarning waits for a Warning event in the speaker's namespace about the object named name,
// whose note contains substr.
func (e *speakerEnv) waitWarning(name, substr string) {
	e.t.Helper()
	e.eventually("Warning event on "+name, func() error {
		var evs eventsv1.EventList
		if err := e.c.List(context.Background(), &evs, client.InNamespace(testenv.Namespace)); err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.Regarding.Name == name && ev.Type == corev1.EventTypeWarning && strings.Contains(ev.Note, substr) {
				return nil
			}
		}
		return fmt.Errorf("no event among %d", len(evs.Items))
	})
}

func lbSvc(name string, etp corev1.ServiceExternalTrafficPolicy) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: etp,
		Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
	}}
}

func (e *speakerEnv) setVIP(svc *corev1.Service, ip string) {
	e.t.Helper()
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	if err := e.c.Status().Update(context.Background(), svc); err != nil {
		e.t.Fatal(err)
	}
}

func TestSpeakerBGP(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	e := startSpeaker(t, nodeconfig.DaemonFRR)
	ctx := context.Background()
	ns := testenv.Namespace
	e.create(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: map[string]string{"rack": "a"}}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24"}}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: ns}},
	)
	// No peer yet: the node needs no BGP, and the file says so.
	e.eventually("minimal frr.conf", func() error {
		if c := e.conf(); !strings.HasPrefix(c, "frr defaults traditional\nhostname node1\n") || strings.Contains(c, "router bgp") {
			return fmt.Errorf("got:\n%s", c)
		}
		return nil
	})

	w := counterValue(e.r.Metrics.configWrites)
	peer := &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router", Namespace: ns},
		Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1"}}
	e.create(peer)
	e.waitConf(w, []string{"router bgp 64513", " neighbor 198.51.100.1 remote-as 64512"})

	// A Cluster Service is announced once some endpoint serves it, anywhere (as MetalLB).
	web := lbSvc("web", corev1.ServiceExternalTrafficPolicyCluster)
	e.create(web)
	e.setVIP(web, "203.0.113.5")
	w = counterValue(e.r.Metrics.configWrites)
	webPods := servingSlice("web", "node2")
	e.create(webPods)
	e.waitConf(w, []string{"  network 203.0.113.5/32"})
	e.waitEvent("web", EventNodeAssigned, `announcing from node "node1" with protocol "bgp"`)
	e.eventually("metrics", func() error {
		peers, v4 := gaugeValue(e.r.Metrics.peersConfigured), gaugeValue(e.r.Metrics.prefixesRendered.WithLabelValues("ipv4"))
		if peers != 1 || v4 != 1 {
			return fmt.Errorf("peers_configured %v, prefixes_rendered{ipv4} %v; want 1 and 1", peers, v4)
		}
		return nil
	})
	e.eventually("ServiceBGPStatus", func() error {
		sts := e.bgpStatuses("default", "web")
		if len(sts) != 1 {
			return fmt.Errorf("%d objects", len(sts))
		}
		if st := sts[0]; !strings.HasPrefix(st.Name, "bgp-") || st.Status.Node != "node1" || fmt.Sprint(st.Status.Peers) != "[router]" {
			return fmt.Errorf("got %+v", st)
		}
		return nil
	})

	// An endpoint change: a Local Service is announced only while node1 has a ready endpoint.
	w = counterValue(e.r.Metrics.configWrites)
	api := lbSvc("api", corev1.ServiceExternalTrafficPolicyLocal)
	e.create(api)
	e.setVIP(api, "203.0.113.6")
	node, ready := "node1", true
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "api-1", Namespace: "default",
		Labels: map[string]string{discoveryv1.LabelServiceName: "api"}}, AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.7"}, NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}}
	e.create(slice)
	e.waitConf(w, []string{"  network 203.0.113.6/32"})
	w = counterValue(e.r.Metrics.configWrites)
	notReady := false
	slice.Endpoints[0].Conditions.Ready = &notReady
	if err := e.c.Update(ctx, slice); err != nil {
		t.Fatal(err)
	}
	e.waitConf(w, []string{"  network 203.0.113.5/32"}, "  network 203.0.113.6/32")
	e.eventually("stale ServiceBGPStatus deleted", func() error {
		if sts := e.bgpStatuses("default", "api"); len(sts) != 0 {
			return fmt.Errorf("%s still exists", sts[0].Name)
		}
		return nil
	})

	// A rolling update of the Local Service: its pod, terminating, still serves, so the route stays;
	// web's last pod goes meanwhile, so web is withdrawn (MetalLB's noEndpoints). One write for both
	// shows the terminating pod never withdrew api's route.
	w = counterValue(e.r.Metrics.configWrites)
	slice.Endpoints[0].Conditions = discoveryv1.EndpointConditions{Ready: &ready}
	if err := e.c.Update(ctx, slice); err != nil {
		t.Fatal(err)
	}
	e.waitConf(w, []string{"  network 203.0.113.5/32", "  network 203.0.113.6/32"})
	w = counterValue(e.r.Metrics.configWrites)
	slice.Endpoints[0].Conditions = discoveryv1.EndpointConditions{Ready: &notReady, Serving: &ready, Terminating: &ready}
	if err := e.c.Update(ctx, slice); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Delete(ctx, webPods); err != nil {
		t.Fatal(err)
	}
	e.waitConf(w, []string{"  network 203.0.113.6/32"}, "  network 203.0.113.5/32")
	e.waitEvent("web", EventNodeReleased, "noEndpoints")
	w = counterValue(e.r.Metrics.configWrites)
	e.create(servingSlice("web", "node2"))
	e.waitConf(w, []string{"  network 203.0.113.5/32", "  network 203.0.113.6/32"})

	// Excluding the node withdraws every prefix and keeps the session; so does NetworkUnavailable.
	w = counterValue(e.r.Metrics.configWrites)
	e.updateNode(func(n *corev1.Node) { n.Labels[corev1.LabelNodeExcludeBalancers] = "" })
	e.waitConf(w, []string{" neighbor 198.51.100.1 remote-as 64512"}, "  network 203.0.113.5/32", "  network 203.0.113.6/32")
	e.waitEvent("web", EventNodeReleased, "nodeLabeledExcludeBalancers")
	w = counterValue(e.r.Metrics.configWrites)
	e.updateNode(func(n *corev1.Node) { delete(n.Labels, corev1.LabelNodeExcludeBalancers) })
	e.waitConf(w, []string{"  network 203.0.113.5/32", "  network 203.0.113.6/32"})
	w = counterValue(e.r.Metrics.configWrites)
	e.updateNodeStatus(corev1.ConditionTrue)
	e.waitConf(w, []string{" neighbor 198.51.100.1 remote-as 64512"}, "  network 203.0.113.5/32", "  network 203.0.113.6/32")
	w = counterValue(e.r.Metrics.configWrites)
	e.updateNodeStatus(corev1.ConditionFalse)
	e.waitConf(w, []string{"  network 203.0.113.5/32", "  network 203.0.113.6/32"})

	// A peer change.
	w = counterValue(e.r.Metrics.configWrites)
	hold, ka := metav1.Duration{Duration: 9 * time.Second}, metav1.Duration{Duration: 3 * time.Second}
	e.updatePeer(peer, func(p *v1beta2.BGPPeer) { p.Spec.HoldTime, p.Spec.KeepaliveTime = &hold, &ka })
	e.waitConf(w, []string{" neighbor 198.51.100.1 timers 3 9"})

	// A bad edit (a BFD profile that does not exist) keeps the last good peer: nothing is withdrawn,
	// and the problem shows as a condition and a Warning event on the peer.
	w = counterValue(e.r.Metrics.configWrites)
	e.updatePeer(peer, func(p *v1beta2.BGPPeer) { p.Spec.BFDProfile = "missing" })
	e.eventually("SpeakerValid=False on the peer", func() error {
		var p v1beta2.BGPPeer
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(peer), &p); err != nil {
			return err
		}
		c := meta.FindStatusCondition(p.Status.Conditions, ConditionSpeakerValid)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, `BFDProfile "missing"`) {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	e.waitWarning("router", "missing")
	e.eventually("ConfigurationState speaker-node1 Invalid, waiting for the profile", func() error {
		var st v1beta1.ConfigurationState
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "speaker-node1"}, &st); err != nil {
			return err
		}
		c := meta.FindStatusCondition(st.Status.Conditions, "ConfigurationValid")
		if st.Status.Result != v1beta1.ConfigurationResultInvalid || !strings.Contains(st.Status.ErrorSummary, `BFDProfile "missing"`) ||
			c == nil || c.Reason != "Waiting" || st.Labels[v1beta1.LabelComponentType] != "speaker" || st.Labels[v1beta1.LabelNodeName] != "node1" {
			return fmt.Errorf("got %+v %+v", st.Labels, st.Status)
		}
		return nil
	})
	if c := e.conf(); !strings.Contains(c, " neighbor 198.51.100.1 timers 3 9\n") || !hasLine(c, "  network 203.0.113.5/32") {
		t.Fatalf("a bad edit changed what is announced:\n%s", c)
	}
	if got := counterValue(e.r.Metrics.configWrites) - w; got != 0 {
		t.Errorf("a bad edit rewrote frr.conf %v times", got)
	}

	// A Layer 2 advertisement's problem reaches a condition and an event like the others.
	l2 := &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: ns},
		Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"nope"}}}
	e.create(l2)
	e.eventually("SpeakerValid=False on the L2Advertisement", func() error {
		var a v1beta1.L2Advertisement
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(l2), &a); err != nil {
			return err
		}
		c := meta.FindStatusCondition(a.Status.Conditions, ConditionSpeakerValid)
		// A pool that does not exist yet is waited for, not an error.
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "Waiting" || !strings.Contains(c.Message, `IPAddressPool "nope"`) {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	e.waitWarning("l2", "nope")
}

// servingSlice is an EndpointSlice of default/svc with one ready endpoint on node.
func servingSlice(svc, node string) *discoveryv1.EndpointSlice {
	return servingSliceIn("default", svc, node)
}

// servingSliceIn is servingSlice in namespace ns.
func servingSliceIn(ns, svc, node string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc + "-" + node, Namespace: ns,
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.9"}, NodeName: &node}}}
}

// waitEvent waits for an event on the Service default/name with this reason and a note containing substr.
func (e *speakerEnv) waitEvent(name, reason, substr string) {
	e.t.Helper()
	e.eventually(reason+" event on "+name, func() error {
		var evs eventsv1.EventList
		if err := e.c.List(context.Background(), &evs, client.InNamespace("default")); err != nil {
			return err
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.Regarding.Name == name && ev.Reason == reason && strings.Contains(ev.Note, substr) {
				return nil
			}
			seen = append(seen, ev.Reason+": "+ev.Note)
		}
		return fmt.Errorf("not among %q", seen)
	})
}

func (e *speakerEnv) updateNode(mut func(*corev1.Node)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var n corev1.Node
		if err := e.c.Get(context.Background(), client.ObjectKey{Name: "node1"}, &n); err != nil {
			return err
		}
		mut(&n)
		return e.c.Update(context.Background(), &n)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// updateNodeStatus sets node1's NetworkUnavailable condition, as a network plugin does.
func (e *speakerEnv) updateNodeStatus(st corev1.ConditionStatus) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var n corev1.Node
		if err := e.c.Get(context.Background(), client.ObjectKey{Name: "node1"}, &n); err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeNetworkUnavailable, Status: st, Reason: "Test", LastTransitionTime: metav1.Now()}}
		return e.c.Status().Update(context.Background(), &n)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestSpeakerBGPStatusNamesCannotCollide: prod/web-api and prod-web/api, whose names joined with
// dashes are the same, both get their ServiceBGPStatus, each created once: no failed write loop.
func TestSpeakerBGPStatusNamesCannotCollide(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	e := startSpeaker(t, nodeconfig.DaemonFRR)
	ns := testenv.Namespace
	e.create(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod-web"}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24"}}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: ns}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router", Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1"}},
	)
	svcs := []*corev1.Service{lbSvc("web-api", corev1.ServiceExternalTrafficPolicyCluster), lbSvc("api", corev1.ServiceExternalTrafficPolicyCluster)}
	svcs[0].Namespace, svcs[1].Namespace = "prod", "prod-web"
	for i, svc := range svcs {
		e.create(svc, servingSliceIn(svc.Namespace, svc.Name, "node1"))
		e.setVIP(svc, fmt.Sprintf("203.0.113.%d", 10+i))
	}
	e.eventually("ConfigurationState speaker-node1 Valid", func() error {
		var st v1beta1.ConfigurationState
		if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "speaker-node1"}, &st); err != nil {
			return err
		}
		if st.Status.Result != v1beta1.ConfigurationResultValid || st.Status.ErrorSummary != "" {
			return fmt.Errorf("got %+v", st.Status)
		}
		return nil
	})
	e.eventually("both ServiceBGPStatus", func() error {
		for _, svc := range svcs {
			sts := e.bgpStatuses(svc.Namespace, svc.Name)
			if len(sts) != 1 || fmt.Sprint(sts[0].Status.Peers) != "[router]" || sts[0].Status.ServiceNamespace != svc.Namespace {
				return fmt.Errorf("%s/%s: %+v", svc.Namespace, svc.Name, sts)
			}
		}
		return nil
	})
	// One more change makes the speaker reconcile again; it must not create anything anew.
	w := counterValue(e.r.Metrics.configWrites)
	third := lbSvc("third", corev1.ServiceExternalTrafficPolicyCluster)
	e.create(third, servingSlice("third", "node1"))
	e.setVIP(third, "203.0.113.12")
	e.waitConf(w, []string{"  network 203.0.113.12/32"})
	e.eventually("third's ServiceBGPStatus", func() error {
		if sts := e.bgpStatuses("default", "third"); len(sts) != 1 {
			return fmt.Errorf("%d objects", len(sts))
		}
		return nil
	})
	e.mu.Lock()
	creates := maps.Clone(e.creates)
	e.mu.Unlock()
	if want := map[string]int{"prod/web-api": 1, "prod-web/api": 1, "default/third": 1}; !maps.Equal(creates, want) {
		t.Errorf("ServiceBGPStatus creations %v, want one per Service %v", creates, want)
	}
	// A write may conflict with a cache that lags under load; what matters is that the
	// retries settle, not that none was ever needed.
	e.eventually("status writes settled", func() error {
		e.r.mu.Lock()
		defer e.r.mu.Unlock()
		if n := e.r.retries.failures; n != 0 {
			return fmt.Errorf("status writes still retrying (%d failures in a row)", n)
		}
		return nil
	})
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// updatePeer edits the latest version: the speaker writes the peer's status meanwhile.
func (e *speakerEnv) updatePeer(p *v1beta2.BGPPeer, mut func(*v1beta2.BGPPeer)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(p), p); err != nil {
			return err
		}
		mut(p)
		return e.c.Update(context.Background(), p)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		panic(err)
	}
	return m.GetGauge().GetValue()
}
