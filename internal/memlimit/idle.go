package memlimit

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/go-logr/logr"
)

// IdleReturner gives the heap's free pages back to the OS once the process has gone quiet.
//
// After a burst (a cold start at 10,000 Services writes 20,000 status requests) the live heap falls
// back, but the runtime keeps about 1.1 times its GC goal, twice the live heap at the burst's last
// collection, as resident memory: the speaker then sat at ~150 MiB of anonymous memory for ~60 MB
// of live objects (docs/benchmarks.md, "Speaker at 10,000 Services"). A quiet process allocates
// little, so pages returned once are not needed again; a busy one reuses its free pages, so
// nothing is returned while it works.
type IdleReturner struct {
	Interval  time.Duration // how often to look; the quiet test spans one interval
	Threshold uint64        // free bytes worth returning, and the allocation that still counts as quiet
	Log       logr.Logger

	onReturn func(before sample) // for tests: called after each return
}

// sample is what one look reads from runtime/metrics.
type sample struct {
	free, allocs uint64 // free heap not yet returned; bytes allocated since the start
}

var sampleNames = []string{"/memory/classes/heap/free:bytes", "/gc/heap/allocs:bytes"}

func read() sample {
	s := []metrics.Sample{{Name: sampleNames[0]}, {Name: sampleNames[1]}}
	metrics.Read(s)
	return sample{free: s[0].Value.Uint64(), allocs: s[1].Value.Uint64()}
}

// shouldReturn reports whether to return the free pages at cur, prev being the look before: at
// least threshold of them, and less than threshold allocated in between (quiet).
func shouldReturn(prev, cur sample, threshold uint64) bool {
	return cur.free >= threshold && cur.allocs-prev.allocs < threshold
}

// Start looks every Interval until ctx ends (a manager runnable).
func (r IdleReturner) Start(ctx context.Context) error {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	prev := read()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur := read()
		if shouldReturn(prev, cur, r.Threshold) {
			debug.FreeOSMemory()
			r.Log.V(1).Info("Returned idle heap to the OS", "freeBytes", cur.free, "allocatedSinceLastLook", cur.allocs-prev.allocs)
			if r.onReturn != nil {
				r.onReturn(cur)
			}
		}
		prev = cur
	}
}

// NeedLeaderElection is false: every process returns its own memory.
func (IdleReturner) NeedLeaderElection() bool { return false }
