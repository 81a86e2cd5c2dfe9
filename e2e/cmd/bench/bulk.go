package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/e2e/lab"
)

// The bulk rows use their own pools and BGPAdvertisements in the lab's scale range, so that the
// router's routes inside countRange are exactly these Services' VIPs. The timed events are edits of
// BGPAdvertisements, not the creation or deletion of Services: at load 20 the API server takes 5 min
// to create 2,000 Services and their EndpointSlices, which measured the API server rather than the
// speakers (issue 21). The Services are created and allocated first, with nothing announcing their
// pool, and the product is idle; then one API write (a BGPAdvertisement created, deleted or edited)
// changes what every speaker announces, the same event for routelb and MetalLB, and the figure runs
// from that write to the router having the new set.
const (
	scalePool  = "bench-scale"
	scaleRange = "198.18.0.0/18" // scalePool: the RSS and +1 rows' Services
	countRange = "198.18.0.0/16" // every bench pool
	workers    = 8               // parallel API clients creating or deleting Services
)

// svcSet is a group of Services in one pool of its own, so that a BGPAdvertisement can start or stop
// announcing exactly these.
type svcSet struct {
	prefix, pool, cidr string
	n                  int
}

var (
	keepSet = svcSet{"bulk-keep", "bench-keep", "198.18.64.0/22", 30}
	dropSet = svcSet{"bulk-drop", "bench-drop", "198.18.68.0/22", 270}
	setA    = svcSet{"bulk-a", "bench-a", "198.18.72.0/22", 1000}
	setB    = svcSet{"bulk-b", "bench-b", "198.18.76.0/22", 1000}
)

func (s svcSet) name(i int) string { return fmt.Sprintf("%s-%04d", s.prefix, i) }

func (b *bench) createScalePool() {
	ctx := context.Background()
	pools := []*v1beta1.IPAddressPool{{ObjectMeta: lab.ObjectMeta(scalePool), Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{scaleRange}}}}
	for _, s := range []svcSet{keepSet, dropSet, setA, setB} {
		pools = append(pools, &v1beta1.IPAddressPool{ObjectMeta: lab.ObjectMeta(s.pool), Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{v1beta1.PoolAddress(s.cidr)}}})
	}
	for _, p := range pools {
		if err := b.c.Client.Create(ctx, p); err != nil {
			b.r.Fatalf("creating pool %s: %v", p.Name, err)
		}
	}
	b.setAdv(scalePool, scalePool)
}

// setAdv creates or updates the BGPAdvertisement name to announce pools; with no pools it deletes it.
func (b *bench) setAdv(name string, pools ...string) {
	ctx := context.Background()
	adv := &v1beta1.BGPAdvertisement{ObjectMeta: lab.ObjectMeta(name)}
	err := b.c.Client.Get(ctx, client.ObjectKeyFromObject(adv), adv)
	switch {
	case len(pools) == 0 && apierrors.IsNotFound(err):
		return
	case len(pools) == 0 && err == nil:
		err = b.c.Client.Delete(ctx, adv)
	case apierrors.IsNotFound(err):
		adv.Spec.IPAddressPools = names(pools)
		err = b.c.Client.Create(ctx, adv)
	case err == nil:
		adv.Spec.IPAddressPools = names(pools)
		err = b.c.Client.Update(ctx, adv)
	}
	if err != nil {
		b.r.Fatalf("BGPAdvertisement %s -> %v: %v", name, pools, err)
	}
}

func names(pools []string) []v1beta1.ObjectName {
	var out []v1beta1.ObjectName
	for _, p := range pools {
		out = append(out, v1beta1.ObjectName(p))
	}
	return out
}

func scaleName(i int) string { return fmt.Sprintf("scale-%05d", i) }

// parallel runs fn(i) for i in [from, to) on workers goroutines and returns how long it took.
func (b *bench) parallel(from, to int, fn func(int) error) time.Duration {
	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		b.r.Fatalf("%v", firstErr)
	}
	return time.Since(start)
}

func (b *bench) createRange(from, to int) time.Duration {
	ctx := context.Background()
	return b.parallel(from, to, func(i int) error {
		return b.c.CreateService(ctx, lab.ServiceSpec{Name: scaleName(i), Pool: scalePool, EndpointNodes: lab.NodeNames})
	})
}

func (b *bench) deleteRange(from, to int) time.Duration {
	ctx := context.Background()
	return b.parallel(from, to, func(i int) error { return b.c.DeleteService(ctx, scaleName(i)) })
}

// createSets creates the sets' Services (and EndpointSlices) and waits until each has its address.
func (b *bench) createSets(sets ...svcSet) time.Duration {
	ctx := context.Background()
	start := time.Now()
	want := map[string]bool{}
	for _, s := range sets {
		b.parallel(0, s.n, func(i int) error {
			return b.c.CreateService(ctx, lab.ServiceSpec{Name: s.name(i), Pool: s.pool, EndpointNodes: lab.NodeNames})
		})
		for i := range s.n {
			want[s.name(i)] = true
		}
	}
	b.c.Eventually(b.r, bulkLimit, func() error {
		var l corev1.ServiceList
		if err := b.c.Client.List(ctx, &l, client.InNamespace(lab.AppNamespace)); err != nil {
			return err
		}
		n := 0
		for _, svc := range l.Items {
			if want[svc.Name] && len(svc.Status.LoadBalancer.Ingress) > 0 {
				n++
			}
		}
		if n < len(want) {
			return fmt.Errorf("%d of %d bench Services have an address", n, len(want))
		}
		return nil
	})
	return time.Since(start)
}

func (b *bench) deleteSets(sets ...svcSet) {
	ctx := context.Background()
	for _, s := range sets {
		b.parallel(0, s.n, func(i int) error { return b.c.DeleteService(ctx, s.name(i)) })
	}
}

// quiet waits until the implementation's controller and speakers have used under 0.1 s of CPU each
// over 3 s (the previous step's status writes and renders are done), or 3 minutes.
func (b *bench) quiet(im impl) {
	procs := []*lab.Proc{b.c.Controller}
	if im.metallb != nil {
		procs = []*lab.Proc{im.metallb.Controller}
	}
	for _, n := range b.c.Nodes {
		procs = append(procs, im.speaker(n.Name))
	}
	prev := make([]float64, len(procs))
	for i, p := range procs {
		prev[i] = cpuSeconds(p.Pid())
	}
	for start := time.Now(); time.Since(start) < 3*time.Minute; {
		time.Sleep(3 * time.Second)
		busy := false
		for i, p := range procs {
			cur := cpuSeconds(p.Pid())
			busy = busy || cur-prev[i] >= 0.1
			prev[i] = cur
		}
		if !busy {
			return
		}
	}
	b.progress("%s: still busy after 3 min, measuring anyway", im.name)
}

// routerRoutes counts the router's kernel routes in countRange, and those through every node.
func (b *bench) routerRoutes() (all, full int) {
	m, err := b.c.RoutesIn(countRange)
	if err != nil {
		return -1, -1
	}
	for _, gws := range m {
		if len(gws) == len(b.c.Nodes) {
			full++
		}
	}
	return len(m), full
}

// waitRoutes polls the router every 100 ms until it has want routes in countRange; it returns the
// time since start, or false and the last count after limit.
func (b *bench) waitRoutes(want int, start time.Time, limit time.Duration) (time.Duration, int, bool) {
	return b.waitFor(want, false, start, limit)
}

// waitFor is waitRoutes; with full, only routes through every node count.
func (b *bench) waitFor(want int, full bool, start time.Time, limit time.Duration) (time.Duration, int, bool) {
	n := -1
	for time.Since(start) < limit {
		all, through := b.routerRoutes()
		n = all
		if full && all == want {
			n = through
		}
		if n == want {
			return time.Since(start), n, true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, n, false
}

// timed is a result for a wait: the time, or what the router had when the wait gave up.
func timed(d time.Duration, n int, ok bool, want int, limit time.Duration, extra string) result {
	if !ok {
		return result{text: fmt.Sprintf("not reached in %s (router had %d of %d)%s", dur(limit), n, want, extra)}
	}
	return result{text: dur(d) + extra}
}

const bulkLimit = 10 * time.Minute

func (b *bench) bulkRows(im impl) {
	// 300 -> 30: 270 removals in one change. Set up with the pools announced as the Services come.
	b.progress("%s: 0 -> 300 VIPs (setting up), then 300 -> 30", im.name)
	b.setAdv(keepSet.pool, keepSet.pool)
	b.setAdv(dropSet.pool, dropSet.pool)
	b.createSets(keepSet, dropSet)
	const row300 = "remove 270 of 300 VIPs (BGPAdvertisement of their pool deleted -> router has 30)"
	if _, n, ok := b.waitFor(300, true, time.Now(), bulkLimit); !ok {
		b.t.add(im.name, row300, "", result{text: fmt.Sprintf("not measured: router had %d of 300", n)})
	} else {
		b.quiet(im)
		start := time.Now()
		b.setAdv(dropSet.pool)
		d, n, ok := b.waitRoutes(30, start, bulkLimit)
		b.t.add(im.name, row300, "from the delete (one API write) to the router's kernel; 300 Services stay", timed(d, n, ok, 30, bulkLimit, ""))
	}
	b.setAdv(keepSet.pool)
	b.waitRoutes(0, time.Now(), bulkLimit)
	b.deleteSets(keepSet, dropSet)

	// 0 -> 2,000: Services created and allocated first, announced by one new BGPAdvertisement.
	b.progress("%s: creating 2,000 Services, none announced", im.name)
	cre := b.createSets(setA, setB)
	b.quiet(im)
	b.progress("%s: 0 -> 2,000 VIPs", im.name)
	const ab = "bench-ab"
	start := time.Now()
	b.setAdv(ab, setA.pool, setB.pool)
	d, n, ok := b.waitFor(2000, true, start, bulkLimit)
	b.t.add(im.name, "0 -> 2,000 VIPs (BGPAdvertisement created -> router has all 2,000 through every node)",
		"the 2,000 Services and EndpointSlices existed and had their addresses (allocated by each one's own controller) before",
		timed(d, n, ok, 2000, bulkLimit, fmt.Sprintf(" (untimed set-up: creating and allocating the Services took %s)", dur(cre))))

	b.progress("%s: 2,000 -> 1,000 VIPs, API writes at 1,000", im.name)
	b.quiet(im)
	start = time.Now()
	b.setAdv(ab, setA.pool)
	d, n, ok = b.waitRoutes(1000, start, bulkLimit)
	b.t.add(im.name, "remove 1,000 of 2,000 VIPs (BGPAdvertisement edited to one of its two pools -> router has 1,000)",
		"from the update (one API write); the 2,000 Services stay", timed(d, n, ok, 1000, bulkLimit, ""))
	b.apiWrites(im)

	if b.scale <= 0 {
		b.setAdv(ab)
		b.waitRoutes(0, time.Now(), bulkLimit)
		if im.metallb == nil {
			b.deleteSets(setA, setB)
		}
		return
	}
	b.progress("%s: 1,000 -> %d Services, RSS once settled", im.name, b.scale)
	b.setAdv(ab, setA.pool, setB.pool)
	b.createRange(2000, b.scale)
	b.rss(im)
	b.plusOne(im)
	if im.metallb == nil {
		// routelb goes first: the lab is left empty for MetalLB. MetalLB's run ends the lab.
		b.progress("%s: removing the %d Services", im.name, b.scale+1)
		b.setAdv(ab)
		b.deleteSets(setA, setB)
		b.deleteRange(2000, b.scale+1)
		if _, n, ok := b.waitRoutes(0, time.Now(), bulkLimit); !ok {
			b.r.Fatalf("router still has %d routes in %s", n, countRange)
		}
	}
}

// apiWrites counts the API server's own write requests (apiserver_request_total, verbs POST, PUT,
// PATCH, DELETE) over 30 s once 1,000 VIPs are announced, after waiting until a 5 s window saw
// fewer than 10 writes in all (the initial status writes and events have drained) or 3 minutes.
// The figure is split by resource, which says whose writes they are (leases: routelb's Layer 2
// renewals and leader election; servicebgpstatuses: the speakers' status).
func (b *bench) apiWrites(im impl) {
	cs, err := kubernetes.NewForConfig(b.c.Env.Config)
	if err != nil {
		b.r.Fatalf("%v", err)
	}
	read := func() map[string]float64 {
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
		if err != nil {
			b.r.Fatalf("reading the API server's metrics: %v", err)
		}
		return writesByResource(string(raw))
	}
	settle := time.Now()
	prev := read()
	for time.Since(settle) < 3*time.Minute {
		time.Sleep(5 * time.Second)
		cur := read()
		if cur[""]-prev[""] < 10 {
			break
		}
		prev = cur
	}
	settled := time.Since(settle)
	w0 := read()
	time.Sleep(30 * time.Second)
	w1 := read()
	w := w1[""] - w0[""]
	var parts []string
	for _, res := range slices.Sorted(maps.Keys(w1)) {
		if d := w1[res] - w0[res]; res != "" && d > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", res, d))
		}
	}
	perNode := w / float64(len(b.c.Nodes)) / 30
	b.t.add(im.name, "API writes per node per second at 1,000 VIPs (BGP), steady state",
		"apiserver_request_total (POST/PUT/PATCH/DELETE) over 30 s, all clients (controller included), divided by 3 nodes; by resource",
		result{text: fmt.Sprintf("%.2f (%.0f writes in 30 s: %s; quiet after %s)", perNode, w, strings.Join(parts, ", "), dur(settled))})
}

// writesByResource sums apiserver_request_total's write verbs by resource label; "" is the total.
func writesByResource(metrics string) map[string]float64 {
	sums := map[string]float64{}
	for _, l := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(l, "apiserver_request_total{") {
			continue
		}
		write := false
		for _, v := range []string{`verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="DELETE"`} {
			write = write || strings.Contains(l, v)
		}
		if !write {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		res := "?"
		if m := resourceRE.FindStringSubmatch(l); m != nil {
			res = m[1]
		}
		sums[res] += v
		sums[""] += v
	}
	return sums
}

var resourceRE = regexp.MustCompile(`[{,]resource="([^"]*)"`)

// rss reads every speaker's VmRSS once its work has settled: the CPU it used over the last 5 s is
// below 0.1 s (2% of a core), or 5 minutes have passed. That is after its status writes and events,
// not a fixed time after its config file (issue 17).
func (b *bench) rss(im impl) {
	start := time.Now()
	prev := map[string]float64{}
	for _, n := range b.c.Nodes {
		prev[n.Name] = cpuSeconds(im.speaker(n.Name).Pid())
	}
	settled := false
	for !settled && time.Since(start) < 5*time.Minute {
		time.Sleep(5 * time.Second)
		settled = true
		for _, n := range b.c.Nodes {
			cur := cpuSeconds(im.speaker(n.Name).Pid())
			if cur-prev[n.Name] >= 0.1 {
				settled = false
			}
			prev[n.Name] = cur
		}
	}
	var maxRSS, maxHWM int
	for _, n := range b.c.Nodes {
		if sp := im.speaker(n.Name); !sp.Running() {
			// An interrupted run tears the lab down under this loop: no figure rather than zeros.
			b.r.Fatalf("%s is not running: no RSS figure", sp.Name)
		}
		rss, hwm := memKiB(im.speaker(n.Name).Pid())
		maxRSS, maxHWM = max(maxRSS, rss), max(maxHWM, hwm)
	}
	state := "settled"
	if !settled {
		state = "still busy"
	}
	b.t.add(im.name, fmt.Sprintf("speaker RSS at %d Services, once settled", b.scale),
		"largest of the 3 speakers: VmRSS (VmHWM); settled = under 0.1 s CPU in 5 s; time counted from the last create",
		result{text: fmt.Sprintf("%d MiB (peak %d MiB); %s after %s", maxRSS/1024, maxHWM/1024, state, dur(time.Since(start)))})
}

// plusOne: once the router has every VIP, one more Service; from its creation to its route.
func (b *bench) plusOne(im impl) {
	what := fmt.Sprintf("+1 Service onto %d (created -> route at the router)", b.scale)
	if _, n, ok := b.waitRoutes(b.scale, time.Now(), bulkLimit); !ok {
		b.t.add(im.name, what, "", result{text: fmt.Sprintf("not measured: router had %d of %d after %s", n, b.scale, dur(bulkLimit))})
		b.createRange(b.scale, b.scale+1)
		return
	}
	start := time.Now()
	b.createRange(b.scale, b.scale+1)
	d, n, ok := b.waitRoutes(b.scale+1, start, bulkLimit)
	b.t.add(im.name, what, "the machine's load at the time is in the header", timed(d, n, ok, b.scale+1, bulkLimit, ""))
}

func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

func memKiB(pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}
