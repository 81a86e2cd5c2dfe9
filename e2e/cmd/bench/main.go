// Command bench measures the lab figures of docs/benchmarks.md ("Lab figures"), for routelb and, in the
// same run on the same lab, for MetalLB v0.15.2's own controller and speakers (FRR mode): Service
// created -> VIP reachable from the client (BGP and Layer 2), Layer 2 take-over after SIGKILL and
// SIGTERM of the owner's speaker, BGP node link-down -> nexthop withdrawn from the router's kernel with
// BFD 300 ms x3 and 100 ms x3, bulk changes at the router (remove 270 of 300 VIPs, 0 -> 2,000 VIPs,
// each from one BGPAdvertisement write over Services that already exist), API writes per node per
// second at 1,000 VIPs, the speaker's RSS at 10,000 Services once its work has
// settled, and +1 Service onto 10,000. With -outage-only it measures Layer 2 through API server
// outages instead (issue 19: routelb's speakers with --l2-memberlist, MetalLB's with memberlist, in
// one lab run; e2e/lab/outage.go). It prints a Markdown table; nothing is asserted.
//
//	KUBEBUILDER_ASSETS=$(hack/kube-bin.sh) ROUTELB_METALLB_DIR=$(hack/metallb-speaker.sh) go run ./e2e/cmd/bench [-runs 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/e2e/lab"
)

// result is one figure of one implementation: time samples, or a text (RSS, rates).
type result struct {
	samples []time.Duration
	text    string
}

// figure is one row of the table.
type figure struct {
	what, note string
	res        map[string]result // by implementation
}

type table struct {
	rows  []*figure
	impls []string
}

func (t *table) add(impl, what, note string, r result) {
	for _, f := range t.rows {
		if f.what == what {
			f.res[impl] = r
			return
		}
	}
	t.rows = append(t.rows, &figure{what: what, note: note, res: map[string]result{impl: r}})
}

func main() {
	runs := flag.Int("runs", 5, "samples per timed figure")
	metallb := flag.Bool("metallb", true, "measure MetalLB's column too (needs hack/metallb-controller.sh and hack/metallb-speaker.sh)")
	bulk := flag.Bool("bulk", true, "measure the bulk rows (300 -> 30, 0 -> 2,000, API writes at 1,000, RSS at -scale)")
	bulkOnly := flag.Bool("bulk-only", false, "measure the bulk rows only")
	outageOnly := flag.Bool("outage-only", false, "measure Layer 2 through API server outages only (routelb with --l2-memberlist)")
	scale := flag.Int("scale", 10000, "Services for the RSS and +1 rows (at least 2,000); 0 skips those two rows")
	metallbWait := flag.Duration("metallb-wait", 0, "wait this long for MetalLB's binaries to appear in $ROUTELB_METALLB_DIR (a build in progress) before building them")
	only := flag.String("only", "lab", "lab: the lab's figures for routelb and MetalLB; order: the order of removals and additions in one large delta, and +1 onto -order-vips, on FRR 8.4 and 10.x")
	orderVIPs := flag.Int("order-vips", 10000, "VIPs of the order figures")
	burners := flag.Int("burners", 4, "extra CPU-bound processes for the loaded +1 figure")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: the lab needs root")
		os.Exit(1)
	}
	if *only == "order" {
		os.Exit(runOrder(*orderVIPs, *burners))
	}
	r := lab.NewRunner(os.Stderr)
	t := &table{}
	start := time.Now()
	var loads []string
	// Interrupted (Ctrl-C, or a time limit), the lab is torn down and the rows so far are printed.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "bench: %v: tearing the lab down\n", s)
		r.Close()
		fmt.Printf("INTERRUPTED RUN (%v)\n\n", s)
		t.impls = []string{"routelb", "MetalLB " + lab.MetalLBVersion}
		t.print()
		os.Exit(1)
	}()
	err := r.Run(func() {
		// A /16 of cluster IPs: envtest's default range holds ~250 Services.
		c := lab.Start(r, lab.Options{Out: os.Stderr, ServiceCIDR: "10.96.0.0/16", L2Memberlist: *outageOnly})
		b := &bench{r: r, c: c, runs: *runs, t: t, bulk: *bulk, bulkOnly: *bulkOnly, outageOnly: *outageOnly, scale: *scale}
		b.createScalePool()
		loads = append(loads, loadavg())
		b.suite(impl{name: "routelb", speaker: func(n string) *lab.Proc { return c.Node(n).Speaker }})
		loads = append(loads, loadavg())
		if !*metallb {
			return
		}
		// Looked up only now: a build of MetalLB still running elsewhere has the routelb rows' time.
		dir, err := metallbDir(*metallbWait)
		if err != nil {
			r.Fatalf("%v", err)
		}
		b.progress("removing routelb, starting MetalLB %s's controller and speakers", lab.MetalLBVersion)
		c.StopRoutelb()
		m, err := c.StartMetalLB(dir)
		if err != nil {
			r.Fatalf("%v", err)
		}
		c.Eventually(r, 2*lab.Short, c.AllSessionsUp)
		b.suite(impl{name: "MetalLB " + lab.MetalLBVersion, speaker: m.Speaker, metallb: m})
		loads = append(loads, loadavg())
		_ = m.Stop()
	})
	r.Close()
	if err != nil {
		// The rows measured before the failure are still printed, marked as an incomplete run.
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		fmt.Printf("INCOMPLETE RUN: %v\n\n", err)
	}
	t.impls = []string{"routelb"}
	if *metallb {
		t.impls = append(t.impls, "MetalLB "+lab.MetalLBVersion)
	}
	fmt.Println(machine(start, loads))
	fmt.Println()
	t.print()
	if err != nil {
		os.Exit(1)
	}
}

func (t *table) print() {
	fmt.Printf("| figure | %s | notes |\n", strings.Join(t.impls, " | "))
	fmt.Printf("|---|%s---|\n", strings.Repeat("---|", len(t.impls)))
	for _, f := range t.rows {
		var cells []string
		for _, im := range t.impls {
			cells = append(cells, f.res[im].cell())
		}
		fmt.Printf("| %s | %s | %s |\n", f.what, strings.Join(cells, " | "), f.note)
	}
}

// cell is "median (min-max, n)" for samples, or the text.
func (r result) cell() string {
	if r.text != "" {
		return r.text
	}
	s := slices.Clone(r.samples)
	if len(s) == 0 {
		return "-"
	}
	slices.Sort(s)
	if len(s) == 1 {
		return dur(s[0])
	}
	return fmt.Sprintf("%s (%s-%s, n=%d)", dur(s[len(s)/2]), dur(s[0]), dur(s[len(s)-1]), len(s))
}

func dur(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// impl is the implementation under measurement: whose speakers run on the nodes.
type impl struct {
	name    string
	speaker func(node string) *lab.Proc
	metallb *lab.MetalLB
}

type bench struct {
	r        *lab.Runner
	c        *lab.Cluster
	runs     int
	t        *table
	bulk     bool
	bulkOnly bool
	// outageOnly: only the Layer 2 outage rows, on a lab whose routelb speakers run --l2-memberlist
	// (that option would change the other rows' figures, so it is not part of the suite).
	outageOnly bool
	scale      int
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// suite measures every figure for one implementation, on the lab as it is.
func (b *bench) suite(im impl) {
	if b.outageOnly {
		b.outageRows(im)
		return
	}
	if b.bulkOnly {
		b.bulkRows(im)
		return
	}
	b.progress("%s: Service -> reachable", im.name)
	b.reachable(im, "BGP", lab.BGPPool, "203.0.113.%d", 200)
	b.reachable(im, "Layer 2", lab.L2Pool, "203.0.113.%d", 140)
	b.progress("%s: Layer 2 take-over", im.name)
	b.takeover(im, syscall.SIGKILL)
	b.takeover(im, syscall.SIGTERM)
	b.progress("%s: BGP link down", im.name)
	b.linkDown(im, 300)
	b.linkDown(im, 100)
	if b.bulk {
		b.bulkRows(im)
	}
}

// reachable: from Service creation (with a requested address, so the client can try at once) to the
// first successful HTTP request from the client, polling every 20 ms.
func (b *bench) reachable(im impl, mode, pool, ipFmt string, base int) {
	ctx := context.Background()
	var rw result
	for i := range b.runs {
		name := fmt.Sprintf("bench-%s-%d", strings.ToLower(strings.ReplaceAll(mode, " ", "")), i)
		vip := fmt.Sprintf(ipFmt, base+i)
		start := time.Now()
		if err := b.c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: pool, IP: vip, EndpointNodes: lab.NodeNames}); err != nil {
			b.r.Fatalf("%v", err)
		}
		if d, ok := firstSuccess(b.c, vip, start, 60*time.Second, ""); ok {
			rw.samples = append(rw.samples, d)
		}
		if err := b.c.DeleteService(ctx, name); err != nil {
			b.r.Fatalf("%v", err)
		}
		time.Sleep(2 * time.Second)
	}
	b.t.add(im.name, "Service created -> VIP reachable from the client ("+mode+")",
		"HTTP on a new connection every 20 ms; includes allocation, speaker, FRR apply/ARP and the lab's kube-proxy", rw)
}

// firstSuccess polls http://vip/ every 20 ms until a request succeeds (served by a node other than
// not, when set) and returns the time since start.
func firstSuccess(c *lab.Cluster, vip string, start time.Time, limit time.Duration, not string) (time.Duration, bool) {
	for time.Since(start) < limit {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		body, err := c.Get(ctx, vip)
		cancel()
		if err == nil && body != "" && body != not {
			return time.Since(start), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, false
}

// takeover: the owner's speaker gets sig; from the signal to the first request served by another
// node (the client's neighbour entry moved by the new owner's gratuitous ARP).
func (b *bench) takeover(im impl, sig syscall.Signal) {
	ctx := context.Background()
	sigName := map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM"}[sig]
	var rw result
	const name = "bench-takeover"
	vip := "203.0.113.150"
	if err := b.c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: lab.L2Pool, IP: vip, EndpointNodes: lab.NodeNames}); err != nil {
		b.r.Fatalf("%v", err)
	}
	defer func() { _ = b.c.DeleteService(ctx, name) }()
	for range b.runs {
		var owner string
		b.c.Eventually(b.r, 2*lab.Short, func() error {
			body, err := b.c.Get(ctx, vip)
			if err != nil {
				return err
			}
			owners, err := b.c.ARPOwners(vip, 2)
			if err == nil && (len(owners) != 1 || owners[0] != body) {
				err = fmt.Errorf("ARP owners %v, served by %s", owners, body)
			}
			owner = body
			return err
		})
		sp := im.speaker(owner)
		start := time.Now()
		if err := syscall.Kill(sp.Pid(), sig); err != nil {
			b.r.Fatalf("%v", err)
		}
		if d, ok := firstSuccess(b.c, vip, start, 60*time.Second, owner); ok {
			rw.samples = append(rw.samples, d)
		}
		for sp.Running() {
			time.Sleep(50 * time.Millisecond)
		}
		if err := sp.Restart(); err != nil {
			b.r.Fatalf("%v", err)
		}
		time.Sleep(5 * time.Second) // the restarted speaker settles (and rejoins memberlist)
	}
	b.t.add(im.name, "Layer 2 take-over after "+sigName+" of the owner's speaker",
		"HTTP on a new connection every 20 ms; routelb: default Lease timing (renew 500 ms, lease 1.5 s); MetalLB: memberlist defaults", rw)
}

// linkDown: node2's link goes down at the bridge; from then to node2's nexthop gone from the router's
// kernel route (polled every 10 ms), with both ends of BFD at interval x3.
func (b *bench) linkDown(im impl, interval uint32) {
	ctx := context.Background()
	var rw result
	b.setBFD(interval)
	defer b.setBFD(300)
	const name = "bench-linkdown"
	vip := "203.0.113.230"
	if err := b.c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: lab.BGPPool, IP: vip, EndpointNodes: lab.NodeNames}); err != nil {
		b.r.Fatalf("%v", err)
	}
	defer func() { _ = b.c.DeleteService(ctx, name) }()
	n2 := b.c.Node("node2")
	for range b.runs {
		b.c.WaitNexthops(b.r, vip, lab.NodeNames...)
		b.c.Eventually(b.r, lab.Short, b.c.AllSessionsUp) // BGP and BFD up again
		time.Sleep(2 * time.Second)
		start := time.Now()
		n2.Host.SetLink(false)
		for time.Since(start) < 30*time.Second {
			got, err := b.c.NexthopNodes(vip)
			if err == nil && !slices.Contains(got, "node2") && len(got) == 2 {
				rw.samples = append(rw.samples, time.Since(start))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		n2.Host.SetLink(true)
	}
	b.c.WaitNexthops(b.r, vip, lab.NodeNames...)
	b.t.add(im.name, fmt.Sprintf("BGP node link down -> nexthop withdrawn, BFD %d ms x3", interval),
		"router's kernel route polled every 10 ms", rw)
}

// setBFD sets the nodes' BFDProfile (through the API, as an operator would) and the router's profile,
// and waits until the router's BFD sessions run with it.
func (b *bench) setBFD(interval uint32) {
	ctx := context.Background()
	var p v1beta1.BFDProfile
	if err := b.c.Client.Get(ctx, client.ObjectKey{Namespace: lab.NS, Name: lab.BFDProfile}, &p); err != nil {
		b.r.Fatalf("%v", err)
	}
	p.Spec.ReceiveInterval, p.Spec.TransmitInterval = ptr.To(interval), ptr.To(interval)
	if err := b.c.Client.Update(ctx, &p); err != nil {
		b.r.Fatalf("%v", err)
	}
	if err := b.c.SetRouterBFD(int(interval), 3); err != nil {
		b.r.Fatalf("%v", err)
	}
	want := fmt.Sprintf("Transmission interval: %dms", interval)
	b.c.Eventually(b.r, 2*lab.Short, func() error {
		out, err := b.c.RouterFRR.Vtysh("-c", "show bfd peers")
		if err == nil && strings.Count(out, want) != 2*len(b.c.Nodes) {
			err = fmt.Errorf("router's BFD sessions do not all run at %d ms yet", interval)
		}
		return err
	})
	b.c.Eventually(b.r, 2*lab.Short, b.c.AllSessionsUp)
}

func loadavg() string {
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machine(start time.Time, loads []string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	frr, _ := exec.Command("/usr/lib/frr/bgpd", "--version").CombinedOutput()
	return fmt.Sprintf("Machine: %d CPUs (%s), Linux %s, FRR %s, %s; measured %s to %s; load average (1, 5, 15 min) "+
		"at the start and after each implementation's rows: %s; at the end: %s.",
		runtime.NumCPU(), cpu, strings.TrimSpace(string(kernel)), strings.TrimPrefix(firstLine(string(frr)), "bgpd version "),
		runtime.Version(), start.UTC().Format("2006-01-02 15:04"), time.Now().UTC().Format("15:04 UTC"),
		strings.Join(loads, "; "), loadavg())
}

func firstLine(s string) string { return strings.TrimSpace(strings.SplitN(s, "\n", 2)[0]) }

func runOrder(n, burners int) int {
	r := lab.NewRunner(os.Stderr)
	t := &table{}
	start := time.Now()
	load := loadavg()
	err := r.Run(func() { orderBench(r, t, n, burners) })
	r.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	for _, f := range t.rows {
		for im := range f.res {
			if !slices.Contains(t.impls, im) {
				t.impls = append(t.impls, im)
			}
		}
	}
	fmt.Println(machine(start, []string{load}))
	fmt.Println()
	t.print()
	return 0
}

// metallbDir is lab.MetalLBDir, after waiting up to wait for both binaries in $ROUTELB_METALLB_DIR.
func metallbDir(wait time.Duration) (string, error) {
	if d := os.Getenv("ROUTELB_METALLB_DIR"); d != "" {
		_ = lab.Poll(wait, func() error {
			for _, b := range []string{"controller", "speaker"} {
				if _, err := os.Stat(d + "/" + b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return lab.MetalLBDir()
}
