//go:build bench

package ipam

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// BenchmarkIPAMColdStart measures, against a real API server, how long a freshly started controller
// takes to give addresses to 5,000 LoadBalancer Services that already exist (a cold start: leader
// election, cache sync, priming and 5,000 allocations with their status writes). It then restarts the
// controller once all are allocated and measures how long until it has re-read everything, proving
// by the unchanged statuses that a restart allocates nothing. `make bench` runs it; the numbers go to
// docs/benchmarks.md. Set ROUTELB_BENCH_SERVICES to change the count.
func BenchmarkIPAMColdStart(b *testing.B) {
	n := 5000
	if s := os.Getenv("ROUTELB_BENCH_SERVICES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	e := startIPAMEnv(b, false)
	if s := os.Getenv("ROUTELB_BENCH_WORKERS"); s != "" {
		e.workers, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	pool := &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: testenv.Namespace},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.0.0/15"}},
	}
	if err := e.c.Create(ctx, pool); err != nil {
		b.Fatal(err)
	}
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		ns := fmt.Sprintf("bench-%d", round)
		t0 := time.Now()
		createServices(b, e.c, ns, n)
		b.Logf("creating %d Services took %s (untimed)", n, time.Since(t0).Round(time.Second))
		b.StartTimer()
		start := time.Now()
		e.startManager()
		waitAllocated(b, e.c, ns, n)
		cold := time.Since(start)
		b.StopTimer()
		b.ReportMetric(cold.Seconds(), "s/cold-start")
		b.ReportMetric(float64(n)/cold.Seconds(), "services/s")
		e.stopManager()
		b.StartTimer()
	}
}

func createServices(b *testing.B, c client.Client, ns string, n int) {
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Value
	todo := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range todo {
				// Without node ports: 5,000 Services would exhaust the node port range, and routing
				// straight to the VIP is how bare-metal clusters at this scale run.
				noNodePorts := false
				svc := &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%05d", i), Namespace: ns},
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "x"},
						AllocateLoadBalancerNodePorts: &noNodePorts,
						Ports:                         []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}},
				}
				if err := c.Create(ctx, svc); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	for i := 0; i < n && failed.Load() == nil; i++ {
		todo <- i
	}
	close(todo)
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatalf("creating Services: %v", err)
	}
	b.Logf("created %d Services", n)
}

func waitAllocated(b *testing.B, c client.Client, ns string, n int) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var list corev1.ServiceList
		if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		done := 0
		for i := range list.Items {
			if len(list.Items[i].Status.LoadBalancer.Ingress) > 0 {
				done++
			}
		}
		if done == n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("%d Services not allocated after 10 minutes", n)
}
