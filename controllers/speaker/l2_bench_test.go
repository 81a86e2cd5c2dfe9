package speaker_test

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/l2responder/ownership"
)

// BenchmarkL2Takeover measures, in the lab (3 real speakers, default timings), the time from
// signalling the owner to the client's kernel neighbour entry for the VIP pointing at another node,
// for SIGKILL (expiry, then fencing) and SIGTERM (hand-off). Run once: -benchtime 1x.
func BenchmarkL2Takeover(b *testing.B) {
	l := newL2Lab(b)
	for _, n := range l2NodeNames {
		l.start(n)
	}
	rounds := 5
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		var ds []time.Duration
		for range rounds {
			ds = append(ds, l.takeover(sig))
		}
		slices.Sort(ds)
		name := map[syscall.Signal]string{syscall.SIGKILL: "sigkill", syscall.SIGTERM: "sigterm"}[sig]
		b.Logf("%s take-over, %d rounds: %v", name, rounds, ds)
		b.ReportMetric(ds[len(ds)/2].Seconds(), name+"-median-s")
		b.ReportMetric(ds[len(ds)-1].Seconds(), name+"-max-s")
	}
}

// takeover settles the lab, signals the owner, and times the client's neighbour entry moving.
func (l *l2Lab) takeover(sig syscall.Signal) time.Duration {
	owner := l.settledOwner()
	l.resolve()
	l.lab.Eventually(10*time.Second, func() error {
		if n := l.nodeOfMAC(l.neighbour()); n != owner {
			l.resolve()
			return fmt.Errorf("neighbour entry at %q, want %s", n, owner)
		}
		return nil
	})
	// Linux ignores neighbour updates within locktime (1 s) of the last one.
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	wait := l.send(owner, sig)
	var took time.Duration
	deadline := start.Add(30 * time.Second)
	for {
		if n := l.nodeOfMAC(l.neighbour()); n != "" && n != owner {
			took = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%v of %s: neighbour entry did not move", sig, owner)
		}
		time.Sleep(2 * time.Millisecond)
	}
	wait()
	l.start(owner)
	l2WaitLease(l.t, l.env.Client, owner)
	return took
}

// settledOwner waits until the same single node answers twice, 3 s apart (a restarted node may
// take the VIP back meanwhile).
func (l *l2Lab) settledOwner() string {
	for {
		a := l.owner(30 * time.Second)
		time.Sleep(3 * time.Second)
		if l.owner(30*time.Second) == a {
			return a
		}
	}
}

// BenchmarkL2APIWrites measures the API writes of 3 real speakers owning 1,000 VIPs, in steady
// state, from the API server's own request counters; and how long they take to own all of them.
func BenchmarkL2APIWrites(b *testing.B) {
	l := newL2Lab(b)
	l.lab.Reserve("198.18.0.0/15")
	ctx := context.Background()
	cfg := rest.CopyConfig(l.env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // the benchmark's own set-up is not what is measured
	c, err := client.New(cfg, client.Options{Scheme: l.env.Scheme})
	l2Must(b, err)
	l2Must(b, c.Create(ctx, &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: testenv.Namespace},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.0.0/22"}}}))
	l2Must(b, c.Create(ctx, &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: testenv.Namespace},
		Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"scale"}}}))
	// envtest's Service range holds only ~250 cluster IPs: 200 Services of 5 VIPs each, which the
	// speakers own one by one exactly as 1,000 single-VIP Services; plus the lab's own Service (one
	// IPv4 and one IPv6 VIP).
	const svcs, perSvc = 200, 5
	const n = svcs*perSvc + 2
	createServices(b, c, svcs, perSvc)
	start := time.Now()
	for _, node := range l2NodeNames {
		l.start(node)
	}
	l.lab.Eventually(10*time.Minute, func() error {
		return allClaimed(ctx, c, n)
	})
	converged := time.Since(start)
	b.Logf("3 speakers own all %d VIPs after %v", n, converged)
	b.ReportMetric(converged.Seconds(), "converge-s")

	l.lab.Eventually(10*time.Minute, func() error { return statusesMatch(ctx, c) })
	reported := time.Since(start)
	b.Logf("ServiceL2Status objects match the owners after %v", reported)
	b.ReportMetric(reported.Seconds(), "status-converge-s")

	cs, err := kubernetes.NewForConfig(cfg)
	l2Must(b, err)
	before := settledWrites(b, cs)
	window := 30 * time.Second
	time.Sleep(window)
	after := apiWrites(b, cs)
	total, leases := 0.0, 0.0
	for k, v := range after {
		d := v - before[k]
		total += d
		if k.resource == "leases" {
			leases += d
		}
		if d > 0 {
			b.Logf("%s %s: %.0f in %v", k.verb, k.resource, d, window)
		}
	}
	perNode := total / window.Seconds() / float64(len(l2NodeNames))
	b.Logf("steady state: %.2f API writes per node per second (%.2f of them Lease renewals)", perNode,
		leases/window.Seconds()/float64(len(l2NodeNames)))
	b.ReportMetric(perNode, "writes/node/s")
}

// settledWrites waits until the only writes left are Lease renewals and returns the counters then.
// Events of the initial claiming (and their series updates) go out through the speakers' rate-limited
// clients after the statuses match, for longer on a fast machine where the statuses match sooner.
func settledWrites(b *testing.B, cs kubernetes.Interface) map[writeKey]float64 {
	prev, start := apiWrites(b, cs), time.Now()
	for deadline := start.Add(2 * time.Minute); ; {
		time.Sleep(5 * time.Second)
		cur := apiWrites(b, cs)
		other := 0.0
		for k, v := range cur {
			if k.resource != "leases" {
				other += v - prev[k]
			}
		}
		if other == 0 {
			b.Logf("only Lease renewals left %v after the statuses matched (checked every 5 s)", time.Since(start).Round(time.Second))
			return cur
		}
		if time.Now().After(deadline) {
			b.Logf("writes other than Lease renewals did not stop within 2 minutes (%.0f in the last 5 s); measuring anyway", other)
			return cur
		}
		prev = cur
	}
}

// allClaimed checks that the nodes' Leases claim n distinct VIPs between them.
func allClaimed(ctx context.Context, c client.Client, n int) error {
	var leases coordinationv1.LeaseList
	if err := c.List(ctx, &leases, client.InNamespace(testenv.Namespace), client.MatchingLabels{ownership.LabelComponent: ownership.ComponentValue}); err != nil {
		return err
	}
	seen := map[netip.Addr]string{}
	for _, l := range leases.Items {
		claims, err := ownership.DecodeClaims(l.Annotations[ownership.AnnotationClaims])
		if err != nil {
			return err
		}
		for _, v := range claims {
			if o, dup := seen[v]; dup {
				return fmt.Errorf("%s claimed by %s and %s", v, o, *l.Spec.HolderIdentity)
			}
			seen[v] = *l.Spec.HolderIdentity
		}
	}
	if len(seen) != n {
		return fmt.Errorf("%d VIPs claimed, want %d", len(seen), n)
	}
	return nil
}

// statusesMatch checks that there is one ServiceL2Status per Service and node owning one of its
// VIPs, and no other.
func statusesMatch(ctx context.Context, c client.Client) error {
	var leases coordinationv1.LeaseList
	if err := c.List(ctx, &leases, client.InNamespace(testenv.Namespace), client.MatchingLabels{ownership.LabelComponent: ownership.ComponentValue}); err != nil {
		return err
	}
	owner := map[string]string{}
	for _, l := range leases.Items {
		claims, _ := ownership.DecodeClaims(l.Annotations[ownership.AnnotationClaims])
		for _, v := range claims {
			owner[v.String()] = *l.Spec.HolderIdentity
		}
	}
	var svcs corev1.ServiceList
	if err := c.List(ctx, &svcs, client.InNamespace(labSvcNS)); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range svcs.Items {
		for _, ing := range s.Status.LoadBalancer.Ingress {
			if o := owner[ing.IP]; o != "" {
				want[s.Name+"@"+o] = true
			}
		}
	}
	var sts v1beta1.ServiceL2StatusList
	if err := c.List(ctx, &sts, client.InNamespace(testenv.Namespace)); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, st := range sts.Items {
		if len(st.Status.Interfaces) == 0 {
			return fmt.Errorf("%s has no interfaces yet", st.Name)
		}
		have[st.Status.ServiceName+"@"+st.Status.Node] = true
	}
	if len(have) != len(want) {
		return fmt.Errorf("%d ServiceL2Status objects, want %d", len(have), len(want))
	}
	for k := range want {
		if !have[k] {
			return fmt.Errorf("no ServiceL2Status for %s", k)
		}
	}
	return nil
}

func createServices(b *testing.B, c client.Client, n, perSvc int) {
	ctx := context.Background()
	base := netip.MustParseAddr("198.18.0.0")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scale-%04d", i), Namespace: labSvcNS},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
			if err := c.Create(ctx, svc); err != nil {
				errs <- err
				return
			}
			if err := c.Create(ctx, labSlice(labSvcNS, svc.Name)); err != nil {
				errs <- err
				return
			}
			vip := base
			for range i*perSvc + 1 {
				vip = vip.Next()
			}
			for range perSvc {
				svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: vip.String()})
				vip = vip.Next()
			}
			if err := c.Status().Update(ctx, svc); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

type writeKey struct{ verb, resource string }

// apiWrites reads the API server's apiserver_request_total counters of mutating verbs.
func apiWrites(b *testing.B, cs kubernetes.Interface) map[writeKey]float64 {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	l2Must(b, err)
	out := map[writeKey]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		labels, value, ok := strings.Cut(strings.TrimPrefix(line, "apiserver_request_total{"), "} ")
		if !ok {
			continue
		}
		k := writeKey{verb: labelValue(labels, "verb"), resource: labelValue(labels, "resource")}
		switch k.verb {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY":
		default:
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err == nil {
			out[k] += v
		}
	}
	return out
}

func labelValue(labels, name string) string {
	i := strings.Index(labels, name+`="`)
	if i < 0 || i > 0 && labels[i-1] != ',' {
		return ""
	}
	rest := labels[i+len(name)+2:]
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
