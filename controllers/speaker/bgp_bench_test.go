//go:build bench

package speaker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// BenchmarkSpeakerBGP10k measures the speaker binary's own cost at scale: 10,000 LoadBalancer
// Services with a VIP each and an EndpointSlice each, four peers and one advertisement with a
// community exist in a real API server before the speaker starts. It reports the time from the
// process start to a frr.conf announcing every VIP, the CPU the process spent until then, its peak
// RSS (VmHWM) and its RSS after a quiet period; then it waits until the process has written a
// ServiceBGPStatus for every Service and reports its RSS, peak and CPU per minute once settled.
// Figures are printed, never asserted (the targets are in docs/benchmarks.md).
// ROUTELB_BENCH_SERVICES changes the count; ROUTELB_BENCH_STEADY the quiet period (default 20s);
// ROUTELB_BENCH_SETTLE_MAX how long to wait for the status objects (default 40m, 0 skips that part).
// ROUTELB_BENCH_BASE=<git revision> also builds the speaker of that revision and runs both, one
// after the other in each round, on the same API server: before and after a change measured side by
// side. ROUTELB_BENCH_METALLB=1 runs MetalLB's speaker (v0.15.2, from $ROUTELB_METALLB_DIR or
// hack/metallb-speaker.sh) after them on the same objects, in FRR mode (bgp_bench_metallb_test.go).
// ROUTELB_BENCH_PPROF=<dir> starts this tree's speaker with --pprof-bind-address on a free loopback
// port and saves its heap profile once settled as <dir>/heap-<round>.pb.gz (go tool pprof it), and
// late as heap-<round>-late.pb.gz. ROUTELB_BENCH_LATE (default 15m, 0 skips it) is when, from the
// process start, the RSS is read once more: client-go's event broadcaster keeps every event it sent
// until its series check, which runs every 6 minutes and drops events older than 6 minutes, so the
// events of a cold start stay until 12 minutes after it; the late figure is the speaker without them.
func BenchmarkSpeakerBGP10k(b *testing.B) {
	n := 10000
	if s := os.Getenv("ROUTELB_BENCH_SERVICES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	steady := 20 * time.Second
	if s := os.Getenv("ROUTELB_BENCH_STEADY"); s != "" {
		steady, _ = time.ParseDuration(s)
	}
	cfgPath, c := startBenchAPI(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "speaker")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/speaker").CombinedOutput(); err != nil {
		b.Fatalf("building the speaker: %v\n%s", err, out)
	}
	bins := []benchBinary{{name: "this tree", path: bin, report: true, pprofDir: os.Getenv("ROUTELB_BENCH_PPROF")}}
	if rev := os.Getenv("ROUTELB_BENCH_BASE"); rev != "" {
		bins = append([]benchBinary{{name: rev, path: buildAt(b, rev, dir)}}, bins...)
	}
	if os.Getenv("ROUTELB_BENCH_METALLB") == "1" {
		bins = append(bins, benchBinary{name: "MetalLB " + metallbVersion, path: metallbSpeaker(b), metallb: true, report: true})
	}
	settleMax := 40 * time.Minute
	if s := os.Getenv("ROUTELB_BENCH_SETTLE_MAX"); s != "" {
		settleMax, _ = time.ParseDuration(s)
	}
	late := 15 * time.Minute
	if s := os.Getenv("ROUTELB_BENCH_LATE"); s != "" {
		late, _ = time.ParseDuration(s)
	}
	t0 := time.Now()
	createBenchObjects(b, c, n)
	if bins[len(bins)-1].metallb {
		createMetalLBPod(b, c)
	}
	b.Logf("created %d Services and EndpointSlices in %s (untimed)", n, time.Since(t0).Round(time.Second))
	round := 0
	for b.Loop() {
		for _, bb := range bins {
			round++
			// Each process starts from the same state: none of the status objects a previous one wrote.
			if err := c.DeleteAllOf(context.Background(), &v1beta1.ServiceBGPStatus{}, client.InNamespace(testenv.Namespace)); err != nil {
				b.Fatal(err)
			}
			runBenchSpeaker(b, c, bb, benchRun{cfgPath: cfgPath, dir: dir, round: round, n: n, steady: steady, settleMax: settleMax, late: late})
		}
	}
}

// benchBinary is one speaker the benchmark runs: routelb's of this tree or of a base revision, or
// MetalLB's. Those with report set report metrics (a metric holds one value per name; MetalLB's
// are prefixed), the others are logged only.
type benchBinary struct {
	name, path      string
	metallb, report bool
	pprofDir        string // where the settled heap profile goes; empty: no profile
}

// benchRun is what every process of the benchmark shares, and its round.
type benchRun struct {
	cfgPath, dir string
	round, n     int
	steady       time.Duration
	settleMax    time.Duration
	late         time.Duration // from the process start, for the late RSS reading; 0: none
}

// buildAt builds cmd/speaker of git revision rev (an export of it, not a checkout of this tree).
func buildAt(b *testing.B, rev, dir string) string {
	src := filepath.Join(dir, "base-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	sh := fmt.Sprintf("git -C %q archive %q | tar -x -C %q", testenv.RepoRoot(), rev, src)
	if out, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		b.Fatalf("exporting %s: %v\n%s", rev, err, out)
	}
	bin := filepath.Join(dir, "speaker-base")
	build := exec.Command("go", "build", "-o", bin, "./cmd/speaker")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building the speaker of %s: %v\n%s", rev, err, out)
	}
	return bin
}

// runBenchSpeaker starts one speaker process, waits for its complete frr.conf and reports its cost,
// then waits for its status writes to settle and reports its cost once settled.
func runBenchSpeaker(b *testing.B, c client.Client, bb benchBinary, r benchRun) {
	logf, err := os.Create(filepath.Join(r.dir, fmt.Sprintf("speaker-%d.log", r.round)))
	if err != nil {
		b.Fatal(err)
	}
	var p *benchProc
	if bb.metallb {
		p = startMetalLBSpeaker(b, bb.path, r, logf)
	} else {
		p = startRoutelbSpeaker(b, bb.path, r, logf, pprofAddrFor(b, bb))
	}
	pid := p.cmd.Process.Pid
	cold := waitNetworks(b, pid, p.conf, r.n)
	elapsed := time.Since(p.start)
	b.StopTimer()
	cpu := procCPU(b, pid)
	hwmCold := procKiB(b, pid, "VmHWM")
	time.Sleep(r.steady)
	rss := procKiB(b, pid, "VmRSS")
	hwm := procKiB(b, pid, "VmHWM")
	cpuSteady := procCPU(b, pid)
	benchLogf(b, "%s: frr.conf complete after %s (%d bytes), %.2f s CPU; VmHWM %d MiB at that point, %d MiB after %s more; VmRSS %d MiB; CPU after the quiet period %.2f s",
		bb.name, elapsed.Round(time.Millisecond), cold, cpu, hwmCold/1024, hwm/1024, r.steady, rss/1024, cpuSteady)
	prefix := ""
	if bb.metallb {
		prefix = "metallb-"
	}
	if bb.report {
		b.ReportMetric(elapsed.Seconds(), prefix+"s/cold-start")
		b.ReportMetric(cpu, prefix+"cpu-s/cold-start")
		b.ReportMetric(float64(hwm)/1024, prefix+"MiB-peak")
		b.ReportMetric(float64(rss)/1024, prefix+"MiB-steady")
	}
	if r.settleMax > 0 {
		s := settle(b, c, pid, p.start, r.n, r.settleMax)
		benchLogf(b, "%s: %d ServiceBGPStatus objects written %s after the start; settled: VmRSS %d MiB (RssAnon %d, RssFile %d), VmHWM %d MiB, %.2f s CPU per minute, %d status writes in that minute, %.1f s CPU in all%s",
			bb.name, s.statuses, s.written.Round(time.Second), s.rssKiB/1024, s.anonKiB/1024, s.fileKiB/1024, s.hwmKiB/1024, s.cpuPerMinute, s.writesInMinute, s.cpuTotal, p.extra())
		saveHeapProfile(b, p, bb, fmt.Sprint(r.round))
		if bb.report {
			b.ReportMetric(s.written.Seconds(), prefix+"s/statuses-written")
			b.ReportMetric(float64(s.rssKiB)/1024, prefix+"MiB-settled")
			b.ReportMetric(float64(s.hwmKiB)/1024, prefix+"MiB-peak-settled")
			b.ReportMetric(s.cpuPerMinute, prefix+"cpu-s/min-settled")
		}
		if r.late > 0 {
			lateRSS(b, p, bb, r, prefix)
		}
	}
	p.stop()
	_ = logf.Close()
	b.StartTimer()
}

// startRoutelbSpeaker starts routelb's speaker (BGP only) writing its frr.conf into the run's dir.
func startRoutelbSpeaker(b *testing.B, bin string, r benchRun, logf *os.File, pprofAddr string) *benchProc {
	frr := filepath.Join(r.dir, fmt.Sprintf("frr-%d", r.round))
	args := []string{"--node-name", "node1", "--kubeconfig", r.cfgPath, "--namespace", testenv.Namespace,
		"--layer2=false", "--frr-config-dir", frr, "--metrics-bind-address", "0", "--health-probe-bind-address", "0"}
	if pprofAddr != "" {
		args = append(args, "--pprof-bind-address", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &benchProc{cmd: cmd, conf: filepath.Join(frr, "frr.conf"), start: time.Now(), pprof: pprofAddr}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.stop)
	return p
}

// startBenchAPI runs kube-apiserver and etcd with a Service range large enough for 10,000 cluster
// IPs, and writes a kubeconfig for the speaker binary.
func startBenchAPI(b *testing.B) (string, client.Client) {
	assets, err := testenv.Assets()
	if err != nil {
		b.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(testenv.RepoRoot(), "charts", "routelb", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		b.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	path := testenv.WriteKubeconfig(b, cfg, "")
	fast := *cfg
	fast.QPS, fast.Burst = 500, 1000
	c, err := client.New(&fast, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	return path, c
}

// createBenchObjects makes node1, the BGP configuration and n Services, each with one VIP from
// 198.18.0.0/15 and a ready endpoint on node1, as the IPAM controller and kube would have left them.
func createBenchObjects(b *testing.B, c client.Client, n int) {
	ctx := context.Background()
	ns := testenv.Namespace
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", Labels: map[string]string{"kubernetes.io/hostname": "node1"}}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.0.0/15"}}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns},
			Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"bench"}, Communities: []v1beta1.CommunityRef{"64512:100"}}},
	}
	for i := range 4 {
		objs = append(objs, &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tor%d", i), Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: uint32(64520 + i), Address: fmt.Sprintf("198.51.100.%d", 1+i)}})
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			b.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	var wg sync.WaitGroup
	var failed atomic.Value
	todo := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range todo {
				if err := createBenchService(ctx, c, i); err != nil {
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
}

func createBenchService(ctx context.Context, c client.Client, i int) error {
	noNodePorts := false // 10,000 Services would exhaust the node port range
	name := fmt.Sprintf("svc-%05d", i)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
			AllocateLoadBalancerNodePorts: &noNodePorts,
			Ports:                         []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}}}
	if err := c.Create(ctx, svc); err != nil {
		return err
	}
	if err := c.Create(ctx, servingSliceIn("bench", name, "node1")); err != nil {
		return err
	}
	vip := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip.String()}}
	return c.Status().Update(ctx, svc)
}

// waitNetworks polls path until it has n network lines and returns its size. It reads the file only
// when its size or time changed: MetalLB's is megabytes, and the poll must not compete with the
// process it measures.
func waitNetworks(b *testing.B, pid int, path string, n int) int {
	deadline := time.Now().Add(30 * time.Minute)
	var last os.FileInfo
	for time.Now().Before(deadline) {
		if st, err := os.Stat(path); err == nil && (last == nil || st.Size() != last.Size() || !st.ModTime().Equal(last.ModTime())) {
			last = st
			if data, err := os.ReadFile(path); err == nil && countNetworks(data) >= n {
				return len(data)
			}
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			b.Fatalf("the speaker (pid %d) ended before writing a complete %s", pid, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("no %s with %d network lines after 30 minutes", path, n)
	return 0
}

// countNetworks counts the network lines of an address family: routelb indents them by two spaces,
// MetalLB by four.
func countNetworks(data []byte) int {
	return bytes.Count(data, []byte("\n  network ")) + bytes.Count(data, []byte("\n    network "))
}

// procKiB reads a "VmXxx:  1234 kB" line of /proc/pid/status.
func procKiB(b *testing.B, pid int, field string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kib, err := strconv.Atoi(strings.Fields(v)[0])
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procCPU is the user+system CPU seconds of pid, from /proc/pid/stat.
func procCPU(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at state, field 3.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return float64(ut+st) / 100 // USER_HZ is 100 on Linux
}

// pprofAddrFor picks a free loopback port for bb's pprof endpoint, or "" when bb has no profile.
func pprofAddrFor(b *testing.B, bb benchBinary) string {
	if bb.pprofDir == "" {
		return ""
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// saveHeapProfile fetches the settled process's heap profile (inuse and alloc, as pprof shows them),
// after a collection: without one, inuse is as of the last GC, which may have run mid-reconcile.
func saveHeapProfile(b *testing.B, p *benchProc, bb benchBinary, round string) {
	if bb.pprofDir == "" {
		return
	}
	// The text form first, before the collection the profile forces: its runtime.MemStats show
	// the heap as the settled process holds it (in use, idle, released to the OS, next GC goal).
	fetchTo(b, "http://"+p.pprof+"/debug/pprof/heap?debug=1", filepath.Join(bb.pprofDir, fmt.Sprintf("heap-%s.txt", round)))
	path := filepath.Join(bb.pprofDir, fmt.Sprintf("heap-%s.pb.gz", round))
	fetchTo(b, "http://"+p.pprof+"/debug/pprof/heap?gc=1", path)
	benchLogf(b, "%s: settled heap profile in %s", bb.name, path)
}

// lateRSS waits until r.late after the process start and reports its RSS then (see
// BenchmarkSpeakerBGP10k's comment for why), and its heap profile.
func lateRSS(b *testing.B, p *benchProc, bb benchBinary, r benchRun, prefix string) {
	time.Sleep(time.Until(p.start.Add(r.late)))
	pid := p.cmd.Process.Pid
	rss, anon, file, hwm := procKiB(b, pid, "VmRSS"), procKiB(b, pid, "RssAnon"), procKiB(b, pid, "RssFile"), procKiB(b, pid, "VmHWM")
	benchLogf(b, "%s: %s after the start: VmRSS %d MiB (RssAnon %d, RssFile %d), VmHWM %d MiB, %.1f s CPU in all",
		bb.name, time.Since(p.start).Round(time.Second), rss/1024, anon/1024, file/1024, hwm/1024, procCPU(b, pid))
	saveHeapProfile(b, p, bb, fmt.Sprintf("%d-late", r.round))
	if bb.report {
		b.ReportMetric(float64(rss)/1024, prefix+"MiB-late")
	}
}

// fetchTo saves the body of url in path.
func fetchTo(b *testing.B, url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatalf("fetching %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := io.Copy(f, resp.Body); err != nil {
		b.Fatal(err)
	}
}
