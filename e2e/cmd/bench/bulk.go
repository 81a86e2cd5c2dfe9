package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/e2e/lab"
)

// The bulk rows use their own pool and BGPAdvertisement in the lab's scale range, so that the
// router's routes inside scaleRange are exactly these Services' VIPs.
const (
	scalePool  = "bench-scale"
	scaleRange = "198.18.0.0/18"
	workers    = 8 // parallel API clients creating or deleting Services
)

func (b *bench) createScalePool() {
	ctx := context.Background()
	pool := &v1beta1.IPAddressPool{ObjectMeta: lab.ObjectMeta(scalePool), Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{scaleRange}}}
	adv := &v1beta1.BGPAdvertisement{ObjectMeta: lab.ObjectMeta(scalePool), Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{scalePool}}}
	if err := b.c.Client.Create(ctx, pool); err != nil {
		b.r.Fatalf("creating pool %s: %v", scalePool, err)
	}
	if err := b.c.Client.Create(ctx, adv); err != nil {
		b.r.Fatalf("creating BGPAdvertisement %s: %v", scalePool, err)
	}
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

// routerRoutes counts the router's kernel routes in scaleRange.
func (b *bench) routerRoutes() int {
	m, err := b.c.RoutesIn(scaleRange)
	if err != nil {
		return -1
	}
	return len(m)
}

// waitRoutes polls the router every 100 ms until it has want routes in scaleRange; it returns the
// time since start, or false and the last count after limit.
func (b *bench) waitRoutes(want int, start time.Time, limit time.Duration) (time.Duration, int, bool) {
	n := -1
	for time.Since(start) < limit {
		if n = b.routerRoutes(); n == want {
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
	// 300 -> 30: removals in one delta.
	b.progress("%s: 0 -> 300 VIPs (setting up), then 300 -> 30", im.name)
	b.createRange(0, 300)
	if _, n, ok := b.waitRoutes(300, time.Now(), bulkLimit); !ok {
		b.t.add(im.name, "remove 270 of 300 VIPs (Services deleted -> router has 30)", "", result{text: fmt.Sprintf("not measured: router had %d of 300", n)})
	} else {
		start := time.Now()
		del := b.deleteRange(30, 300)
		d, n, ok := b.waitRoutes(30, start, bulkLimit)
		b.t.add(im.name, "remove 270 of 300 VIPs (Services deleted -> router has 30)",
			"from the first delete; deleting the 270 Services and their EndpointSlices (8 clients) is part of it",
			timed(d, n, ok, 30, bulkLimit, fmt.Sprintf(" (deletes took %s)", dur(del))))
	}
	b.deleteRange(0, 30)
	b.waitRoutes(0, time.Now(), bulkLimit)

	b.progress("%s: 0 -> 2,000 VIPs", im.name)
	start := time.Now()
	cre := b.createRange(0, 2000)
	d, n, ok := b.waitRoutes(2000, start, bulkLimit)
	b.t.add(im.name, "0 -> 2,000 VIPs (first Service created -> router has all)",
		"creating 2,000 Services and EndpointSlices (8 clients) is part of it; allocation by each one's own controller",
		timed(d, n, ok, 2000, bulkLimit, fmt.Sprintf(" (creates took %s)", dur(cre))))

	b.progress("%s: 2,000 -> 1,000 VIPs, API writes at 1,000", im.name)
	start = time.Now()
	b.deleteRange(1000, 2000)
	d, n, ok = b.waitRoutes(1000, start, bulkLimit)
	b.t.add(im.name, "remove 1,000 of 2,000 VIPs (Services deleted -> router has 1,000)", "from the first delete", timed(d, n, ok, 1000, bulkLimit, ""))
	b.apiWrites(im)

	b.progress("%s: 1,000 -> %d Services, RSS once settled", im.name, b.scale)
	b.createRange(1000, b.scale)
	b.rss(im)
	b.plusOne(im)
	if im.metallb == nil {
		// routelb goes first: the lab is left empty for MetalLB. MetalLB's run ends the lab.
		b.progress("%s: removing the %d Services", im.name, b.scale+1)
		b.deleteRange(0, b.scale+1)
		if _, n, ok := b.waitRoutes(0, time.Now(), bulkLimit); !ok {
			b.r.Fatalf("router still has %d routes in %s", n, scaleRange)
		}
	}
}

// apiWrites counts the API server's own write requests (apiserver_request_total, verbs POST, PUT,
// PATCH, DELETE) over 30 s once 1,000 VIPs are announced, after waiting until a 5 s window saw
// fewer than 10 writes in all (the initial status writes and events have drained) or 3 minutes.
func (b *bench) apiWrites(im impl) {
	cs, err := kubernetes.NewForConfig(b.c.Env.Config)
	if err != nil {
		b.r.Fatalf("%v", err)
	}
	read := func() float64 {
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
		if err != nil {
			b.r.Fatalf("reading the API server's metrics: %v", err)
		}
		return sumWrites(string(raw))
	}
	settle := time.Now()
	prev := read()
	for time.Since(settle) < 3*time.Minute {
		time.Sleep(5 * time.Second)
		cur := read()
		if cur-prev < 10 {
			break
		}
		prev = cur
	}
	settled := time.Since(settle)
	w0 := read()
	time.Sleep(30 * time.Second)
	w := read() - w0
	perNode := w / float64(len(b.c.Nodes)) / 30
	b.t.add(im.name, "API writes per node per second at 1,000 VIPs (BGP), steady state",
		"apiserver_request_total (POST/PUT/PATCH/DELETE) over 30 s, all clients (controller included), divided by 3 nodes",
		result{text: fmt.Sprintf("%.2f (%.0f writes in 30 s; quiet after %s)", perNode, w, dur(settled))})
}

func sumWrites(metrics string) float64 {
	var sum float64
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
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}

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
