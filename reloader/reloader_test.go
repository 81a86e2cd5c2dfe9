package reloader

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// TestRandomPairs applies random pairs of configs to a real FRR. After each
// apply the running config must equal the target through the delta alone
// (no full-reload fallback), and a change of networks only must not reset
// the BGP session with the router.
func TestRandomPairs(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	tl := newTestLab(t)
	prev := randomSpec(rng)
	tl.apply(t, prev.render(), OutcomeApplied)
	tl.lab.Eventually(30*time.Second, func() error { return sessionUp(t, tl) })
	for i := 0; i < 15; i++ {
		// Networks only: the session must survive.
		_, est, dropped := tl.routerSession(t)
		netsOnly := prev
		netsOnly.networks = randomNetworks(rng)
		tl.apply(t, netsOnly.render(), OutcomeApplied, OutcomeUnchanged)
		time.Sleep(300 * time.Millisecond) // a reset would show within a hold time of 3 s; 1 s keepalive
		state, est2, dropped2 := tl.routerSession(t)
		if state != "Established" || est2 != est || dropped2 != dropped {
			t.Fatalf("pair %d: session reset by a networks-only change: %s, established %d -> %d, dropped %d -> %d",
				i, state, est, est2, dropped, dropped2)
		}
		// Anything may change.
		next := randomSpec(rng)
		tl.apply(t, next.render(), OutcomeApplied, OutcomeUnchanged)
		prev = next
		tl.lab.Eventually(30*time.Second, func() error { return sessionUp(t, tl) })
	}
}

func sessionUp(t *testing.T, tl *testLab) error {
	if st, _, _ := tl.routerSession(t); st != "Established" {
		return fmt.Errorf("router session with node is %q", st)
	}
	return nil
}
