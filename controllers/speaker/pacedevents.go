package speaker

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/flowcontrol"
)

// pacedEvents sends per-Service events at a bounded rate. client-go's event broadcaster starts one
// goroutine per event, each holding a copy of the event until the API server has it: a cold start
// at 10,000 Services announced 10,000 Services at once, and those goroutines and the connections
// they opened doubled the speaker's peak memory (docs/benchmarks.md, "Speaker at 10,000 Services").
// Queued here, an event is a reference and a note, and the broadcaster only ever has a few in hand.
type pacedEvents struct {
	rec     events.EventRecorder
	limiter flowcontrol.RateLimiter

	mu      sync.Mutex
	queue   []pacedEvent
	pending chan struct{} // signalled when the queue goes from empty to non-empty
}

type pacedEvent struct {
	ref                       corev1.ObjectReference
	eventType, reason, action string
	note                      string
}

// eventsPerSecond paces the queue: well above what a steady cluster produces, well below a burst.
const eventsPerSecond, eventsBurst = 50, 100

func newPacedEvents(rec events.EventRecorder) *pacedEvents {
	return &pacedEvents{rec: rec, limiter: flowcontrol.NewTokenBucketRateLimiter(eventsPerSecond, eventsBurst),
		pending: make(chan struct{}, 1)}
}

// serviceEventf queues an event regarding svc; it never blocks.
func (p *pacedEvents) serviceEventf(svc *corev1.Service, eventType, reason, action, format string, args ...any) {
	ref := corev1.ObjectReference{Kind: "Service", APIVersion: "v1", Namespace: svc.Namespace, Name: svc.Name,
		UID: svc.UID, ResourceVersion: svc.ResourceVersion}
	p.mu.Lock()
	p.queue = append(p.queue, pacedEvent{ref: ref, eventType: eventType, reason: reason, action: action, note: fmt.Sprintf(format, args...)})
	p.mu.Unlock()
	select {
	case p.pending <- struct{}{}:
	default:
	}
}

// Start drains the queue into the recorder until ctx ends (a manager runnable).
func (p *pacedEvents) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.pending:
		}
		for e, ok := p.next(); ok; e, ok = p.next() {
			if err := p.limiter.Wait(ctx); err != nil {
				return nil
			}
			p.rec.Eventf(&e.ref, nil, e.eventType, e.reason, e.action, "%s", e.note)
		}
	}
}

// NeedLeaderElection is false: every speaker reports its own node's announcements.
func (p *pacedEvents) NeedLeaderElection() bool { return false }

func (p *pacedEvents) next() (pacedEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		p.queue = nil // let a burst's backing array go
		return pacedEvent{}, false
	}
	e := p.queue[0]
	p.queue[0] = pacedEvent{}
	p.queue = p.queue[1:]
	return e, true
}
