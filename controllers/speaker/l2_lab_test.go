package speaker_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
	"github.com/routelb/routelb/l2responder/ownership"
)

const (
	labVIP     = "203.0.113.5"
	labVIP6    = "2001:db8:5::5"
	labService = "web"
	labSvcNS   = "default"
)

// l2Lab is three speaker nodes and a client on one bridge, with a real API server.
type l2Lab struct {
	t      testing.TB
	env    *testenv.Env
	lab    *netlab.Lab
	client *netlab.Host
	nodes  map[string]*netlab.Host
	macs   map[string]string // node -> eth0 MAC
	bin    string
	kcfg   string
	mu     sync.Mutex
	procs  map[string]*exec.Cmd
}

var l2NodeNames = []string{"node1", "node2", "node3"}

func newL2Lab(t testing.TB) *l2Lab {
	for _, tool := range []string{"arping", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: run `make test` (it installs Debian's arping and iproute2): %v", tool, err)
		}
	}
	env := testenv.Start(t)
	l := &l2Lab{t: t, env: env, lab: netlab.New(t), nodes: map[string]*netlab.Host{}, macs: map[string]string{}, procs: map[string]*exec.Cmd{}}
	t.Cleanup(l.stopAll)
	l.lab.Reserve("203.0.113.0/24", "2001:db8:5::/64", "2001:db8:100::/64")
	for i, n := range l2NodeNames {
		h := l.lab.AddHost(n, fmt.Sprintf("198.51.100.%d/24", 11+i), fmt.Sprintf("2001:db8:100::%d/64", 11+i))
		l.nodes[n] = h
		l.macs[n] = strings.ToLower(l.field(h.MustRun("ip", "-br", "link", "show", "eth0"), 2))
		l.proxyAPI(h)
	}
	l.client = l.lab.AddHost("client", "198.51.100.100/24", "2001:db8:100::100/64")
	// The client keeps a neighbour entry for the VIP only with an on-link route to it.
	l.client.MustRun("ip", "route", "add", "203.0.113.0/24", "dev", "eth0")
	l.client.MustRun("ip", "-6", "route", "add", "2001:db8:5::/64", "dev", "eth0")
	l.kcfg = testenv.WriteKubeconfig(t, env.Config, "https://127.0.0.1:6443")
	l.bin = filepath.Join(l.lab.Dir, "speaker")
	if out, err := exec.Command("go", "build", "-o", l.bin, "../../cmd/speaker").CombinedOutput(); err != nil {
		t.Fatalf("building the speaker: %v\n%s", err, out)
	}
	l.createObjects()
	return l
}

func (l *l2Lab) field(s string, i int) string {
	f := strings.Fields(s)
	if len(f) <= i {
		l.t.Fatalf("unexpected output %q", s)
	}
	return f[i]
}

// proxyAPI makes the API server, which listens on the root namespace's loopback, reachable at
// 127.0.0.1:6443 inside the host: a listener opened in the host's namespace, forwarding to it.
func (l *l2Lab) proxyAPI(h *netlab.Host) {
	ln, err := l2ListenInNetns(h.NS, "127.0.0.1:6443")
	if err != nil {
		l.t.Fatalf("API proxy in %s: %v", h.NS, err)
	}
	l.t.Cleanup(func() { _ = ln.Close() })
	u, err := url.Parse(l.env.Config.Host)
	if err != nil || u.Host == "" {
		l.t.Fatalf("API server address %q: %v", l.env.Config.Host, err)
	}
	target := u.Host
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go l2Forward(c, target)
		}
	}()
}

func l2Forward(c net.Conn, target string) {
	defer func() { _ = c.Close() }()
	up, err := net.Dial("tcp", target)
	if err != nil {
		fmt.Fprintf(os.Stderr, "API proxy: %v\n", err)
		return
	}
	defer func() { _ = up.Close() }()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// listenInNetns opens a TCP listener inside a named network namespace. The thread that enters the
// namespace is locked and then discarded, so no other goroutine ever runs in it.
func l2ListenInNetns(ns, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer func() { _ = f.Close() }()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	return r.ln, r.err
}

func (l *l2Lab) createObjects() {
	ctx := context.Background()
	c := l.env.Client
	for i, n := range l2NodeNames {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"kubernetes.io/hostname": n}}}
		l2Must(l.t, c.Create(ctx, node))
		node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("198.51.100.%d", 11+i)}}
		l2Must(l.t, c.Status().Update(ctx, node))
	}
	l2Must(l.t, c.Create(ctx, &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "lab", Namespace: testenv.Namespace},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/28", "2001:db8:5::/120"}}}))
	l2Must(l.t, c.Create(ctx, &v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "lab", Namespace: testenv.Namespace},
		Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"lab"}}}))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: labService, Namespace: labSvcNS},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
	l2Must(l.t, c.Create(ctx, svc))
	l2Must(l.t, c.Create(ctx, labSlice(labSvcNS, labService)))
	// The IPAM controller is not part of this test: give the Service its VIP as it would.
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: labVIP}, {IP: labVIP6}}
	l2Must(l.t, c.Status().Update(ctx, svc))
}

// labSlice is the EndpointSlice of ns/svc with one ready pod (no kubelet runs here): a Service no
// endpoint serves is withdrawn.
func labSlice(ns, svc string) *discoveryv1.EndpointSlice {
	node := "pods"
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc + "-pods", Namespace: ns,
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.9"}, NodeName: &node}}}
}

func l2Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// start runs the speaker binary in node's namespace.
func (l *l2Lab) start(node string) {
	logf, err := os.OpenFile(filepath.Join(l.lab.Dir, node+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	l2Must(l.t, err)
	defer func() { _ = logf.Close() }()
	frr := filepath.Join(l.lab.Dir, "frr-"+node)
	cmd := exec.Command("ip", "netns", "exec", l.nodes[node].NS, l.bin, "--node-name", node, "--kubeconfig", l.kcfg,
		"--namespace", testenv.Namespace, "--config-dir", frr, "--metrics-bind-address", labMetricsAddr, "--health-probe-bind-address", "0")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	l2Must(l.t, cmd.Start())
	l.mu.Lock()
	l.procs[node] = cmd
	l.mu.Unlock()
}

// signal sends sig to node's speaker (by its PID: `ip netns exec` execs it) and waits for it to end.
func (l *l2Lab) signal(node string, sig syscall.Signal) { l.send(node, sig)() }

// send sends sig to node's speaker and returns a function waiting for it to end.
func (l *l2Lab) send(node string, sig syscall.Signal) (wait func()) {
	l.mu.Lock()
	cmd := l.procs[node]
	delete(l.procs, node)
	l.mu.Unlock()
	if cmd == nil {
		return func() {}
	}
	_ = cmd.Process.Signal(sig)
	return func() {
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
}

func (l *l2Lab) stopAll() {
	if l.t.Failed() {
		for _, n := range l2NodeNames {
			b, _ := os.ReadFile(filepath.Join(l.lab.Dir, n+".log"))
			lines := strings.Split(string(b), "\n")
			l.t.Logf("===== speaker %s (last lines)\n%s", n, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	}
	for _, n := range l2NodeNames {
		l.signal(n, syscall.SIGTERM)
	}
}

var l2MACRe = regexp.MustCompile(`from ([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})`)

// arping asks for the VIP from the client and returns the MACs that answered.
func (l *l2Lab) arping(count int) []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count+5)*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", l.client.NS, "arping", "-c", fmt.Sprint(count), "-i", "eth0", labVIP).CombinedOutput()
	var macs []string
	for _, m := range l2MACRe.FindAllStringSubmatch(string(out), -1) {
		macs = append(macs, strings.ToLower(m[1]))
	}
	return macs
}

// neighbour returns the MAC of the client's kernel neighbour entry for the VIP ("" if none).
func (l *l2Lab) neighbour() string { return l.neighbourOf(labVIP) }

func (l *l2Lab) neighbourOf(vip string) string {
	out, _ := l.client.Run("ip", "neigh", "show", vip, "dev", "eth0")
	f := strings.Fields(out)
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		return strings.ToLower(f[i+1])
	}
	return ""
}

// resolve makes the client's kernel resolve the VIP, creating the neighbour entry that gratuitous
// ARP then updates (arp_accept=0 updates entries but does not create them).
func (l *l2Lab) resolve() {
	_, _ = l.client.Run("ping", "-c", "1", "-W", "1", labVIP)
}

func (l *l2Lab) nodeOfMAC(mac string) string {
	for n, m := range l.macs {
		if m == mac {
			return n
		}
	}
	return ""
}

// owner waits until exactly one node answers ARP for the VIP, and returns it.
func (l *l2Lab) owner(timeout time.Duration) string {
	var owner string
	l.lab.Eventually(timeout, func() error {
		macs := slices.Compact(l2Sorted(l.arping(2)))
		if len(macs) != 1 {
			return fmt.Errorf("ARP replies from %v, want exactly one node", macs)
		}
		owner = l.nodeOfMAC(macs[0])
		if owner == "" {
			return fmt.Errorf("ARP reply from %s, which is no node's MAC %v", macs[0], l.macs)
		}
		return nil
	})
	return owner
}

func l2Sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// statusNodes returns the nodes the Service's ServiceL2Status objects name.
func (l *l2Lab) statusNodes() ([]string, error) {
	var list v1beta1.ServiceL2StatusList
	if err := l.env.Client.List(context.Background(), &list, client.InNamespace(testenv.Namespace),
		client.MatchingLabels{speaker.LabelServiceName: labService, speaker.LabelServiceNamespace: labSvcNS}); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range list.Items {
		if s.Status.Node != s.Labels[speaker.LabelNode] || s.Status.ServiceName != labService || len(s.Status.Interfaces) == 0 {
			return nil, fmt.Errorf("ServiceL2Status %s incomplete: labels %v, status %+v", s.Name, s.Labels, s.Status)
		}
		out = append(out, s.Status.Node)
	}
	slices.Sort(out)
	return out, nil
}

// waitStatus waits until node owns both VIPs of the dual-stack Service (one owner per Service, as
// in MetalLB) and the Service's ServiceL2Status objects name exactly that node.
func (l *l2Lab) waitStatus(node string) {
	l.lab.Eventually(30*time.Second, func() error {
		o4, o6 := l.claimOwner(labVIP), l.claimOwner(labVIP6)
		if o4 != node || o6 != node {
			return fmt.Errorf("%s claimed by %q and %s by %q, want both by %s", labVIP, o4, labVIP6, o6, node)
		}
		want := []string{node}
		got, err := l.statusNodes()
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("ServiceL2Status names %v, want the owners %v", got, want)
		}
		return nil
	})
}

// claimOwner returns the node whose Lease claims vip ("" if none; the first if several).
func (l *l2Lab) claimOwner(vip string) string {
	var leases coordinationv1.LeaseList
	if err := l.env.Client.List(context.Background(), &leases, client.InNamespace(testenv.Namespace),
		client.MatchingLabels{ownership.LabelComponent: ownership.ComponentValue}); err != nil {
		return ""
	}
	for _, le := range leases.Items {
		claims, _ := ownership.DecodeClaims(le.Annotations[ownership.AnnotationClaims])
		for _, c := range claims {
			if c.String() == vip && le.Spec.HolderIdentity != nil {
				return *le.Spec.HolderIdentity
			}
		}
	}
	return ""
}

func (l *l2Lab) waitNeighbourMoves(from string, timeout time.Duration) string {
	var to string
	l.lab.Eventually(timeout, func() error {
		mac := l.neighbour()
		n := l.nodeOfMAC(mac)
		if n == "" || n == from {
			return fmt.Errorf("client's neighbour entry for %s is %q (%s)", labVIP, mac, n)
		}
		to = n
		return nil
	})
	return to
}

// TestL2LabFailover runs three real speakers in network namespaces against a real API server: only
// the owner answers ARP, a SIGKILLed owner is replaced and the client's neighbour entry follows the
// new owner's gratuitous ARP, a SIGTERMed owner hands over at once, and ServiceL2Status follows.
func TestL2LabFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts network namespaces and an API server")
	}
	l := newL2Lab(t)
	for _, n := range l2NodeNames {
		l.start(n)
	}
	first := l.owner(60 * time.Second)
	t.Logf("owner: %s (%s)", first, l.macs[first])
	for range 3 {
		if macs := l.arping(2); len(slices.Compact(l2Sorted(macs))) != 1 || l.nodeOfMAC(macs[0]) != first {
			t.Fatalf("ARP replies from %v, want only %s's %s", macs, first, l.macs[first])
		}
	}
	l.resolve()
	if n := l.nodeOfMAC(l.neighbour()); n != first {
		t.Fatalf("client's neighbour entry points at %q, want %s", l.neighbour(), first)
	}
	l.waitStatus(first)
	l.lab.Eventually(20*time.Second, func() error {
		var evs eventsv1.EventList
		if err := l.env.Client.List(context.Background(), &evs, client.InNamespace(labSvcNS)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == labService && e.Reason == "nodeAssigned" && strings.Contains(e.Note, first) {
				return nil
			}
		}
		return fmt.Errorf("no nodeAssigned event naming %s on the Service among %d events", first, len(evs.Items))
	})

	t.Log("SIGKILL the owner")
	l.signal(first, syscall.SIGKILL)
	second := l.waitNeighbourMoves(first, 20*time.Second)
	t.Logf("neighbour entry moved to %s", second)
	if o := l.owner(10 * time.Second); o != second {
		t.Fatalf("ARP answered by %s, but the neighbour entry moved to %s", o, second)
	}
	l.waitStatus(second)

	t.Log("restart the killed node, then SIGTERM the owner")
	l.start(first)
	l2WaitLease(t, l.env.Client, first)
	owner := l.settledOwner() // the restarted node may take the VIP back
	l.resolve()
	l.lab.Eventually(10*time.Second, func() error {
		if n := l.nodeOfMAC(l.neighbour()); n != owner {
			l.resolve()
			return fmt.Errorf("client's neighbour entry points at %q, want %s", n, owner)
		}
		return nil
	})
	l.signal(owner, syscall.SIGTERM)
	// The clean stop deletes the Lease instead of letting it expire: that is what makes it immediate.
	var lease coordinationv1.Lease
	err := l.env.Client.Get(context.Background(), client.ObjectKey{Namespace: testenv.Namespace, Name: ownership.LeaseName(owner)}, &lease)
	if !apierrors.IsNotFound(err) {
		t.Fatalf("the SIGTERMed speaker left its Lease behind (err %v)", err)
	}
	next := l.waitNeighbourMoves(owner, 10*time.Second)
	t.Logf("after SIGTERM of %s the neighbour entry moved to %s", owner, next)
	if o := l.owner(10 * time.Second); o != next {
		t.Fatalf("ARP answered by %s, but the neighbour entry moved to %s", o, next)
	}
	l.waitStatus(next)

	t.Log("IPv6: restart the stopped node, then SIGKILL the owner of the IPv6 VIP")
	l.start(owner)
	l2WaitLease(t, l.env.Client, owner)
	v6owner := ""
	for v6owner == "" {
		a := l.claimOwner(labVIP6)
		time.Sleep(3 * time.Second)
		if b := l.claimOwner(labVIP6); a != "" && a == b {
			v6owner = a
		}
	}
	l.lab.Eventually(20*time.Second, func() error {
		_, _ = l.client.Run("ping", "-6", "-c", "1", "-W", "1", labVIP6)
		if n := l.nodeOfMAC(l.neighbourOf(labVIP6)); n != v6owner {
			return fmt.Errorf("client's IPv6 neighbour entry points at %q, want the claimant %s", n, v6owner)
		}
		return nil
	})
	l.signal(v6owner, syscall.SIGKILL)
	l.lab.Eventually(20*time.Second, func() error {
		n := l.nodeOfMAC(l.neighbourOf(labVIP6))
		if n == "" || n == v6owner {
			return fmt.Errorf("client's IPv6 neighbour entry still points at %q", n)
		}
		if o := l.claimOwner(labVIP6); o != n {
			return fmt.Errorf("IPv6 neighbour entry moved to %s but %q claims the VIP", n, o)
		}
		if o := l.claimOwner(labVIP); o != n {
			return fmt.Errorf("the IPv6 VIP moved to %s but %q claims the Service's IPv4 VIP", n, o)
		}
		t.Logf("IPv6 neighbour entry moved from %s to %s", v6owner, n)
		return nil
	})
}

func l2WaitLease(t testing.TB, c client.Client, node string) {
	t.Helper()
	wait.Eventually(t, 30*time.Second, func() error {
		var lease coordinationv1.Lease
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: testenv.Namespace, Name: ownership.LeaseName(node)}, &lease); err != nil {
			return fmt.Errorf("%s's speaker wrote no Lease: %w", node, err)
		}
		if by := lease.Annotations[ownership.AnnotationFencedBy]; by != "" {
			return fmt.Errorf("%s's Lease is fenced by %s", node, by)
		}
		return nil
	})
}
