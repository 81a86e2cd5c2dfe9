package reloader

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/netlab"
)

// divergingLines are accepted by FRR but printed otherwise (65535:65281 as "no-export"), and no
// normalization rule maps them back: FRR runs something else than the target even after a full
// reload. The renderer never writes them (it writes the names); here they stand for any such
// difference a future FRR brings.
const divergingLines = `route-map rlb_diverge permit 10
 set community 65535:65281
exit
`

// TestDivergedTargetBacksOff: a target that still differs after a full reload is reported as
// diverged and retried with exponential backoff, not once per poll; meanwhile a bgpd restart is
// still noticed and the last good config (every VIP) is back at the router.
func TestDivergedTargetBacksOff(t *testing.T) {
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		bn := startBFDNode(t, v)
		tl, dir, path, good, vips, results := bn.tl, bn.dir, bn.path, bn.cfg, bn.vips, bn.results

		writeFileAtomic(t, path, good+divergingLines)
		first := waitResult(t, results, OutcomeFailed)
		if !first.Diverged {
			t.Fatalf("first apply of the diverging target: want diverged, got %+v", first)
		}
		if st := readStatus(t, dir); !st.Diverged || st.NextRetry.IsZero() {
			t.Fatalf("status must say diverged with a next retry: %+v", st)
		}
		// Backoff 1 s, 2 s, 4 s...: in 8 s at most 4 retries (the poll runs every 200 ms, so
		// retrying at every poll would make about 40).
		retries := countResults(results, 8*time.Second)
		if retries == 0 || retries > 4 {
			t.Fatalf("%d retries of the diverged target in 8s, want 1 to 4 (exponential backoff from 1s)", retries)
		}
		tl.waitRoutes(t, vips...)

		if err := tl.node.KillDaemon("bgpd", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := tl.node.StartDaemon("bgpd"); err != nil {
			t.Fatal(err)
		}
		tl.lab.Eventually(30*time.Second, func() error {
			if st := readStatus(t, dir); st.Reason != "frr-restart" {
				return fmt.Errorf("status reason %q, want frr-restart", st.Reason)
			}
			return nil
		})
		tl.waitRoutes(t, vips...)
	})
}

// countResults drains applies for d and counts them.
func countResults(results <-chan Result, d time.Duration) int {
	n := 0
	end := time.After(d)
	for {
		select {
		case <-results:
			n++
		case <-end:
			return n
		}
	}
}

// TestShutdownDuringApplyIsNotInvalid: an apply cut by the reloader's own shutdown (SIGTERM
// cancels its context) says so and is never reported as a config FRR refused.
func TestShutdownDuringApplyIsNotInvalid(t *testing.T) {
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		tl := newTestLabOf(t, v, routerConfBFD)
		good := bfdSpec(3).render()
		tl.apply(t, good, OutcomeApplied)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		// A line of a shape FRR has not parsed yet, so the apply starts with FRR's parser.
		res := tl.applier.Apply(ctx, []byte(good+"ip prefix-list rlb_new seq 5 permit 203.0.113.9/32\n"))
		if res.Outcome != OutcomeFailed || res.Err == nil || !strings.Contains(res.Err.Error(), "interrupted") {
			t.Fatalf("apply cut by shutdown: got outcome %s, err %v; want failed, interrupted", res.Outcome, res.Err)
		}
		tl.assertRunning(t, good)
	})
}
