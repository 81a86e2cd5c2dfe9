package ownership

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1_000_000, 0)

func vip(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}) }

func allOf(nodes ...string) VIP { return VIP{Eligible: nodes} }

// started is a machine whose own Lease was just renewed at now.
func started(self string, now time.Time) *machine {
	m := newMachine(self, DefaultTiming)
	m.renewedOK(plan{}, now)
	return m
}

func TestDesiredOwnerSpreadsAndMovesMinimally(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	m := started("n1", t0)
	for _, n := range nodes[1:] {
		m.observe(LeaseView{Node: n, ResourceVersion: "1"}, t0)
	}
	count := map[string]int{}
	before := map[netip.Addr]string{}
	base := netip.MustParseAddr("198.18.0.0")
	a := base
	for range 999 {
		a = a.Next()
		o := m.desiredOwner(a, allOf(nodes...), t0)
		count[o]++
		before[a] = o
	}
	for _, n := range nodes {
		if count[n] < 250 || count[n] > 420 {
			t.Errorf("node %s would own %d of 999 VIPs: not spread (%v)", n, count[n], count)
		}
	}
	m.forget("n3")
	for a, was := range before {
		now := m.desiredOwner(a, allOf(nodes...), t0)
		if was != "n3" && now != was {
			t.Fatalf("%s moved from %s to %s though only n3 left", a, was, now)
		}
		if now == "n3" {
			t.Fatalf("%s still goes to the departed n3", a)
		}
	}
}

// TestDesiredOwnerSharedKey: a dual-stack Service's VIPs, hashed by one key, have one owner, where
// hashed by their own addresses they would often be split.
func TestDesiredOwnerSharedKey(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4"}
	m := started("n1", t0)
	for _, n := range nodes[1:] {
		m.observe(LeaseView{Node: n, ResourceVersion: "1"}, t0)
	}
	split := 0
	for i := 1; i < 200; i++ {
		v4, v6 := vip(i), netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i))
		spec := VIP{Eligible: nodes, Key: v4}
		if a, b := m.desiredOwner(v4, spec, t0), m.desiredOwner(v6, spec, t0); a != b {
			t.Fatalf("%s and %s share a key but go to %s and %s", v4, v6, a, b)
		}
		if m.desiredOwner(v4, allOf(nodes...), t0) != m.desiredOwner(v6, allOf(nodes...), t0) {
			split++
		}
	}
	if split == 0 {
		t.Fatal("without a key no pair was split: the test shows nothing")
	}
}

func TestDesiredOwnerPreferredAndEligible(t *testing.T) {
	m := started("n1", t0)
	m.observe(LeaseView{Node: "n2", ResourceVersion: "1"}, t0)
	m.observe(LeaseView{Node: "n3", ResourceVersion: "1"}, t0)
	for i := range 50 {
		if o := m.desiredOwner(vip(i), VIP{Eligible: []string{"n1", "n2", "n3"}, Preferred: []string{"n2"}}, t0); o != "n2" {
			t.Fatalf("%s: owner %s, want the preferred n2", vip(i), o)
		}
		if o := m.desiredOwner(vip(i), VIP{Eligible: []string{"n1", "n3"}, Preferred: []string{"n2"}}, t0); o == "n2" {
			t.Fatalf("%s: the preferred but ineligible n2 was chosen", vip(i))
		}
		if o := m.desiredOwner(vip(i), VIP{Eligible: []string{"n4"}}, t0); o != "" {
			t.Fatalf("%s: owner %q among nodes without a Lease", vip(i), o)
		}
	}
	// A preferred node that dies gives way to the others.
	later := t0.Add(DefaultTiming.LeaseDuration)
	m.renewedOK(plan{}, later)
	m.observe(LeaseView{Node: "n3", ResourceVersion: "2"}, later)
	if o := m.desiredOwner(vip(1), VIP{Eligible: []string{"n1", "n2", "n3"}, Preferred: []string{"n2"}}, later); o == "n2" || o == "" {
		t.Fatalf("owner %q after the preferred node expired", o)
	}
}

// ownedBy finds VIPs in 0..n whose desired owner among nodes is self.
func ownedBy(m *machine, self string, nodes []string, n int) []netip.Addr {
	var out []netip.Addr
	for i := range n {
		if m.desiredOwner(vip(i), allOf(nodes...), t0) == self {
			out = append(out, vip(i))
		}
	}
	return out
}

func TestClaimConfirmAnswerRelease(t *testing.T) {
	nodes := []string{"n1", "n2"}
	m := started("n1", t0)
	m.observe(LeaseView{Node: "n2", ResourceVersion: "1"}, t0)
	mine := ownedBy(m, "n1", nodes, 40)
	if len(mine) == 0 {
		t.Fatal("n1 is desired for nothing")
	}
	for i := range 40 {
		m.want[vip(i)] = allOf(nodes...)
	}
	p := m.plan(t0)
	if !slices.Equal(p.claims, mine) || len(p.fences) != 0 {
		t.Fatalf("claims %v (want %v), fences %v", p.claims, mine, p.fences)
	}
	if len(m.answering(t0)) != 0 {
		t.Fatal("answering before the claim was written")
	}
	m.renewedOK(p, t0)
	if len(m.answering(t0)) != 0 {
		t.Fatal("answering a claim not yet checked")
	}
	ok, gone := m.check([]LeaseView{{Node: "n1"}, {Node: "n2", ResourceVersion: "1"}}, t0)
	if !slices.Equal(ok, mine) || len(gone) != 0 {
		t.Fatalf("confirmed %v, withdrawn %v", ok, gone)
	}
	if got := m.answering(t0); len(got) != len(mine) {
		t.Fatalf("answering %d VIPs, want %d", len(got), len(mine))
	}
	// The Service goes away: silent at release, before the write.
	delete(m.want, mine[0])
	p = m.plan(t0)
	if !slices.Equal(p.released, mine[:1]) {
		t.Fatalf("released %v, want %v", p.released, mine[:1])
	}
	m.release(p)
	if m.answering(t0)[mine[0]] {
		t.Fatal("still answering a released VIP before the write")
	}
}

func TestSilentBeforeOthersMayTakeOver(t *testing.T) {
	tm := DefaultTiming
	owner := started("n1", t0)
	owner.want[vip(1)] = allOf("n1")
	p := owner.plan(t0)
	owner.renewedOK(p, t0)
	owner.check(nil, t0)
	if !owner.answering(t0)[vip(1)] {
		t.Fatal("owner does not answer")
	}
	// The observer saw the renewal no earlier than it was sent.
	obs := started("n2", t0)
	obs.observe(LeaseView{Node: "n1", ResourceVersion: "7", Claims: []netip.Addr{vip(1)}}, t0)
	obs.want[vip(1)] = allOf("n1", "n2")
	for d := time.Duration(0); d <= 2*tm.LeaseDuration; d += 10 * time.Millisecond {
		now := t0.Add(d)
		obs.renewedOK(plan{next: obs.claims}, now)
		mayTake := len(obs.plan(now).takes) > 0
		if mayTake && owner.answering(now)[vip(1)] {
			t.Fatalf("at +%v the observer may take the VIP while the owner still answers", d)
		}
		if d >= tm.LeaseDuration && !mayTake {
			t.Fatalf("at +%v (lease expired) the observer does not take over", d)
		}
	}
	p = obs.plan(t0.Add(tm.LeaseDuration))
	if len(p.fences) != 1 || p.fences[0].ResourceVersion != "7" {
		t.Fatalf("fences %v, want n1's version 7", p.fences)
	}
	p.fenceFailed("n1")
	if len(p.claims) != 0 {
		t.Fatalf("a take survived a failed fence: %v", p.claims)
	}
}

func TestSameVersionDoesNotRefreshLiveness(t *testing.T) {
	m := started("n1", t0)
	m.observe(LeaseView{Node: "n2", ResourceVersion: "5"}, t0)
	late := t0.Add(DefaultTiming.LeaseDuration)
	m.observe(LeaseView{Node: "n2", ResourceVersion: "5"}, late.Add(-time.Millisecond))
	if m.live("n2", late) {
		t.Fatal("a re-list of the same version kept a dead node alive")
	}
	m.observe(LeaseView{Node: "n2", ResourceVersion: "6"}, late)
	if !m.live("n2", late) {
		t.Fatal("a new version did not count as a renewal")
	}
	m.observe(LeaseView{Node: "n2", ResourceVersion: "7", FencedBy: "n1"}, late)
	if m.live("n2", late) {
		t.Fatal("a fenced Lease counts as alive")
	}
}

func TestContestedClaims(t *testing.T) {
	for i := range 20 {
		v := vip(i)
		hi, lo := "a", "b"
		if outranks(v, "b", "a") {
			hi, lo = "b", "a"
		}
		for _, self := range []string{hi, lo} {
			other := hi
			if self == hi {
				other = lo
			}
			m := started(self, t0)
			m.claims[v] = pending
			ok, gone := m.check([]LeaseView{{Node: other, ResourceVersion: "1", Claims: []netip.Addr{v}}}, t0)
			if len(ok) != 0 {
				t.Fatalf("%s: %s confirmed a claim %s also holds", v, self, other)
			}
			if (self == lo) != (len(gone) == 1) {
				t.Fatalf("%s: %s (higher %s) withdrew %v", v, self, hi, gone)
			}
		}
	}
}

func TestLapseKeepsClaimsButSilences(t *testing.T) {
	m := started("n1", t0)
	m.want[vip(1)] = allOf("n1")
	m.renewedOK(m.plan(t0), t0)
	m.check(nil, t0)
	dl := t0.Add(DefaultTiming.LeaseDuration - DefaultTiming.Margin)
	if !m.answering(dl.Add(-time.Millisecond))[vip(1)] || m.answering(dl)[vip(1)] {
		t.Fatal("answering does not stop exactly at the deadline")
	}
	if w := m.nextWake(t0); !w.Equal(dl) {
		t.Fatalf("next wake %v, want the deadline %v", w.Sub(t0), dl.Sub(t0))
	}
	if p := m.plan(dl); len(p.released) != 0 || len(p.takes) != 0 {
		t.Fatalf("a lapsed node released %v / took %v", p.released, p.takes)
	}
	m.renewedOK(m.plan(dl), dl)
	if !m.answering(dl)[vip(1)] {
		t.Fatal("a successful renewal after a lapse did not resume answering")
	}
	m.lost()
	if len(m.answering(dl)) != 0 {
		t.Fatal("answering after the Lease was fenced")
	}
}

func TestClaimsEncoding(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"203.0.113.1"}, "203.0.113.1"},
		{[]string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.9"}, "203.0.113.1-203.0.113.3,203.0.113.9"},
		{[]string{"198.18.0.255", "198.18.1.0", "2001:db8::ffff", "2001:db8::1:0"}, "198.18.0.255-198.18.1.0,2001:db8::ffff-2001:db8::1:0"},
	} {
		var addrs []netip.Addr
		for _, s := range tc.in {
			addrs = append(addrs, netip.MustParseAddr(s))
		}
		got := EncodeClaims(addrs)
		if got != tc.want {
			t.Errorf("EncodeClaims(%v) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := DecodeClaims(got)
		if err != nil || !slices.Equal(back, addrs) {
			t.Errorf("DecodeClaims(%q) = %v, %v", got, back, err)
		}
	}
	for _, bad := range []string{"x", "203.0.113.9-203.0.113.1", "203.0.113.1-2001:db8::1", "10.0.0.0-10.255.255.255"} {
		if _, err := DecodeClaims(bad); err == nil {
			t.Errorf("DecodeClaims(%q) accepted", bad)
		}
	}
}

func TestTimingValidate(t *testing.T) {
	if err := DefaultTiming.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Timing{{time.Second, time.Second, 100 * time.Millisecond}, {100 * time.Millisecond, time.Second, time.Second}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if LeaseName("n1") != "routelb-l2-n1" || len(LeaseName(fmt.Sprintf("%0300d", 1))) > 253 {
		t.Error("LeaseName")
	}
}
