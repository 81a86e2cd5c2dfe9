// Command bench measures the lab figures of docs/benchmarks.md ("Lab figures"): Service created ->
// VIP reachable from the client (BGP and Layer 2), Layer 2 take-over after SIGKILL and SIGTERM of the
// owner's speaker, and BGP node link-down -> nexthop withdrawn from the router's kernel with BFD
// 300 ms x3 and 100 ms x3. It prints a Markdown table; nothing is asserted.
//
//	KUBEBUILDER_ASSETS=$(hack/kube-bin.sh) go run ./e2e/cmd/bench [-runs 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
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

type row struct {
	what    string
	samples []time.Duration
	note    string
}

func main() {
	runs := flag.Int("runs", 5, "samples per figure")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: the lab needs root")
		os.Exit(1)
	}
	r := lab.NewRunner(os.Stderr)
	var rows []row
	err := r.Run(func() {
		c := lab.Start(r, lab.Options{Out: os.Stderr})
		b := &bench{r: r, c: c, runs: *runs}
		rows = append(rows, b.reachable("BGP", lab.BGPPool, "203.0.113.%d", 200))
		rows = append(rows, b.reachable("Layer 2", lab.L2Pool, "203.0.113.%d", 140))
		rows = append(rows, b.takeover(syscall.SIGKILL), b.takeover(syscall.SIGTERM))
		rows = append(rows, b.linkDown(300), b.linkDown(100))
	})
	r.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(machine())
	fmt.Println()
	fmt.Println("| figure | runs | median | min | max | notes |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, rw := range rows {
		s := slices.Clone(rw.samples)
		slices.Sort(s)
		if len(s) == 0 {
			fmt.Printf("| %s | 0 | - | - | - | %s |\n", rw.what, rw.note)
			continue
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s |\n", rw.what, len(s), ms(s[len(s)/2]), ms(s[0]), ms(s[len(s)-1]), rw.note)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

type bench struct {
	r    *lab.Runner
	c    *lab.Cluster
	runs int
}

// reachable: from Service creation (with a requested address, so the client can try at once) to the
// first successful HTTP request from the client, polling every 20 ms.
func (b *bench) reachable(mode, pool, ipFmt string, base int) row {
	ctx := context.Background()
	rw := row{what: "Service created -> VIP reachable from the client (" + mode + ")",
		note: "HTTP on a new connection every 20 ms; includes allocation, speaker, reloader/ARP and the lab's kube-proxy"}
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
	return rw
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
func (b *bench) takeover(sig syscall.Signal) row {
	ctx := context.Background()
	sigName := map[syscall.Signal]string{syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM"}[sig]
	rw := row{what: "Layer 2 take-over after " + sigName + " of the owner's speaker",
		note: "default Lease timing (renew 500 ms, lease 1.5 s); HTTP on a new connection every 20 ms"}
	const name = "bench-takeover"
	vip := "203.0.113.150"
	if err := b.c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: lab.L2Pool, IP: vip, EndpointNodes: lab.NodeNames}); err != nil {
		b.r.Fatalf("%v", err)
	}
	defer func() { _ = b.c.DeleteService(ctx, name) }()
	for range b.runs {
		var owner string
		b.c.Eventually(b.r, lab.Short, func() error {
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
		sp := b.c.Node(owner).Speaker
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
		time.Sleep(5 * time.Second) // the restarted speaker settles
	}
	return rw
}

// linkDown: node2's link goes down at the bridge; from then to node2's nexthop gone from the router's
// kernel route (polled every 10 ms), with both ends of BFD at interval x3.
func (b *bench) linkDown(interval uint32) row {
	ctx := context.Background()
	rw := row{what: fmt.Sprintf("BGP node link down -> nexthop withdrawn, BFD %d ms x3", interval),
		note: "router's kernel route polled every 10 ms"}
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
	return rw
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
	b.c.Eventually(b.r, lab.Short, func() error {
		out, err := b.c.RouterFRR.Vtysh("-c", "show bfd peers")
		if err == nil && strings.Count(out, want) != 2*len(b.c.Nodes) {
			err = fmt.Errorf("router's BFD sessions do not all run at %d ms yet", interval)
		}
		return err
	})
	b.c.Eventually(b.r, lab.Short, b.c.AllSessionsUp)
}

func machine() string {
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
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("Machine: %d CPUs (%s), Linux %s, FRR %s, %s; measured %s, load average at the end %s.",
		runtime.NumCPU(), cpu, strings.TrimSpace(string(kernel)), strings.TrimPrefix(firstLine(string(frr)), "bgpd version "),
		runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.Join(strings.Fields(string(load))[:3], " "))
}

func firstLine(s string) string { return strings.TrimSpace(strings.SplitN(s, "\n", 2)[0]) }
