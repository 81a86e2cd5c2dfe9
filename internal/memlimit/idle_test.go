package memlimit

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

func TestShouldReturn(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name      string
		prev, cur sample
		want      bool
	}{
		{name: "quiet with much free", prev: sample{allocs: 100 * mib}, cur: sample{free: 40 * mib, allocs: 101 * mib}, want: true},
		{name: "little free", prev: sample{allocs: 100 * mib}, cur: sample{free: 10 * mib, allocs: 101 * mib}},
		{name: "busy", prev: sample{allocs: 100 * mib}, cur: sample{free: 40 * mib, allocs: 140 * mib}},
		{name: "exactly the threshold free, nothing allocated", prev: sample{}, cur: sample{free: 32 * mib}, want: true},
		{name: "exactly the threshold allocated", prev: sample{}, cur: sample{free: 40 * mib, allocs: 32 * mib}},
	} {
		if got := shouldReturn(tc.prev, tc.cur, 32*mib); got != tc.want {
			t.Errorf("%s: shouldReturn = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestIdleReturnerReturns frees 64 MiB of garbage with the GC's goal so high that the runtime's
// own scavenger keeps it all, and checks that the returner gives it back to the OS.
func TestIdleReturnerReturns(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100000))
	garbage := make([][]byte, 64)
	for i := range garbage {
		garbage[i] = make([]byte, 1<<20)
	}
	runtime.KeepAlive(garbage) // its last use: the GC below frees it
	runtime.GC()
	const threshold = 16 << 20
	if f := read().free; f < 2*threshold {
		t.Fatalf("only %d free bytes after dropping 64 MiB: the test cannot tell", f)
	}
	returned := make(chan sample, 1)
	r := IdleReturner{Interval: 20 * time.Millisecond, Threshold: threshold, Log: testr.New(t),
		onReturn: func(s sample) {
			select {
			case returned <- s:
			default:
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Start(ctx) }()
	select {
	case s := <-returned:
		if f := read().free; f >= threshold {
			t.Errorf("returned at %d free bytes, still %d free after", s.free, f)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing returned in 10 s, %d bytes free", read().free)
	}
}
