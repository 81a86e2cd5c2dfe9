package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"

	"github.com/routelb/routelb/internal/nodeconfig"
)

// TestL2EventsArePaced takes over many VIPs at once, as a node does when another dies: the
// nodeAssigned events go through the same pacing as BGP's, a burst and then eventsPerSecond, not
// all at once into the recorder. The bubble's clock is fake, so the count per second is exact.
func TestL2EventsArePaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 3 * eventsBurst
		svcs := make([]corev1.Service, n)
		vips := map[netip.Addr]*nodeconfig.L2VIP{}
		answering := map[netip.Addr]bool{}
		for i := range svcs {
			svcs[i] = corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("s%d", i)}}
			vip := netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 250)})
			if i >= 250 {
				vip = netip.AddrFrom4([4]byte{198, 18, 0, byte(i - 250)})
			}
			vips[vip] = &nodeconfig.L2VIP{Services: []types.NamespacedName{{Namespace: "default", Name: svcs[i].Name}}}
			answering[vip] = true
		}
		rec := events.NewFakeRecorder(2 * n)
		r := &SpeakerL2Reconciler{NodeName: "n1", events: newPacedEvents(rec)}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = r.events.Start(ctx); close(done) }()

		start := time.Now()
		r.reportEvents(svcs, vips, answering) // never blocks: the events are queued
		synctest.Wait()
		if got := len(rec.Events); got != eventsBurst {
			t.Fatalf("%d events at once, want the burst of %d", got, eventsBurst)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := len(rec.Events); got != eventsBurst+eventsPerSecond {
			t.Fatalf("%d events after 1s, want %d", got, eventsBurst+eventsPerSecond)
		}
		for len(rec.Events) < n {
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		// (n - burst) events at eventsPerSecond: the fake clock says exactly when the last one went.
		want := time.Duration(n-eventsBurst) * time.Second / eventsPerSecond
		if took := time.Since(start); took < want-100*time.Millisecond || took > want+100*time.Millisecond {
			t.Fatalf("all %d events sent after %s, want about %s", n, took, want)
		}
		e := <-rec.Events
		if want := `Normal nodeAssigned announcing`; len(e) < len(want) || e[:len(want)] != want {
			t.Fatalf("first event %q", e)
		}
		cancel()
		<-done
	})
}
