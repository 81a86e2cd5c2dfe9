package allocator

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/routelb/routelb/internal/model"
)

func pool(name string, ranges ...string) *model.Pool {
	p := &model.Pool{Name: name, AutoAssign: true}
	for _, s := range ranges {
		r, _, err := model.ParsePoolAddress(s)
		if err != nil {
			panic(err)
		}
		p.Ranges = append(p.Ranges, r)
	}
	return p
}

func pools(ps ...*model.Pool) map[string]*model.Pool {
	m := map[string]*model.Pool{}
	for _, p := range ps {
		m[p.Name] = p
	}
	return m
}

func v4(key string) Request { return Request{Key: key, Namespace: "default", Families: []Family{IPv4}} }

func ips(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, x := range s {
		out[i] = netip.MustParseAddr(x)
	}
	return out
}

func sel(s string) labels.Selector {
	ls, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: must(labels.ConvertSelectorToLabelsMap(s))})
	if err != nil {
		panic(err)
	}
	return ls
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

type step struct {
	req    Request
	status []netip.Addr
	want   []string // nil with reason: failure
	pool   string
	reason Reason
}

func TestEnsure(t *testing.T) {
	buggyPool := pool("b", "203.0.113.255-203.0.114.0")
	buggyPool.AvoidBuggyIPs = true
	manual := pool("manual", "203.0.113.100/32")
	manual.AutoAssign = false
	low, high := pool("low", "203.0.113.10/32"), pool("high", "203.0.113.20/32")
	low.Priority, low.HasPriority = 10, true
	high.Priority, high.HasPriority = 1, true
	nsPool := pool("ns", "203.0.113.30/32")
	nsPool.Namespaces = []string{"team-a"}
	nsSel := pool("nssel", "203.0.113.40/32")
	nsSel.NamespaceSelectors = []labels.Selector{sel("team=b")}
	svcSel := pool("svcsel", "203.0.113.50/32")
	svcSel.ServiceSelectors = []labels.Selector{sel("tier=web")}
	dual := pool("dual", "203.0.113.60/32", "2001:db8::60/128")
	v6 := pool("v6", "2001:db8:1::/64")

	shared := func(key, sk string, port int32) Request {
		r := v4(key)
		r.SharingKey, r.Ports = sk, []Port{{"TCP", port}}
		return r
	}
	withIPs := func(r Request, s ...string) Request { r.IPs = ips(s...); return r }
	withPool := func(r Request, p string) Request { r.Pool = p; return r }
	fams := func(r Request, pol Policy, f ...Family) Request { r.Policy, r.Families = pol, f; return r }

	cases := []struct {
		name  string
		pools map[string]*model.Pool
		steps []step
	}{
		{"first free address", pools(pool("a", "203.0.113.0/30")), []step{
			{req: v4("a"), want: []string{"203.0.113.0"}, pool: "a"},
			{req: v4("b"), want: []string{"203.0.113.1"}},
			{req: v4("a"), want: []string{"203.0.113.0"}}, // idempotent
		}},
		{"range entry", pools(pool("a", "203.0.113.7-203.0.113.8")), []step{
			{req: v4("a"), want: []string{"203.0.113.7"}},
			{req: v4("b"), want: []string{"203.0.113.8"}},
			{req: v4("c"), reason: ReasonExhausted},
		}},
		{"avoid buggy IPs", pools(buggyPool), []step{
			{req: v4("a"), reason: ReasonExhausted},
			{req: withIPs(v4("b"), "203.0.114.0"), reason: ReasonBuggyIP},
		}},
		{"auto-assign off only on request", pools(manual), []step{
			{req: v4("a"), reason: ReasonNoPool},
			{req: withPool(v4("b"), "manual"), want: []string{"203.0.113.100"}},
			{req: withIPs(v4("c"), "203.0.113.100"), reason: ReasonInUse},
		}},
		{"priority order", pools(low, high), []step{
			{req: v4("a"), want: []string{"203.0.113.20"}, pool: "high"},
			{req: v4("b"), want: []string{"203.0.113.10"}, pool: "low"},
		}},
		{"namespaces", pools(nsPool), []step{
			{req: v4("a"), reason: ReasonNoPool},
			{req: func() Request { r := v4("b"); r.Namespace = "team-a"; return r }(), want: []string{"203.0.113.30"}},
			{req: withIPs(v4("c"), "203.0.113.30"), reason: ReasonNotAllowed},
		}},
		{"namespace selectors", pools(nsSel), []step{
			{req: v4("a"), reason: ReasonNoPool},
			{req: func() Request { r := v4("b"); r.NamespaceLabels = map[string]string{"team": "b"}; return r }(), want: []string{"203.0.113.40"}},
		}},
		{"service selectors", pools(svcSel), []step{
			{req: withPool(v4("a"), "svcsel"), reason: ReasonNotAllowed},
			{req: func() Request { r := v4("b"); r.Labels = map[string]string{"tier": "web"}; return r }(), want: []string{"203.0.113.50"}},
		}},
		{"requested address", pools(pool("a", "203.0.113.0/24")), []step{
			{req: withIPs(v4("a"), "203.0.113.77"), want: []string{"203.0.113.77"}},
			{req: withIPs(v4("b"), "198.51.100.1"), reason: ReasonNotInPool},
			{req: withIPs(v4("c"), "2001:db8::1"), reason: ReasonWrongFamily},
			{req: v4("d"), want: []string{"203.0.113.0"}},
		}},
		{"unknown pool", pools(pool("a", "203.0.113.0/24")), []step{
			{req: withPool(v4("a"), "nope"), reason: ReasonUnknownPool},
			{req: withPool(withIPs(v4("b"), "203.0.113.9"), "nope"), reason: ReasonNotInPool},
		}},
		{"sharing", pools(pool("a", "203.0.113.0/30")), []step{
			{req: shared("a", "k", 80), want: []string{"203.0.113.0"}},
			{req: shared("b", "k", 443), want: []string{"203.0.113.0"}},
			{req: shared("c", "k", 80), want: []string{"203.0.113.1"}}, // port clash: another address
			{req: withIPs(shared("d", "other", 22), "203.0.113.0"), reason: ReasonInUse},
			{req: withIPs(v4("e"), "203.0.113.0"), reason: ReasonInUse},
			{req: func() Request { r := withIPs(shared("f", "k", 8080), "203.0.113.0"); r.BackendKey = "app=x"; return r }(), reason: ReasonInUse},
		}},
		{"dual stack", pools(dual, v6), []step{
			{req: fams(v4("a"), RequireDualStack, IPv4, IPv6), want: []string{"203.0.113.60", "2001:db8::60"}, pool: "dual"},
			{req: fams(v4("b"), RequireDualStack, IPv6, IPv4), reason: ReasonExhausted},
			{req: fams(v4("c"), PreferDualStack, IPv6, IPv4), want: []string{"2001:db8:1::"}, pool: "v6"},
			{req: fams(v4("d"), SingleStack, IPv6), want: []string{"2001:db8:1::1"}},
			{req: fams(v4("e"), RequireDualStack, IPv4), reason: ReasonWrongFamily},
		}},
		// MetalLB writes a dual-stack pair IPv4 first whatever spec.ipFamilies says; requested
		// addresses keep the order the user gave.
		{"dual-stack pair is IPv4 first", pools(pool("d", "203.0.113.60/30", "2001:db8::60/126")), []step{
			{req: fams(v4("a"), RequireDualStack, IPv6, IPv4), want: []string{"203.0.113.60", "2001:db8::60"}, pool: "d"},
			{req: fams(v4("b"), PreferDualStack, IPv6, IPv4), want: []string{"203.0.113.61", "2001:db8::61"}, pool: "d"},
			{req: withIPs(fams(v4("c"), RequireDualStack, IPv6, IPv4), "2001:db8::62", "203.0.113.62"), want: []string{"2001:db8::62", "203.0.113.62"}, pool: "d"},
			{req: fams(v4("d"), SingleStack, IPv6), want: []string{"2001:db8::63"}, pool: "d"},
			{req: fams(v4("d"), RequireDualStack, IPv6, IPv4), want: []string{"203.0.113.63", "2001:db8::63"}, pool: "d"},
		}},
		// MetalLB: a Service preferring dual stack whose first family no pool has gets the second alone.
		{"PreferDualStack falls back to the second family", pools(v6), []step{
			{req: fams(v4("a"), PreferDualStack, IPv4, IPv6), want: []string{"2001:db8:1::"}, pool: "v6"},
			{req: fams(v4("a"), PreferDualStack, IPv4, IPv6), status: ips("2001:db8:1::"), want: []string{"2001:db8:1::"}, pool: "v6"},
			{req: fams(v4("b"), RequireDualStack, IPv4, IPv6), reason: ReasonExhausted},
			{req: fams(v4("c"), SingleStack, IPv4, IPv6), reason: ReasonExhausted},
		}},
		{"PreferDualStack takes the first family before the second", pools(pool("a4", "203.0.113.0/28"), v6), []step{
			{req: fams(v4("a"), PreferDualStack, IPv4, IPv6), want: []string{"203.0.113.0"}, pool: "a4"},
			{req: fams(v4("b"), PreferDualStack, IPv6, IPv4), want: []string{"2001:db8:1::"}, pool: "v6"},
		}},
		{"keeps status addresses", pools(pool("a", "203.0.113.0/24")), []step{
			{req: v4("a"), status: ips("203.0.113.200"), want: []string{"203.0.113.200"}},
			{req: v4("b"), status: ips("203.0.113.200"), want: []string{"203.0.113.0"}},
			{req: v4("c"), status: ips("198.51.100.1"), want: []string{"203.0.113.1"}},
		}},
		{"request change moves", pools(pool("a", "203.0.113.0/24")), []step{
			{req: v4("a"), want: []string{"203.0.113.0"}},
			{req: withIPs(v4("a"), "203.0.113.9"), want: []string{"203.0.113.9"}},
			{req: v4("b"), want: []string{"203.0.113.0"}},
		}},
		{"family change keeps the address of the family that stays", pools(dual, v6), []step{
			{req: v4("a"), want: []string{"203.0.113.60"}},
			{req: fams(v4("a"), RequireDualStack, IPv4, IPv6), want: []string{"203.0.113.60", "2001:db8::60"}, pool: "dual"},
			{req: fams(v4("a"), SingleStack, IPv6), want: []string{"2001:db8::60"}, pool: "dual"},
			{req: fams(v4("b"), SingleStack, IPv6), want: []string{"2001:db8:1::"}, pool: "v6"},
			// No pool holds b's IPv6 address and an IPv4 one: like MetalLB, the request fails.
			{req: fams(v4("b"), RequireDualStack, IPv6, IPv4), reason: ReasonExhausted},
		}},
		{"invalid request", pools(pool("a", "203.0.113.0/24")), []step{
			{req: Request{Key: "x"}, reason: ReasonBadRequest},
			{req: withIPs(v4("y"), "203.0.113.1", "203.0.113.2"), reason: ReasonBadRequest},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := New()
			a.SetPools(c.pools)
			for i, s := range c.steps {
				res, err := a.Ensure(s.req, s.status)
				if s.want == nil {
					var e *Error
					if !errors.As(err, &e) || e.Reason != s.reason {
						t.Fatalf("step %d: got %v, %v; want failure %s", i, res, err, s.reason)
					}
					if _, held := a.Get(s.req.Key); held {
						t.Fatalf("step %d: failed request still holds an address", i)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got := fmt.Sprint(res.IPs); got != fmt.Sprint(ips(s.want...)) {
					t.Fatalf("step %d: got %s, want %v", i, got, s.want)
				}
				if s.pool != "" && res.Pool != s.pool {
					t.Fatalf("step %d: pool %s, want %s", i, res.Pool, s.pool)
				}
			}
		})
	}
}

// TestPinnedPoolsFirst: as MetalLB, a pool with a serviceAllocation that serves the Service is
// tried before every generic pool, whatever the names and even with no priority.
func TestPinnedPoolsFirst(t *testing.T) {
	generic := pool("a-generic", "203.0.113.0/30", "2001:db8::/126")
	team := pool("z-team", "203.0.113.8/30")
	team.Pinned, team.Namespaces = true, []string{"team-a"}
	prio := pool("y-prio", "203.0.113.16/30")
	prio.Pinned, prio.Priority, prio.HasPriority = true, 5, true
	inTeam := v4("team-a/web")
	inTeam.Namespace = "team-a"
	cases := []struct {
		name  string
		pools map[string]*model.Pool
		req   Request
		pool  string
	}{
		{"generic alone", pools(generic), v4("default/web"), "a-generic"},
		{"namespace-pinned before generic", pools(generic, team), inTeam, "z-team"},
		{"a pinned pool that does not serve the Service is skipped", pools(generic, team), v4("default/web"), "a-generic"},
		{"priority-only serviceAllocation is pinned", pools(generic, prio), v4("default/web"), "y-prio"},
		{"pinned by priority, then name", pools(generic, team, prio), inTeam, "y-prio"},
		// MetalLB settles within the pinned pools first: the primary family alone from a pinned
		// pool beats both families from a generic one.
		{"PreferDualStack stays in the pinned tier", pools(generic, team), fams(inTeam, PreferDualStack, IPv4, IPv6), "z-team"},
	}
	for _, c := range cases {
		a := New()
		a.SetPools(c.pools)
		res, err := a.Ensure(c.req, nil)
		if err != nil || res.Pool != c.pool {
			t.Errorf("%s: got %v from %q (%v), want pool %s", c.name, res.IPs, res.Pool, err, c.pool)
		}
	}
}

// TestNarrowingClears: a pool whose serviceAllocation no longer serves a Service takes its address
// back and the Service gets a new one (MetalLB's ClearAssignment), reported once.
func TestNarrowingClears(t *testing.T) {
	team := pool("team", "203.0.113.8/30")
	team.Pinned, team.Namespaces = true, []string{"team-a"}
	generic := pool("generic", "203.0.113.0/30")
	req := v4("team-a/web")
	req.Namespace = "team-a"
	a := New()
	a.SetPools(pools(team, generic))
	first, err := a.Ensure(req, nil)
	if err != nil || first.Pool != "team" || first.Cleared != "" {
		t.Fatalf("first allocation: %+v %v", first, err)
	}
	narrowed := *team
	narrowed.Namespaces = []string{"team-b"}
	if lost := a.SetPools(pools(&narrowed, generic)); len(lost) != 0 {
		t.Fatalf("lost %v: the address is still in the pool, Ensure decides", lost)
	}
	res, err := a.Ensure(req, first.IPs)
	if err != nil || res.Pool != "generic" || !strings.Contains(res.Cleared, `pool "team" no longer serves`) {
		t.Fatalf("after narrowing: %+v %v", res, err)
	}
	if again, _ := a.Ensure(req, res.IPs); again.Cleared != "" || !slices.Equal(again.IPs, res.IPs) {
		t.Fatalf("cleared twice: %+v", again)
	}
	// Cleared even when nothing else fits: the address is not kept against the pool's rule.
	a.SetPools(pools(&narrowed))
	res, err = a.Ensure(req, res.IPs)
	if err == nil || !strings.Contains(res.Cleared, "not in any one pool") {
		t.Fatalf("no pool left: %+v %v", res, err)
	}
	if _, held := a.Get(req.Key); held {
		t.Fatal("still holds an address no pool allows")
	}
}

// TestAdditionalFamily: a Service preferring dual stack that got one family gains the other from
// its pool once there is one free (MetalLB's additional assignment), and says why not meanwhile.
func TestAdditionalFamily(t *testing.T) {
	dual := pool("dual", "203.0.113.60/32", "2001:db8::60/128")
	a := New()
	a.SetPools(pools(dual))
	hog := fams(v4("hog"), SingleStack, IPv6)
	if _, err := a.Ensure(hog, nil); err != nil {
		t.Fatal(err)
	}
	req := fams(v4("web"), PreferDualStack, IPv4, IPv6)
	res, err := a.Ensure(req, nil)
	if err != nil || fmt.Sprint(res.IPs) != "[203.0.113.60]" {
		t.Fatalf("first: %+v %v", res, err)
	}
	res, _ = a.Ensure(req, res.IPs)
	if !strings.Contains(res.AdditionalFailed, "no available IPv6 address in pool dual") || len(res.IPs) != 1 {
		t.Fatalf("while the IPv6 address is taken: %+v", res)
	}
	a.Release("hog")
	res, _ = a.Ensure(req, res.IPs)
	if fmt.Sprint(res.IPs) != "[203.0.113.60 2001:db8::60]" || res.AdditionalFailed != "" {
		t.Fatalf("once free: %+v", res)
	}
}

func TestPoolChange(t *testing.T) {
	a := New()
	a.SetPools(pools(pool("a", "203.0.113.0/30"), pool("b", "198.51.100.0/30")))
	for _, k := range []string{"x", "y"} {
		if _, err := a.Ensure(v4(k), nil); err != nil {
			t.Fatal(err)
		}
	}
	x, _ := a.Get("x")
	lost := a.SetPools(pools(pool("a", "203.0.113.0/31"), pool("c", "198.51.100.8/30")))
	if !slices.Equal(lost, nil) {
		t.Fatalf("lost %v, want nothing: both addresses are still in pool a", lost)
	}
	lost = a.SetPools(pools(pool("c", "198.51.100.8/30")))
	if !slices.Equal(lost, []string{"x", "y"}) {
		t.Fatalf("lost %v", lost)
	}
	res, err := a.Ensure(v4("x"), x.IPs)
	if err != nil || res.Pool != "c" {
		t.Fatalf("reallocation: %v %v", res, err)
	}
	if c, _ := a.Counts("c"); c.AssignedIPv4 != 1 || c.AvailableIPv4 != 3 {
		t.Fatalf("counts %+v", c)
	}
}

func TestPrime(t *testing.T) {
	a := New()
	a.SetPools(pools(pool("a", "203.0.113.0/30")))
	if err := a.Prime(v4("old"), ips("203.0.113.2")); err != nil {
		t.Fatal(err)
	}
	if err := a.Prime(v4("dup"), ips("203.0.113.2")); err == nil {
		t.Fatal("a second non-sharing holder was primed")
	}
	a.MarkPrimed()
	for i, want := range []string{"203.0.113.0", "203.0.113.1", "203.0.113.3"} {
		res, err := a.Ensure(v4(fmt.Sprint(i)), nil)
		if err != nil || res.IPs[0].String() != want {
			t.Fatalf("new %d: %v %v, want %s", i, res, err, want)
		}
	}
	if res, err := a.Ensure(v4("old"), nil); err != nil || res.IPs[0].String() != "203.0.113.2" {
		t.Fatalf("primed Service moved: %v %v", res, err)
	}
}

func TestCounts(t *testing.T) {
	p := pool("p", "203.0.113.0/24", "198.51.100.250-198.51.101.5", "2001:db8::/64", "2001:db8:1::/120")
	p.AvoidBuggyIPs = true
	big := pool("big", "2001:db8:2::/48", "2001:db8:3::/48")
	a := New()
	a.SetPools(pools(p, big))
	c, _ := a.Counts("p")
	if c.AvailableIPv4 != 254+12-2 || c.AvailableIPv6 != math.MaxInt64 {
		t.Fatalf("counts %+v", c)
	}
	if c, _ := a.Counts("big"); c.AvailableIPv6 != math.MaxInt64 {
		t.Fatalf("big counts %+v", c)
	}
	r := fams(v4("x"), SingleStack, IPv6)
	r.Pool = "p"
	if _, err := a.Ensure(r, nil); err != nil {
		t.Fatal(err)
	}
	if c, _ := a.Counts("p"); c.AssignedIPv6 != 1 {
		t.Fatalf("counts %+v", c)
	}
}

func fams(r Request, pol Policy, f ...Family) Request { r.Policy, r.Families = pol, f; return r }

// An IPv6 /64 must be allocated from without scanning it.
func TestLargeAllocation(t *testing.T) {
	a := New()
	a.SetPools(pools(pool("v6", "2001:db8::/64"), pool("v4", "198.18.0.0/15")))
	for i := 0; i < 20000; i++ {
		if _, err := a.Ensure(v4(fmt.Sprint("v4-", i)), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Ensure(fams(v4(fmt.Sprint("v6-", i)), SingleStack, IPv6), nil); err != nil {
			t.Fatal(err)
		}
	}
	a.Release("v4-5")
	if res, _ := a.Ensure(v4("again"), nil); res.IPs[0].String() != "198.18.0.5" {
		t.Fatalf("released address not reused first: %v", res)
	}
}

func BenchmarkEnsure5000(b *testing.B) {
	for b.Loop() {
		a := New()
		a.SetPools(pools(pool("v4", "198.18.0.0/15"), pool("v6", "2001:db8::/64")))
		for i := 0; i < 5000; i++ {
			if _, err := a.Ensure(fams(v4(fmt.Sprint(i)), PreferDualStack, IPv4, IPv6), nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Sharing stays cheap at scale: 5,000 Services in pairs on one key (the worst case: every address
// holds the key, so each allocation looks at all of them).
func TestLargeSharing(t *testing.T) {
	a := New()
	a.SetPools(pools(pool("v4", "198.18.0.0/15")))
	for i := 0; i < 5000; i++ {
		r := v4(fmt.Sprint(i))
		r.SharingKey, r.Ports = "k", []Port{{"TCP", int32(i % 2)}}
		res, err := a.Ensure(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("198.18.%d.%d", (i/2)/256, (i/2)%256); res.IPs[0].String() != want {
			t.Fatalf("Service %d got %s, want %s", i, res.IPs[0], want)
		}
	}
	for i := 0; i < 5000; i++ {
		a.Release(fmt.Sprint(i))
	}
	if len(a.byShareKey) != 0 || len(a.byIP) != 0 {
		t.Fatalf("index not empty after releasing everything: %d keys, %d addresses", len(a.byShareKey), len(a.byIP))
	}
}
