package ownership

import "testing"

// TestDesiredOwnerFollowsScoreTiers: with preference scores every candidate is ordered by score,
// as MetalLB's sortL2Candidates does: the best-scored live node owns, and when it is gone the
// next tier takes over before any node without a preference, whatever the hash says.
func TestDesiredOwnerFollowsScoreTiers(t *testing.T) {
	m := started("n1", t0)
	for _, n := range []string{"n2", "n3", "n4"} {
		m.observe(LeaseView{Node: n, ResourceVersion: "1"}, t0)
	}
	scores := map[string]int64{"n2": 90, "n3": 60, "n4": 30}
	all := []string{"n1", "n2", "n3", "n4"}
	for i := range 100 {
		cases := []struct {
			eligible []string
			want     string
		}{
			{all, "n2"},
			{[]string{"n1", "n3", "n4"}, "n3"}, // n2 gone: the 60 tier, not the hash among the rest
			{[]string{"n1", "n4"}, "n4"},
		}
		for _, c := range cases {
			if o := m.desiredOwner(vip(i), VIP{Eligible: c.eligible, Preferred: []string{"n2"}, Scores: scores}, t0); o != c.want {
				t.Fatalf("%s among %v: owner %s, want %s (scores %v)", vip(i), c.eligible, o, c.want, scores)
			}
		}
	}
	// Equal scores fall back to the hash: both of a tier get some VIPs.
	tie := map[string]int64{"n2": 50, "n3": 50}
	got := map[string]int{}
	for i := range 100 {
		got[m.desiredOwner(vip(i), VIP{Eligible: all, Scores: tie}, t0)]++
	}
	if got["n2"] == 0 || got["n3"] == 0 || got["n2"]+got["n3"] != 100 {
		t.Errorf("a tie of n2 and n3: owners %v, want both and only them", got)
	}
}
