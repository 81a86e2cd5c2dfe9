package ipam

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/testenv"
)

// TestWebhook registers the validating webhook with a real API server (envtest serves it the
// certificates the chart would) and checks that the API server itself refuses changes that break rules
// across objects, with the model's message, and lets everything else through.
func TestWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server")
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
	mustOK("a pool outside routelb's namespace is not routelb's", e.c.Create(ctx, p))

	adv := &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "adv", Namespace: ns},
		Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"missing"}}}
	mustRefuse("advertise a pool that does not exist", e.c.Create(ctx, adv), "BGPAdvertisement adv", "missing")
	adv.Spec.IPAddressPools = []v1beta1.ObjectName{"first"}
	mustOK("advertise an existing pool", e.c.Create(ctx, adv))

	bfd := &v1beta1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast", Namespace: ns}}
	mustOK("create a BFD profile", e.c.Create(ctx, bfd))
	peer := &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router", Namespace: ns},
		Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1", BFDProfile: "fast"}}
	mustOK("create a peer using it", e.c.Create(ctx, peer))
	mustRefuse("delete a BFD profile a peer uses", e.c.Delete(ctx, bfd), "BGPPeer router", "BFDProfile")
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
