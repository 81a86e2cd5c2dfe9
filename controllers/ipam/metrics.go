package ipam

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The allocator's metrics, named after MetalLB's so existing dashboards keep working with a new prefix.
var (
	addressesTotal = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "routelb", Subsystem: "allocator", Name: "addresses_total",
		Help: "Number of usable addresses per pool (IPv6 capped at MaxInt64 per family).",
	}, []string{"pool"})
	addressesInUse = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "routelb", Subsystem: "allocator", Name: "addresses_in_use_total",
		Help: "Number of addresses given to Services per pool.",
	}, []string{"pool"})
	allocationFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "routelb", Subsystem: "allocator", Name: "allocation_failures_total",
		Help: "Number of times a Service started failing to get the addresses it asked for, by reason (retries of the same failure are not counted again).",
	}, []string{"reason"})
)

// RegisterMetrics puts the allocator's metrics on reg (the one the controller's /metrics serves).
// Registering them twice on one registry is not an error: tests build several managers per process.
func RegisterMetrics(reg prometheus.Registerer) error {
	return registerAll(reg, addressesTotal, addressesInUse, allocationFailures)
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
	}
	return nil
}

// kicker is a controller source that other code pushes requests into. Unlike a channel source it never
// blocks the sender; requests pushed before the controller starts are dropped, which is harmless because
// a starting controller reconciles every object anyway.
type kicker struct {
	mu sync.Mutex
	q  workqueue.TypedRateLimitingInterface[reconcile.Request]
}

func (k *kicker) Start(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.q = q
	return nil
}

func (k *kicker) add(reqs ...reconcile.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.q == nil {
		return
	}
	for _, r := range reqs {
		k.q.Add(r)
	}
}
