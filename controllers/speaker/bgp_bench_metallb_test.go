//go:build bench

package speaker

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// MetalLB's speaker in BenchmarkSpeakerBGP10k, and what both speakers' runs share once the file is
// written: waiting for the status writes to settle.

const (
	metallbVersion = "v0.15.2"
	metallbPod     = "metallb-speaker-node1"
	// nobody: MetalLB's speaker always starts its Layer 2 announcer, which opens ARP and NDP
	// responders on every interface it may open them on. Without CAP_NET_RAW it can open none, so
	// nothing is bound in the root namespace the benchmark runs in (Layer 2 is not measured).
	nobodyUID = 65534
)

// benchProc is one speaker process under measurement, with what it renders into and what it needs.
type benchProc struct {
	cmd      *exec.Cmd
	conf     string
	start    time.Time
	reloader *exec.Cmd // MetalLB only: the process its speaker signals after each render
	hups     string    // MetalLB only: one line per SIGHUP the reloader got
	pprof    string    // routelb only: its --pprof-bind-address, empty when off
	once     sync.Once
}

// stop ends the speaker (SIGTERM, as a pod deletion does, then SIGKILL) and then its reloader,
// both by PID. It is also a cleanup of the benchmark, for a run that fails while the processes are
// up.
func (p *benchProc) stop() {
	p.once.Do(func() {
		if p.cmd != nil && p.cmd.Process != nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			// MetalLB's speaker logs "starting shutdown" and may never end while it still works
			// through its Services (seen at 10,000): SIGKILL after a grace period, as the kubelet.
			done := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = p.cmd.Process.Kill()
				<-done
			}
		}
		if p.reloader != nil && p.reloader.Process != nil {
			_ = p.reloader.Process.Kill()
			_ = p.reloader.Wait()
		}
	})
}

// extra is the MetalLB-only part of the settled line: how many renders it signalled.
func (p *benchProc) extra() string {
	if p.reloader == nil {
		return ""
	}
	data, _ := os.ReadFile(p.hups)
	return fmt.Sprintf(", %d reload signals", strings.Count(string(data), "\n"))
}

// benchLogf logs through b and also prints at once: b.Logf of a benchmark shows only at its end,
// and a run of an hour that is interrupted should still leave the figures it had.
func benchLogf(b *testing.B, format string, args ...any) {
	b.Helper()
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
	b.Logf(format, args...)
}

// metallbSpeaker is the path of MetalLB's speaker binary: $ROUTELB_METALLB_DIR/speaker, or the
// cache hack/metallb-speaker.sh builds (a cached build returns at once).
func metallbSpeaker(b *testing.B) string {
	dir := os.Getenv("ROUTELB_METALLB_DIR")
	if dir == "" {
		cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "metallb-speaker.sh"))
		cmd.Env = append(os.Environ(), "METALLB_VERSION="+metallbVersion)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("hack/metallb-speaker.sh (MetalLB's speaker for ROUTELB_BENCH_METALLB=1): %v", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	bin := filepath.Join(dir, "speaker")
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		b.Fatalf("no MetalLB speaker binary at %s (ROUTELB_METALLB_DIR, or run hack/metallb-speaker.sh)", bin)
	}
	return bin
}

// createMetalLBPod registers the running speaker Pod MetalLB's speaker looks itself up as at start
// (its ServiceBGPStatus objects are owned by it), as the DaemonSet's pod would be.
func createMetalLBPod(b *testing.B, c client.Client) {
	ctx := context.Background()
	ns := testenv.Namespace
	// The ServiceAccount admission plugin refuses Pods whose account does not exist; no controller
	// manager creates "default" here.
	if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}); err != nil {
		b.Fatalf("creating ServiceAccount %s/default: %v", ns, err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: metallbPod, Namespace: ns,
		Labels: map[string]string{"app": "metallb", "component": "speaker"}},
		Spec: corev1.PodSpec{NodeName: "node1", HostNetwork: true, AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "speaker", Image: "quay.io/metallb/speaker:" + metallbVersion}}}}
	if err := c.Create(ctx, pod); err != nil {
		b.Fatalf("creating Pod %s/%s: %v", ns, metallbPod, err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "198.51.100.10",
		PodIPs: []corev1.PodIP{{IP: "198.51.100.10"}}, HostIP: "198.51.100.10", HostIPs: []corev1.HostIP{{IP: "198.51.100.10"}}}
	if err := c.Status().Update(ctx, pod); err != nil {
		b.Fatalf("status of Pod %s/%s: %v", ns, metallbPod, err)
	}
}

// startMetalLBSpeaker starts MetalLB's speaker in FRR mode as user nobody, in a directory of its
// own standing for the pod's shared /etc/frr_reloader volume: frr.conf, and the pid file of a
// reloader. No FRR is needed to render: the reloader is a shell of ours that counts the SIGHUPs the
// speaker sends after each render (an unknown pid would make every render "fail" and be retried).
// Memberlist stays off (no --ml-labels): one node, nothing to detect.
func startMetalLBSpeaker(b *testing.B, bin string, r benchRun, logf *os.File) *benchProc {
	dir, err := os.MkdirTemp("", "metallb-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	kubeconfig := filepath.Join(dir, "kubeconfig")
	data, err := os.ReadFile(r.cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{dir, kubeconfig} {
		if err := os.Chown(f, nobodyUID, nobodyUID); err != nil {
			b.Fatalf("giving %s to nobody: %v", f, err)
		}
	}
	nobody := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	// A parent with SIGHUP ignored (nohup) passes that on, and a shell cannot trap an ignored
	// signal; asking for it here gives the children the default disposition (Go resets caught
	// signals on exec).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	p := &benchProc{conf: filepath.Join(dir, "frr.conf"), hups: filepath.Join(dir, "hups")}
	p.reloader = exec.Command("sh", "-c", `trap 'echo hup >> "$0"' HUP; while :; do sleep 1 & wait $!; done`, p.hups)
	p.reloader.SysProcAttr = nobody
	if err := p.reloader.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.stop)
	pidFile := filepath.Join(dir, "reloader.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(p.reloader.Process.Pid)), 0o644); err != nil {
		b.Fatal(err)
	}
	p.cmd = exec.Command(bin, "--namespace", testenv.Namespace, "--node-name", "node1", "--pod-name", metallbPod,
		"--host", "127.0.0.1", "--port", strconv.Itoa(freePort(b)), "--log-level", "info")
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "METALLB_BGP_TYPE=frr",
		"FRR_CONFIG_FILE="+p.conf, "FRR_RELOADER_PID_FILE="+pidFile)
	p.cmd.SysProcAttr = nobody
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return p
}

// freePort is a loopback TCP port free right now, for the speaker's metrics listener.
func freePort(b *testing.B) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// settled is a speaker's cost once it has written everything it writes at start.
type settled struct {
	statuses         int           // ServiceBGPStatus objects of node1 with their status written
	written          time.Duration // from the process start until all were
	writesInMinute   int           // status objects changed during the measured minute
	cpuPerMinute     float64       // CPU seconds during that minute
	cpuTotal         float64       // CPU seconds from the start to the end of that minute
	rssKiB, hwmKiB   int
	anonKiB, fileKiB int // the two parts of VmRSS: anonymous (the heap, stacks) and the binary's pages
}

// Settling: the status objects are polled this often (each poll lists them all, so not more
// often); once all are written the process gets settleQuiet for what follows them (events, a
// last render), then its CPU is taken over one minute.
const (
	settlePoll  = 15 * time.Second
	settleQuiet = 30 * time.Second
)

// settle waits until node1 has a ServiceBGPStatus with its status written for each of the n
// Services, then measures the process over one quiet minute.
func settle(b *testing.B, c client.Client, pid int, start time.Time, n int, limit time.Duration) settled {
	deadline := time.Now().Add(limit)
	var s settled
	for {
		done, _ := statusSnapshot(b, c)
		if done >= n {
			s.statuses, s.written = done, time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d ServiceBGPStatus objects written %s after the frr.conf", done, n, limit)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			b.Fatalf("the speaker (pid %d) ended with %d of %d ServiceBGPStatus objects written", pid, done, n)
		}
		time.Sleep(settlePoll)
	}
	time.Sleep(settleQuiet)
	_, rv0 := statusSnapshot(b, c)
	cpu0 := procCPU(b, pid)
	time.Sleep(time.Minute)
	s.cpuTotal = procCPU(b, pid)
	s.cpuPerMinute = s.cpuTotal - cpu0
	s.rssKiB = procKiB(b, pid, "VmRSS")
	s.hwmKiB = procKiB(b, pid, "VmHWM")
	s.anonKiB, s.fileKiB = procKiB(b, pid, "RssAnon"), procKiB(b, pid, "RssFile")
	_, rv1 := statusSnapshot(b, c)
	for name, rv := range rv1 {
		if rv0[name] != rv {
			s.writesInMinute++
		}
	}
	for name := range rv0 {
		if _, ok := rv1[name]; !ok {
			s.writesInMinute++ // deleted
		}
	}
	return s
}

// statusSnapshot counts node1's ServiceBGPStatus objects whose status names their Service, and
// returns every object's resourceVersion by name (to tell whether any was written since).
func statusSnapshot(b *testing.B, c client.Client) (int, map[string]string) {
	var l v1beta1.ServiceBGPStatusList
	if err := c.List(context.Background(), &l, client.InNamespace(testenv.Namespace)); err != nil {
		b.Fatalf("listing ServiceBGPStatus: %v", err)
	}
	done, rvs := 0, make(map[string]string, len(l.Items))
	for _, o := range l.Items {
		rvs[o.Name] = o.ResourceVersion
		if o.Status.Node == "node1" && o.Status.ServiceName != "" {
			done++
		}
	}
	return done, rvs
}
