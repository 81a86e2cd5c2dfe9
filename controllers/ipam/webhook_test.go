package ipam

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// TestWebhook registers the validating webhook with a real API server (envtest serves it the
// certificates the chart would) and checks that the API server itself refuses changes that break rules
// across objects, with the model's message, and lets everything else through.
func TestWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts an API server")
	}
	e := startIPAMEnv(t, true)
	e.startManager()
	ctx := context.Background()
	ns := testenv.Namespace
	pool := func(name string, addrs ...string) *v1beta1.IPAddressPool {
		p := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
		for _, a := range addrs {
			p.Spec.Addresses = append(p.Spec.Addresses, v1beta1.PoolAddress(a))
		}
		return p
	}
	// The webhook server starts with the manager; wait until the API server can reach it.
	eventually(t, "webhook serving", func() (bool, string) {
		err := e.c.Create(ctx, pool("first", "203.0.113.0/28"))
		return err == nil, errString(err)
	})
	mustOK := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: refused: %v", what, err)
		}
	}
	mustRefuse := func(what string, err error, words ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: allowed, want refused", what)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: refused with %q, want it to mention %q", what, err, w)
			}
		}
		t.Logf("%s: %v", what, err)
	}

	mustRefuse("create an overlapping pool", e.c.Create(ctx, pool("second", "203.0.113.8-203.0.113.20")),
		"denied the request", "IPAddressPool second", "overlaps addresses of IPAddressPool first")
	mustOK("create a disjoint pool", e.c.Create(ctx, pool("second", "203.0.113.16/28")))

	var first v1beta1.IPAddressPool
	mustOK("get", e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "first"}, &first))
	first.Spec.Addresses = []v1beta1.PoolAddress{"203.0.113.0/27"}
	mustRefuse("grow a pool over a newer one", e.c.Update(ctx, &first), "IPAddressPool first")
	first.Spec.Addresses = []v1beta1.PoolAddress{"203.0.113.0/29"}
	mustOK("shrink a pool", e.c.Update(ctx, &first))

	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}}
	mustOK("namespace", e.c.Create(ctx, other))
	p := pool("stray", "203.0.113.0/28")
	p.Namespace = "elsewhere"
	mustRefuse("a pool created outside routelb's namespace", e.c.Create(ctx, p),
		"denied the request", "IPAddressPool elsewhere/stray", "must be created in "+ns)

	// References to what does not exist yet are admitted, as MetalLB admits them, so a folder of
	// manifests applies in any order.
	adv := &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "adv", Namespace: ns},
		Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"later", "first"},
			Peers: []v1beta1.ObjectName{"router"}, Communities: []v1beta1.CommunityRef{"no-export"}}}
	mustOK("advertise a pool, a peer and an alias that do not exist yet", e.c.Create(ctx, adv))
	peer := &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router", Namespace: ns},
		Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1", BFDProfile: "fast",
			PasswordSecret: corev1.SecretReference{Name: "router-password"}}}
	mustOK("a peer naming a BFD profile and a Secret that do not exist yet", e.c.Create(ctx, peer))
	bfd := &v1beta1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast", Namespace: ns}}
	mustOK("create the BFD profile", e.c.Create(ctx, bfd))
	mustRefuse("delete a BFD profile a peer uses", e.c.Delete(ctx, bfd), "BFDProfile fast: is used by BGPPeer router")
	alias := &v1beta1.Community{ObjectMeta: metav1.ObjectMeta{Name: "aliases", Namespace: ns},
		Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: "no-export", Value: "65535:65281"}}}}
	mustOK("create the alias", e.c.Create(ctx, alias))
	mustOK("delete an alias in use (the advertisement waits for it again, as in MetalLB)", e.c.Delete(ctx, alias))

	// What MetalLB refuses stays refused.
	agg := &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "agg", Namespace: ns},
		Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"first"}, AggregationLength: ptr(int32(24))}}
	mustRefuse("aggregate shorter than the pool", e.c.Create(ctx, agg), "BGPAdvertisement agg", "spec.aggregationLength")
	mustRefuse("a pool the waiting advertisement cannot aggregate", func() error {
		adv.Spec.AggregationLength = ptr(int32(29))
		if err := e.c.Update(ctx, adv); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		return e.c.Create(ctx, pool("later", "203.0.113.64/30"))
	}(), "IPAddressPool later")
	mustOK("node", e.c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}))
	lp := func(name string, pref uint32) *v1beta1.BGPAdvertisement {
		return &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"second"}, LocalPref: pref}}
	}
	mustOK("a localPref", e.c.Create(ctx, lp("lp100", 100)))
	mustRefuse("another localPref for the same prefixes, peers and nodes", e.c.Create(ctx, lp("lp200", 200)),
		"BGPAdvertisement lp200", "spec.localPref", "BGPAdvertisement lp100")

	mustOK("delete the peer", e.c.Delete(ctx, peer))
	mustOK("then the profile", e.c.Delete(ctx, bfd))

	mustOK("delete a pool (its Services lose its addresses, as in MetalLB)", e.c.Delete(ctx, pool("second")))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func ptr[T any](v T) *T { return &v }
