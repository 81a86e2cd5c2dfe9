package ipam

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/allocator"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// addressWatch sees every version of every Service and records any address that changed or vanished
// while its Service existed.
type addressWatch struct {
	mu         sync.Mutex
	first      map[types.UID]string
	violations []string
}

func (w *addressWatch) see(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return
	}
	ips := ingressIPs(svc)
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, had := w.first[svc.UID]
	switch {
	case !had && ips != "":
		w.first[svc.UID] = ips
	case had && ips != prev:
		w.violations = append(w.violations, fmt.Sprintf("%s/%s: %q became %q", svc.Namespace, svc.Name, prev, ips))
	}
}

func watchAddresses(t *testing.T, e *ipamEnv) *addressWatch {
	w := &addressWatch{first: map[types.UID]string{}}
	c, err := cache.New(e.cfg, cache.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	inf, err := c.GetInformer(context.Background(), &corev1.Service{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.see(o) },
		UpdateFunc: func(_, o any) { w.see(o) },
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = c.Start(ctx) }()
	t.Cleanup(cancel)
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("address watch did not sync")
	}
	return w
}

// churnService is Service i of the churn: mostly IPv4, some IPv6, some dual-stack, some sharing
// an address by key with a port of their own.
func churnService(i int) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%03d", i), Namespace: "churn"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": "churn"},
			Ports: []corev1.ServicePort{{Name: "p", Port: int32(10000 + i), Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(8080)}},
		},
	}
	switch i % 10 {
	case 6:
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	case 7:
		p := corev1.IPFamilyPolicyRequireDualStack
		svc.Spec.IPFamilyPolicy, svc.Spec.IPFamilies = &p, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	case 8, 9:
		svc.Annotations = map[string]string{allocator.AnnotationAllowSharedIP: fmt.Sprintf("key-%d", (i/10)%5)}
	}
	return svc
}

// TestIPAMChurn creates and deletes 500 Services concurrently while the controller is restarted five
// times (each time a fresh manager, as a new pod), then checks that no address is shared by Services
// that may not share, no Service's address ever changed, and the pool's counts are exact.
func TestIPAMChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts an API server")
	}
	const total, restarts, workers, lag = 500, 5, 4, 40
	e := startIPAMEnv(t, false)
	ctx := context.Background()
	pool := &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: "churn", Namespace: testenv.Namespace},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.0.0/22", "2001:db8:c::/64"}},
	}
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "churn"}}, pool} {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	w := watchAddresses(t, e)
	e.startManager()

	var created, restartsDone atomic.Int64
	step := int64(total / (restarts + 1))
	todo := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for range workers {
		wg.Go(func() {
			for i := range todo {
				// Keep creating while a restart is under way, but never run far ahead of the restarts.
				for k := restartsDone.Load(); k < restarts && i >= int((k+1)*step)+lag; k = restartsDone.Load() {
					time.Sleep(10 * time.Millisecond)
				}
				if err := e.c.Create(ctx, churnService(i)); err != nil {
					errs <- err
					continue
				}
				created.Add(1)
				// Delete an older Service: some while allocated, some before the controller saw them.
				if i >= lag && i%3 != 0 {
					old := churnService(i - lag)
					if err := e.c.Delete(ctx, old); err != nil && !apierrors.IsNotFound(err) {
						errs <- err
					}
				}
			}
		})
	}
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		for k := 1; k <= restarts; k++ {
			for created.Load() < int64(k)*step {
				time.Sleep(10 * time.Millisecond)
			}
			e.restart()
			restartsDone.Add(1)
		}
	}()
	for i := range total {
		todo <- i
	}
	close(todo)
	wg.Wait()
	<-restarted
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var svcs corev1.ServiceList
	eventually(t, "every remaining Service has its addresses", func() (bool, string) {
		if err := e.c.List(ctx, &svcs, client.InNamespace("churn")); err != nil {
			return false, err.Error()
		}
		missing := 0
		for i := range svcs.Items {
			want := 1
			if len(svcs.Items[i].Spec.IPFamilies) == 2 {
				want = 2
			}
			if len(svcs.Items[i].Status.LoadBalancer.Ingress) != want || svcs.Items[i].Annotations[allocator.AnnotationAllocatedFrom] != "churn" {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d Services without the right addresses", missing, len(svcs.Items))
	})
	t.Logf("%d Services remain after the churn", len(svcs.Items))

	checkSharing(t, svcs.Items)
	w.mu.Lock()
	if len(w.violations) > 0 {
		t.Errorf("addresses changed while their Service existed:\n%s", strings.Join(w.violations, "\n"))
	}
	w.mu.Unlock()

	var v4, v6 int64
	seen := map[string]bool{}
	for i := range svcs.Items {
		for _, ip := range allocator.StatusIPs(&svcs.Items[i]) {
			if !seen[ip.String()] {
				seen[ip.String()] = true
				if ip.Is4() {
					v4++
				} else {
					v6++
				}
			}
		}
	}
	want := v1beta1.IPAddressPoolStatus{AssignedIPv4: v4, AssignedIPv6: v6, AvailableIPv4: 1024 - v4, AvailableIPv6: math.MaxInt64 - v6}
	eventually(t, "pool counts are exact", func() (bool, string) {
		st, _, err := e.poolStatus("churn")
		if err != nil {
			return false, err.Error()
		}
		st.Conditions = nil
		return fmt.Sprint(st) == fmt.Sprint(want), fmt.Sprintf("got %+v, want %+v", st, want)
	})
}

// checkSharing fails when two Services hold one address without MetalLB's sharing rules allowing it.
func checkSharing(t *testing.T, svcs []corev1.Service) {
	t.Helper()
	holders := map[netip.Addr][]*corev1.Service{}
	for i := range svcs {
		for _, ip := range allocator.StatusIPs(&svcs[i]) {
			holders[ip] = append(holders[ip], &svcs[i])
		}
	}
	shared := 0
	for ip, hs := range holders {
		if len(hs) < 2 {
			continue
		}
		shared++
		ports := map[int32]string{}
		key := hs[0].Annotations[allocator.AnnotationAllowSharedIP]
		names := make([]string, len(hs))
		for i, h := range hs {
			names[i] = h.Name
			k := h.Annotations[allocator.AnnotationAllowSharedIP]
			if k == "" || k != key {
				t.Errorf("%s is held by %v without a common sharing key", ip, names)
			}
			for _, p := range h.Spec.Ports {
				if other, clash := ports[p.Port]; clash {
					t.Errorf("%s: %s and %s both use port %d", ip, other, h.Name, p.Port)
				}
				ports[p.Port] = h.Name
			}
		}
		sort.Strings(names)
	}
	t.Logf("%d addresses are shared by key", shared)
}
