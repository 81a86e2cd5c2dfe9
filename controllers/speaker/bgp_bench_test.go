//go:build bench

package speaker

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
// RSS (VmHWM) and its RSS after a quiet period. Figures are printed, never asserted (the targets are
// in docs/benchmarks.md). ROUTELB_BENCH_SERVICES changes the count; ROUTELB_BENCH_STEADY the quiet
// period (default 20s). ROUTELB_BENCH_BASE=<git revision> also builds the speaker of that revision
// and runs both, one after the other in each round, on the same API server: before and after a change
// measured side by side.
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
	bins := []benchBinary{{"this tree", bin}}
	if rev := os.Getenv("ROUTELB_BENCH_BASE"); rev != "" {
		bins = append([]benchBinary{{rev, buildAt(b, rev, dir)}}, bins...)
	}
	t0 := time.Now()
	createBenchObjects(b, c, n)
	b.Logf("created %d Services and EndpointSlices in %s (untimed)", n, time.Since(t0).Round(time.Second))
	round := 0
	for b.Loop() {
		for _, bb := range bins {
			round++
			// Each process starts from the same state: none of the status objects a previous one wrote.
			if err := c.DeleteAllOf(context.Background(), &v1beta1.ServiceBGPStatus{}, client.InNamespace(testenv.Namespace)); err != nil {
				b.Fatal(err)
			}
			runBenchSpeaker(b, bb, cfgPath, dir, round, n, steady, bb.path == bin)
		}
	}
}

type benchBinary struct{ name, path string }

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

// runBenchSpeaker starts one speaker process, waits for its complete frr.conf and reports its cost.
// Only the binary of this tree reports metrics (a metric holds one value); the base is logged.
func runBenchSpeaker(b *testing.B, bb benchBinary, cfgPath, dir string, round, n int, steady time.Duration, report bool) {
	bin := bb.path
	frr := filepath.Join(dir, fmt.Sprintf("frr-%d", round))
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("speaker-%d.log", round)))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "--node-name", "node1", "--kubeconfig", cfgPath, "--namespace", testenv.Namespace,
		"--layer2=false", "--frr-config-dir", frr, "--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	cold := waitNetworks(b, cmd.Process.Pid, filepath.Join(frr, "frr.conf"), n)
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := procCPU(b, cmd.Process.Pid)
	hwmCold := procKiB(b, cmd.Process.Pid, "VmHWM")
	time.Sleep(steady)
	rss := procKiB(b, cmd.Process.Pid, "VmRSS")
	hwm := procKiB(b, cmd.Process.Pid, "VmHWM")
	cpuSteady := procCPU(b, cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	_ = logf.Close()
	b.Logf("%s: frr.conf complete after %s (%d bytes), %.2f s CPU; VmHWM %d MiB at that point, %d MiB after %s more; VmRSS %d MiB; CPU after the quiet period %.2f s",
		bb.name, elapsed.Round(time.Millisecond), cold, cpu, hwmCold/1024, hwm/1024, steady, rss/1024, cpuSteady)
	if report {
		b.ReportMetric(elapsed.Seconds(), "s/cold-start")
		b.ReportMetric(cpu, "cpu-s/cold-start")
		b.ReportMetric(float64(hwm)/1024, "MiB-peak")
		b.ReportMetric(float64(rss)/1024, "MiB-steady")
	}
	b.StartTimer()
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

// waitNetworks polls path until it has n network lines and returns its size.
func waitNetworks(b *testing.B, pid int, path string, n int) int {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil && bytes.Count(data, []byte("\n  network ")) >= n {
			return len(data)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			b.Fatalf("the speaker (pid %d) ended before writing a complete %s", pid, path)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatalf("no %s with %d network lines after 5 minutes", path, n)
	return 0
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
