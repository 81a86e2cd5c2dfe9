package ownership

import (
	"net/netip"
	"testing"
	"time"
)

// lanMachine is n1, owning vip(1) (confirmed) after a renewal at t0, with n2's Lease (following
// rule F unless plain) in view, and rules F and O on with a 10 s outage limit.
func lanMachine(silent func(node, run string, now time.Time) bool, plain bool) *machine {
	m := started("n1", t0)
	m.lan = &lanRules{outageLimit: 10 * time.Second, silent: silent}
	m.observe(LeaseView{Node: "n2", ResourceVersion: "1", Incarnation: "r2", LAN: !plain}, t0)
	m.want = map[netip.Addr]VIP{vip(1): allOf("n1", "n2")}
	m.claims = map[netip.Addr]claimState{vip(1): confirmed}
	return m
}

func never(string, string, time.Time) bool { return false }

func TestRuleOAnswersOnPromisesUntilTheyOrTheLimitEnd(t *testing.T) {
	m := lanMachine(never, false)
	margin := DefaultTiming.Margin
	past := m.deadline().Add(time.Millisecond)
	if m.fresh(past) {
		t.Fatal("the Lease should be stale here: the test shows nothing")
	}
	if m.answering(past)[vip(1)] {
		t.Fatal("answering past the Lease deadline without any promise")
	}
	m.lanUntil = t0.Add(5 * time.Second)
	if !m.answering(past)[vip(1)] || !m.inOutage(past) {
		t.Fatal("not answering by rule O though every hearer promised until t0+5s")
	}
	if at := m.lanUntil.Add(-margin); m.answering(at)[vip(1)] || !m.answering(at.Add(-time.Millisecond))[vip(1)] {
		t.Errorf("rule O must end exactly margin before the promises do (%v)", at)
	}
	m.lanUntil = t0.Add(time.Hour)
	capAt := t0.Add(10*time.Second - margin)
	if m.answering(capAt)[vip(1)] || !m.answering(capAt.Add(-time.Millisecond))[vip(1)] {
		t.Errorf("rule O must end at the last renewal + outage limit - margin (%v)", capAt)
	}
	if got := m.answerDeadline(); !got.Equal(capAt) {
		t.Errorf("answerDeadline %v, want %v", got, capAt)
	}
}

func TestRuleOOffWhileALeaseIgnoresRuleF(t *testing.T) {
	m := lanMachine(never, true)
	m.lanUntil = t0.Add(time.Hour)
	if m.answering(m.deadline().Add(time.Millisecond))[vip(1)] {
		t.Fatal("answered by rule O though n2 fences by rule 3 alone")
	}
	m.observe(LeaseView{Node: "n2", ResourceVersion: "2", FencedBy: "n3"}, t0)
	if !m.answering(m.deadline().Add(time.Millisecond))[vip(1)] {
		t.Fatal("a fenced Lease fences nobody: rule O should apply")
	}
}

// TestRuleFFencesOnlyOnSilenceOrAfterTheLimit: n1 wants vip(1), which n2's expired Lease claims;
// without LAN silence it may fence only once the Lease stayed unrenewed for the outage limit.
func TestRuleFFencesOnlyOnSilenceOrAfterTheLimit(t *testing.T) {
	isSilent := false
	m := started("n1", t0)
	m.lan = &lanRules{outageLimit: 10 * time.Second, silent: func(node, run string, _ time.Time) bool {
		return isSilent && node == "n2" && run == "r2"
	}}
	m.want = map[netip.Addr]VIP{vip(1): allOf("n1")}
	m.observe(LeaseView{Node: "n2", ResourceVersion: "1", Incarnation: "r2", LAN: true, Claims: []netip.Addr{vip(1)}}, t0)
	now := t0.Add(2 * time.Second) // n2's Lease expired (1.5 s); keep ours fresh
	m.renewedOK(plan{}, now)
	if p := m.plan(now); len(p.fences) != 0 {
		t.Fatalf("fenced n2 while it is still heard on the LAN: %+v", p.fences)
	}
	isSilent = true
	if p := m.plan(now); len(p.fences) != 1 || p.fences[0].Node != "n2" {
		t.Fatalf("n2 expired and silent on the LAN (F1): want it fenced, plan %+v", p.fences)
	}
	isSilent = false
	later := t0.Add(10 * time.Second)
	m.renewedOK(plan{}, later)
	if p := m.plan(later); len(p.fences) != 1 {
		t.Fatalf("n2 unrenewed for the outage limit (F2): want it fenced, plan %+v", p.fences)
	}
}
