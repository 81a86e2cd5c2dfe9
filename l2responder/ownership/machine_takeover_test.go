package ownership

import (
	"net/netip"
	"testing"
	"time"
)

// outageMachine is self among n1..n4, in an outage (its Lease stale, every promise held), with the
// other three Leases in view (following rule F); dead is the set of nodes a majority voted dead
// (rule D), and n4's Lease claims claimed.
func outageMachine(self string, dead map[string]bool, claimed []netip.Addr, want map[netip.Addr]VIP) *machine {
	m := started(self, t0)
	m.lan = &lanRules{outageLimit: time.Minute, silent: never, dropped: func(n, _ string) bool { return dead[n] }}
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		var c []netip.Addr
		if n == "n4" {
			c = claimed
		}
		m.observe(LeaseView{Node: n, ResourceVersion: "1", Incarnation: "r-" + n, LAN: true, Claims: c}, t0)
	}
	m.want = want
	m.lanUntil = t0.Add(time.Hour)
	m.quorum = Quorum{Applies: true, Until: t0.Add(time.Hour), Clean: false}
	m.refreshDead()
	return m
}

var inOutage = t0.Add(5 * time.Second) // past the Lease deadline, well within the outage limit

// TestRuleTOneSurvivorTakesEachVIP: n4 dies in an outage and is voted dead; each of its VIPs is
// taken by exactly one survivor, the one the Lease rules would pick once n4's Lease is gone
// (preference scores first).
func TestRuleTOneSurvivorTakesEachVIP(t *testing.T) {
	want := map[netip.Addr]VIP{}
	var claimed []netip.Addr
	for i := 1; i <= 60; i++ {
		spec := allOf("n1", "n2", "n3", "n4")
		if i%5 == 0 {
			spec.Scores = map[string]int64{"n3": 10, "n2": 5}
		}
		want[vip(i)] = spec
		claimed = append(claimed, vip(i))
	}
	dead := map[string]bool{"n4": true}
	survivors := []string{"n1", "n2", "n3"}
	taken := map[netip.Addr][]string{}
	for _, self := range survivors {
		m := outageMachine(self, dead, claimed, want)
		if m.fresh(inOutage) {
			t.Fatal("the machine should be in an outage here")
		}
		for v := range m.answering(inOutage) {
			taken[v] = append(taken[v], self)
		}
	}
	for v, spec := range want {
		// What the Lease rules pick among the survivors, n4's Lease gone.
		lease := rankFirst(v, spec, func(n string) bool { return n != "n4" })
		if got := taken[v]; len(got) != 1 || got[0] != lease {
			t.Errorf("%s taken by %v, want only %s", v, got, lease)
		}
	}
	if got := taken[vip(5)]; len(got) != 1 || got[0] != "n3" {
		t.Errorf("%s prefers n3 (score 10): taken by %v", vip(5), got)
	}
}

// TestRuleTNeedsAMajorityVoteAndAnOutage: nothing is taken while the owner is not voted dead, while
// another live Lease claims the VIP too, or when our Lease is fresh (the Lease rules decide then).
func TestRuleTNeedsAMajorityVoteAndAnOutage(t *testing.T) {
	want := map[netip.Addr]VIP{vip(1): allOf("n1", "n2", "n3", "n4")}
	owner := func(dead map[string]bool) string {
		for _, self := range []string{"n1", "n2", "n3"} {
			if outageMachine(self, dead, []netip.Addr{vip(1)}, want).answering(inOutage)[vip(1)] {
				return self
			}
		}
		return ""
	}
	if o := owner(nil); o != "" {
		t.Errorf("%s took %s from n4, which nobody voted dead", o, vip(1))
	}
	if o := owner(map[string]bool{"n4": true}); o == "" {
		t.Fatal("nobody took the VIP of n4, voted dead: the cases below show nothing")
	}
	for _, self := range []string{"n1", "n3"} {
		m := outageMachine(self, map[string]bool{"n4": true}, []netip.Addr{vip(1)}, want)
		m.observe(LeaseView{Node: "n2", ResourceVersion: "2", Incarnation: "r-n2", LAN: true, Claims: []netip.Addr{vip(1)}}, t0)
		m.refreshDead()
		if m.answering(inOutage)[vip(1)] {
			t.Errorf("%s took %s, which n2 (alive) claims too", self, vip(1))
		}
	}
	for _, self := range []string{"n1", "n2", "n3"} {
		m := outageMachine(self, map[string]bool{"n4": true}, []netip.Addr{vip(1)}, want)
		m.renewedOK(plan{}, inOutage)
		m.quorum.Clean = true
		if m.answering(inOutage)[vip(1)] {
			t.Errorf("%s, fresh, answered %s by rule T: only the Lease rules may give it", self, vip(1))
		}
	}
}

// TestRuleTIsWrittenWhenTheAPIReturns: the first renewal after the outage writes the taken VIPs as
// confirmed claims, so they stay answered and other nodes see them claimed.
func TestRuleTIsWrittenWhenTheAPIReturns(t *testing.T) {
	want := map[netip.Addr]VIP{}
	var claimed []netip.Addr
	for i := 1; i <= 12; i++ {
		want[vip(i)] = allOf("n1", "n2", "n3", "n4")
		claimed = append(claimed, vip(i))
	}
	m := outageMachine("n1", map[string]bool{"n4": true}, claimed, want)
	taken := m.answering(inOutage)
	if len(taken) == 0 {
		t.Fatal("n1 takes none of n4's 12 VIPs: pick other test VIPs")
	}
	p := m.plan(inOutage)
	if len(p.claims) != len(taken) {
		t.Fatalf("renewal would write %v, want the %d taken VIPs", p.claims, len(taken))
	}
	m.renewedOK(p, inOutage)
	m.quorum.Clean = true
	for v := range taken {
		if m.claims[v] != confirmed || !m.answering(inOutage)[v] {
			t.Errorf("%s not kept as a confirmed, answered claim after the renewal", v)
		}
	}
}

// TestRuleCGatesRule1: after telling the LAN it was in an outage, a node answers by its fresh Lease
// only once a majority acked a heartbeat saying it is fresh again; rule O still applies meanwhile.
func TestRuleCGatesRule1(t *testing.T) {
	m := lanMachine(never, false)
	m.quorum = Quorum{Applies: true, Until: t0.Add(time.Hour), Clean: false}
	if m.answering(t0)[vip(1)] {
		t.Fatal("answered by rule 1 before a majority knew the node was fresh again")
	}
	m.lanUntil = t0.Add(time.Hour)
	if !m.answering(t0)[vip(1)] {
		t.Fatal("rule O holds (every promise): it must answer")
	}
	m.lanUntil = time.Time{}
	m.quorum.Clean = true
	if !m.answering(t0)[vip(1)] {
		t.Fatal("fresh and clean: rule 1 must answer")
	}
}

// TestRuleMCapsRuleO: rule O also needs a majority's promises (3 nodes or more).
func TestRuleMCapsRuleO(t *testing.T) {
	m := lanMachine(never, false)
	m.lanUntil = t0.Add(5 * time.Second)
	m.quorum = Quorum{Applies: true, Until: t0.Add(3 * time.Second), Clean: true}
	at := t0.Add(3*time.Second - DefaultTiming.Margin)
	if m.answering(at)[vip(1)] || !m.answering(at.Add(-time.Millisecond))[vip(1)] {
		t.Errorf("rule O must end margin before the majority's promises do (%v)", at)
	}
	m.quorum.Until = time.Time{}
	if m.answering(m.deadline().Add(time.Millisecond))[vip(1)] {
		t.Error("rule O without any majority promise")
	}
}

// TestRuleRRetires: a node not clean whose majority promises lapsed retires; a clean one does not.
func TestRuleRRetires(t *testing.T) {
	m := lanMachine(never, false)
	m.quorum = Quorum{Applies: true, Until: t0.Add(3 * time.Second), Clean: false}
	at := t0.Add(3*time.Second - DefaultTiming.Margin)
	if m.mustRetire(at.Add(-time.Millisecond)) || !m.mustRetire(at) {
		t.Errorf("must retire exactly when the majority's promises end, margin early (%v)", at)
	}
	m.quorum.Clean = true
	if m.mustRetire(at.Add(time.Hour)) {
		t.Error("a clean node never retires")
	}
	m.quorum = Quorum{}
	if m.mustRetire(at.Add(time.Hour)) {
		t.Error("rule R applies only with a quorum (3 nodes or more)")
	}
	m.quorum = Quorum{Applies: true, Until: t0, Clean: false}
	m.retire()
	if m.canAnswer(t0) || len(m.claims) != 0 || len(m.plan(t0).claims) != 0 {
		t.Error("a retired run answers, keeps or takes nothing")
	}
}

// TestRuleTWinnerKeepsItWhenTheAPIReturns: back with the API server before the winner's renewal is
// seen, another survivor must not claim a VIP of the run voted dead by the Lease rules (the winner
// may be answering it by rule T), though in its view the winner's Lease has expired.
func TestRuleTWinnerKeepsItWhenTheAPIReturns(t *testing.T) {
	want := map[netip.Addr]VIP{}
	var claimed []netip.Addr
	for i := 1; i <= 30; i++ {
		want[vip(i)] = allOf("n1", "n2", "n3", "n4")
		claimed = append(claimed, vip(i))
	}
	dead := map[string]bool{"n4": true}
	m := outageMachine("n2", dead, claimed, want)
	m.lan.silent = func(n, _ string, _ time.Time) bool { return n == "n4" } // F1 would let n2 fence it
	now := inOutage
	m.renewedOK(plan{}, now) // n2 renewed; n1's and n3's Leases look expired from here
	m.quorum.Clean = true
	var winners int
	for _, v := range claimed {
		w := rankFirst(v, want[v], func(n string) bool { return n != "n4" })
		if w == "n2" {
			continue
		}
		winners++
		if m.desiredOwner(v, want[v], now) != "n2" {
			t.Fatalf("%s: n2 should be the desired owner by Lease liveness here: the test shows nothing", v)
		}
		if _, takes := m.plan(now).takes[v]; takes {
			t.Errorf("n2 claims %s, which rule T gives to %s", v, w)
		}
	}
	if winners == 0 {
		t.Fatal("n2 wins every VIP: pick others")
	}
}

// TestNewRunHoldsBackItsPreviousClaims: a restarted node does not claim what its previous run
// claimed (a rule T winner may answer it, not yet in its Lease) until every other LAN Lease was
// renewed after the restart.
func TestNewRunHoldsBackItsPreviousClaims(t *testing.T) {
	m := started("n1", t0)
	m.lan = &lanRules{outageLimit: time.Minute, silent: never}
	m.observe(LeaseView{Node: "n2", ResourceVersion: "1", Incarnation: "r2", LAN: true}, t0.Add(-time.Second))
	m.want = map[netip.Addr]VIP{vip(1): allOf("n1")}
	m.startedAt, m.heldBack = t0, map[netip.Addr]bool{vip(1): true}
	if _, takes := m.plan(t0).takes[vip(1)]; takes {
		t.Fatal("claimed the previous run's VIP before n2 renewed after the restart")
	}
	m.observe(LeaseView{Node: "n2", ResourceVersion: "2", Incarnation: "r2", LAN: true}, t0.Add(100*time.Millisecond))
	now := t0.Add(200 * time.Millisecond)
	if _, takes := m.plan(now).takes[vip(1)]; !takes {
		t.Fatal("n2 renewed after the restart without claiming it: the VIP must be claimed")
	}
}
