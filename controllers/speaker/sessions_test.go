package speaker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
)

// sessionNode is one node's speaker: its BGP reconciler running in a manager, and a session
// reporter fed by it whose Sync the test calls.
type sessionNode struct {
	name string
	dir  string
	r    *SpeakerBGPReconciler
	s    *SpeakerSessions
}

func startSessionNode(t *testing.T, env *testenv.Env, name string) *sessionNode {
	t.Helper()
	skip := true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Scheme, Cache: SpeakerCacheOptions(testenv.Namespace, name),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &sessionNode{name: name, dir: t.TempDir()}
	n.r = &SpeakerBGPReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("routelb-speaker"),
		NodeName: name, Namespace: testenv.Namespace, ConfigDir: n.dir}
	if err := n.r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	n.s = &SpeakerSessions{Client: mgr.GetClient(), Recorder: n.r.Recorder, NodeName: name, Namespace: testenv.Namespace,
		ConfigDir: n.dir, Node: n.r.lastNode.Load, Log: testr.New(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager %s: %v", name, err)
		}
	})
	return n
}

// report writes sessions.json as the reloader does.
func (n *sessionNode) report(t *testing.T, doc daemonfile.Sessions) {
	t.Helper()
	if err := daemonfile.WriteJSON(n.dir, daemonfile.SessionsFile, doc); err != nil {
		t.Fatal(err)
	}
}

var since = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func up(neighbor string) daemonfile.Session {
	return daemonfile.Session{Neighbor: neighbor, State: "Established", BFDState: "up", PrefixesSent: 2, Since: since}
}

func down(neighbor, state, lastError string) daemonfile.Session {
	return daemonfile.Session{Neighbor: neighbor, State: state, LastError: lastError, Since: since.Add(time.Minute)}
}

// TestSpeakerSessions: two nodes' speakers publish their sessions into the BGPPeers' status, each
// only its own entry, beside the SpeakerValid condition; transitions are events on the peer; an
// entry goes when the node stops peering.
func TestSpeakerSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	ctx := context.Background()
	ns := testenv.Namespace
	c := env.Client
	for _, o := range []client.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: map[string]string{"rack": "a"}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node2", Labels: map[string]string{"rack": "b"}}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24"}}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router", Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1"}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router2", Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64999, Address: "2001:db8::2",
				NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "a"}}}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	n1, n2 := startSessionNode(t, env, "node1"), startSessionNode(t, env, "node2")
	eventually := func(what string, cond func() error) {
		t.Helper()
		if err := wait.Poll(30*time.Second, cond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// sync runs the nodes' reporters until the peers' status says want (peer -> "node=state ...").
	sync := func(what string, want map[string]string, nodes ...*sessionNode) map[string]*v1beta2.BGPPeer {
		t.Helper()
		got := map[string]*v1beta2.BGPPeer{}
		eventually(what, func() error {
			for _, n := range nodes {
				if err := n.s.Sync(ctx); err != nil {
					return err
				}
			}
			for name, w := range want {
				var p v1beta2.BGPPeer
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
					return err
				}
				var s []string
				for _, e := range p.Status.Sessions {
					s = append(s, e.Node+"="+e.State)
				}
				if strings.Join(s, " ") != w {
					return fmt.Errorf("%s: sessions %v, want %s", name, p.Status.Sessions, w)
				}
				got[name] = &p
			}
			return nil
		})
		return got
	}
	for _, n := range []*sessionNode{n1, n2} {
		eventually(n.name+"'s model", func() error {
			if n.r.lastNode.Load() == nil {
				return fmt.Errorf("not computed yet")
			}
			return nil
		})
	}

	// No report (no reloader yet, or BIRD mode): nothing is written.
	sync("no report", map[string]string{"router": "", "router2": ""}, n1, n2)

	n1.report(t, daemonfile.Sessions{Sessions: []daemonfile.Session{up("198.51.100.1"),
		down("2001:db8::2", "Active", "OPEN Message Error/Bad Peer AS (notification sent)")}})
	n2.report(t, daemonfile.Sessions{Sessions: []daemonfile.Session{up("198.51.100.1")}})
	got := sync("first report", map[string]string{"router": "node1=Established node2=Established", "router2": "node1=Active"}, n1, n2)
	e := got["router"].Status.Sessions[0]
	if e.BFDState != "up" || e.PrefixesSent != 2 || !e.LastTransitionTime.Time.Equal(since) {
		t.Errorf("node1's entry on router: %+v", e)
	}
	if e := got["router2"].Status.Sessions[0]; !strings.Contains(e.LastError, "Bad Peer AS") {
		t.Errorf("node1's entry on router2: %+v", e)
	}
	var managers []string
	for _, m := range got["router"].ManagedFields {
		if m.Subresource == "status" && m.Operation == metav1.ManagedFieldsOperationApply {
			managers = append(managers, m.Manager)
		}
	}
	if slices.Sort(managers); fmt.Sprint(managers) != "[routelb-speaker-node1 routelb-speaker-node2]" {
		t.Errorf("apply managers on router's status: %v", managers)
	}
	// The reconcilers' condition and the reporters' entries live side by side.
	eventually("SpeakerValid beside the sessions", func() error {
		var p v1beta2.BGPPeer
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "router"}, &p); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(p.Status.Conditions, ConditionSpeakerValid) || len(p.Status.Sessions) != 2 {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})
	// A spec edit makes the reconcilers rewrite the condition (an Update of the whole status): the
	// entries stay.
	var p v1beta2.BGPPeer
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "router"}, &p); err != nil {
		t.Fatal(err)
	}
	p.Spec.HoldTime = &metav1.Duration{Duration: 30 * time.Second}
	if err := c.Update(ctx, &p); err != nil {
		t.Fatal(err)
	}
	eventually("condition of the new generation, entries kept", func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "router"}, &p); err != nil {
			return err
		}
		cond := meta.FindStatusCondition(p.Status.Conditions, ConditionSpeakerValid)
		if cond == nil || cond.ObservedGeneration != p.Generation || len(p.Status.Sessions) != 2 {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})

	// Nothing changed: no write.
	rv := p.ResourceVersion
	for _, n := range []*sessionNode{n1, n2} {
		if err := n.s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "router"}, &p); err != nil || p.ResourceVersion != rv {
		t.Errorf("a sync without change wrote the peer (resourceVersion %s -> %s, %v)", rv, p.ResourceVersion, err)
	}

	// node1's session goes down, then comes back: a Warning, then a Normal event on the peer.
	n1.report(t, daemonfile.Sessions{Sessions: []daemonfile.Session{down("198.51.100.1", "Idle", "Hold Timer Expired (notification sent)"),
		down("2001:db8::2", "Active", "OPEN Message Error/Bad Peer AS (notification sent)")}})
	sync("node1 down", map[string]string{"router": "node1=Idle node2=Established"}, n1)
	eventually("SessionDown event", func() error { return hasEvent(c, "router", "SessionDown", "node node1", "Hold Timer Expired") })
	n1.report(t, daemonfile.Sessions{Sessions: []daemonfile.Session{up("198.51.100.1"),
		down("2001:db8::2", "Active", "OPEN Message Error/Bad Peer AS (notification sent)")}})
	sync("node1 back", map[string]string{"router": "node1=Established node2=Established"}, n1)
	eventually("SessionEstablished event", func() error { return hasEvent(c, "router", "SessionEstablished", "node node1") })

	// A neighbour FRR does not report, or FRR out of reach: Unknown, with the reason.
	n2.report(t, daemonfile.Sessions{Sessions: []daemonfile.Session{}})
	got = sync("not in FRR", map[string]string{"router": "node1=Established node2=Unknown"}, n2)
	if e := got["router"].Status.Sessions[1]; !strings.Contains(e.LastError, "does not run this neighbour") {
		t.Errorf("node2's entry: %+v", e)
	}
	n2.report(t, daemonfile.Sessions{Error: "vtysh: bgpd is not running"})
	eventually("FRR out of reach", func() error {
		if err := n2.s.Sync(ctx); err != nil {
			return err
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "router"}, &p); err != nil {
			return err
		}
		if e := p.Status.Sessions[1]; e.State != SessionUnknown || !strings.Contains(e.LastError, "bgpd is not running") {
			return fmt.Errorf("node2's entry: %+v", e)
		}
		return nil
	})

	// node1 leaves router2's selector: its entry goes.
	var r2 v1beta2.BGPPeer
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "router2"}, &r2); err != nil {
		t.Fatal(err)
	}
	r2.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "c"}}}
	if err := c.Update(ctx, &r2); err != nil {
		t.Fatal(err)
	}
	sync("node1 no longer peers with router2", map[string]string{"router2": "", "router": "node1=Established node2=Unknown"}, n1, n2)
}

// hasEvent finds an event with reason on the BGPPeer whose note has every part.
func hasEvent(c client.Client, peer, reason string, parts ...string) error {
	var list eventsv1.EventList
	if err := c.List(context.Background(), &list, client.InNamespace(testenv.Namespace)); err != nil {
		return err
	}
	var seen []string
	for _, ev := range list.Items {
		if ev.Regarding.Kind != "BGPPeer" || ev.Regarding.Name != peer {
			continue
		}
		seen = append(seen, ev.Reason+": "+ev.Note)
		if ev.Reason != reason {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(ev.Note, p)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("no %s event with %q on BGPPeer %s; events: %v", reason, parts, peer, seen)
}
