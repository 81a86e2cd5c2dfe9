//go:build metallbdiff

package ipam

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/allocator"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// metallbDir holds MetalLB's controller binary and CRDs, as hack/metallb-controller.sh builds them
// from the Go module proxy; ROUTELB_METALLB_DIR overrides it.
func metallbDir(t *testing.T) string {
	dir := os.Getenv("ROUTELB_METALLB_DIR")
	if dir == "" {
		dir = "/var/cache/routelb/metallb/v0.15.2"
	}
	if _, err := os.Stat(filepath.Join(dir, "controller")); err != nil {
		t.Fatalf("MetalLB's controller is not in %s (%v): run hack/metallb-controller.sh", dir, err)
	}
	return dir
}

// metallbSide is a second API server with MetalLB's own CRDs and MetalLB's controller (a real
// process) allocating on it.
type metallbSide struct {
	c   client.Client
	env *envtest.Environment
}

// startMetalLB runs MetalLB's controller against a second API server; extra flags override the
// defaults (a later flag wins).
func startMetalLB(t *testing.T, extra ...string) *metallbSide {
	t.Helper()
	dir := metallbDir(t)
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: []string{filepath.Join(dir, "crds")}, ErrorIfCRDPathMissing: true}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16,2001:db8:96::/112")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the second API server: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testenv.Namespace}}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := testenv.WriteKubeconfig(t, cfg, "")
	logs, err := os.Create(filepath.Join(t.TempDir(), "metallb-controller.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "controller"), "--namespace", testenv.Namespace, "--webhook-mode", "disabled", "--port", "0", "--log-level", "info")
	cmd.Args = append(cmd.Args, extra...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting MetalLB's controller: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill() // by PID: the process this test started
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("MetalLB controller log (tail):\n%s", tailOf(string(b), 4000))
		}
	})
	return &metallbSide{c: c, env: env}
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// diffSvc is one Service of the differential table.
type diffSvc struct {
	ns, name string
	labels   map[string]string
	ann      map[string]string
	policy   corev1.IPFamilyPolicy
	families []corev1.IPFamily
	port     int32
	// why, when set, is the documented reason routelb's result differs; want is then routelb's.
	why, want string
}

func (d diffSvc) object() *corev1.Service {
	port := d.port
	if port == 0 {
		port = 80
	}
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: d.ns, Name: d.name, Labels: d.labels, Annotations: d.ann},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": d.name},
			Ports: []corev1.ServicePort{{Port: port, TargetPort: intstr.FromInt32(port)}}}}
	if d.policy != "" {
		s.Spec.IPFamilyPolicy, s.Spec.IPFamilies = &d.policy, d.families
	}
	return s
}

// TestDifferentialMetalLB feeds MetalLB v0.15.2's controller and routelb's the same pools and
// Services on two API servers, one Service at a time, and requires the same addresses and pool
// annotation on every Service, before and after pool edits.
func TestDifferentialMetalLB(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts two API servers and MetalLB's controller")
	}
	theirs := startMetalLB(t)
	ours := startIPAMEnv(t, false)
	ours.startManager()
	sides := map[string]client.Client{"routelb": ours.c, "metallb": theirs.c}
	ctx := context.Background()
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "diff-a", Labels: map[string]string{"team": "a"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "diff-b", Labels: map[string]string{"team": "b"}}},
	} {
		for _, c := range sides {
			if err := c.Create(ctx, ns.DeepCopy()); err != nil {
				t.Fatal(err)
			}
		}
	}
	no := false
	pools := []*v1beta1.IPAddressPool{
		{ObjectMeta: metav1.ObjectMeta{Name: "generic"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.50.0/28", "2001:db8:50::/124"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.51.0/28"},
			AllocateTo: &v1beta1.ServiceAllocation{Namespaces: []string{"diff-a"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "by-label"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.52.0/28"},
			AllocateTo: &v1beta1.ServiceAllocation{Priority: 5, ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "gold"}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "team-b-sel"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.54.0/28"},
			AllocateTo: &v1beta1.ServiceAllocation{Priority: 1, NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"team": "b"}}},
				ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "gold"}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.53.0/28"}, AutoAssign: &no}},
	}
	for _, p := range pools {
		p.Namespace = testenv.Namespace
		for _, c := range sides {
			if err := c.Create(ctx, p.DeepCopy()); err != nil {
				t.Fatal(err)
			}
		}
	}
	ours.waitPoolLoaded("manual")
	dual, prefer := corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicyPreferDualStack
	v4v6, v6v4 := []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	share := func(k string) map[string]string { return map[string]string{allocator.AnnotationAllowSharedIP: k} }
	svcs := []diffSvc{
		{ns: "diff-a", name: "pinned-by-namespace"},
		{ns: "diff-b", name: "generic"},
		{ns: "diff-b", name: "pinned-by-label", labels: map[string]string{"tier": "gold"}},
		{ns: "diff-a", name: "label-beats-namespace", labels: map[string]string{"tier": "gold"}},
		{ns: "diff-b", name: "namespace-selector-and-label", labels: map[string]string{"tier": "gold"}},
		{ns: "diff-b", name: "requested-ip", ann: map[string]string{allocator.AnnotationLoadBalancerIPs: "198.18.53.7"}},
		{ns: "diff-b", name: "requested-pool", ann: map[string]string{allocator.AnnotationAddressPool: "manual"}},
		{ns: "diff-b", name: "share-1", ann: share("k"), port: 80},
		{ns: "diff-b", name: "share-2", ann: share("k"), port: 443},
		{ns: "diff-b", name: "share-port-clash", ann: share("k"), port: 80},
		{ns: "diff-b", name: "require-dual", policy: dual, families: v4v6},
		// IPv6 first in spec.ipFamilies: both write the pair IPv4 first.
		{ns: "diff-b", name: "require-dual-v6-first", policy: dual, families: v6v4},
		{ns: "diff-b", name: "prefer-dual", policy: prefer, families: v4v6},
		{ns: "diff-a", name: "prefer-dual-pinned-v4-only", policy: prefer, families: v4v6},
		// First family (IPv6) in no pinned pool: the second alone from the pinned pool, not both
		// from the generic one.
		{ns: "diff-a", name: "prefer-dual-v6-first-pinned-v4-only", policy: prefer, families: v6v4},
		{ns: "diff-b", name: "outside-every-pool", ann: map[string]string{allocator.AnnotationLoadBalancerIPs: "198.18.99.1"}},
		{ns: "diff-b", name: "unknown-pool", ann: map[string]string{allocator.AnnotationAddressPool: "nope"}},
	}
	for _, s := range svcs {
		for _, c := range sides {
			if err := c.Create(ctx, s.object()); err != nil {
				t.Fatalf("creating %s/%s: %v", s.ns, s.name, err)
			}
		}
		compare(t, sides, s)
	}

	// Narrowing team-a: its Services are cleared and reallocated (MetalLB's ClearAssignment).
	for _, c := range sides {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var p v1beta1.IPAddressPool
			if err := c.Get(ctx, client.ObjectKey{Namespace: testenv.Namespace, Name: "team-a"}, &p); err != nil {
				return err
			}
			p.Spec.AllocateTo.Namespaces = []string{"elsewhere"}
			return c.Update(ctx, &p)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	moved := []string{"pinned-by-namespace", "prefer-dual-pinned-v4-only", "prefer-dual-v6-first-pinned-v4-only"}
	for _, name := range moved {
		waitOffPool(t, sides, "diff-a", name, "team-a")
	}
	// All were cleared at once: which one is reallocated first is reconcile order, in either
	// controller, so they are compared as a group (same addresses and pools between them).
	compareGroup(t, sides, "diff-a", moved)
	for side, c := range sides {
		for _, name := range moved {
			if !hasEvent(c, "diff-a", name, EventClearAssignment) {
				t.Errorf("%s: no %s event on diff-a/%s", side, EventClearAssignment, name)
			}
		}
	}
	for _, s := range svcs {
		if s.ns == "diff-a" && slices.Contains(moved, s.name) {
			continue
		}
		compare(t, sides, s)
	}
}

// compareGroup requires the same multiset of addresses and pools over the Services on both sides.
func compareGroup(t *testing.T, sides map[string]client.Client, ns string, names []string) {
	t.Helper()
	all := map[string][]string{}
	for side, c := range sides {
		for _, name := range names {
			var svc corev1.Service
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
				t.Fatal(err)
			}
			for _, in := range svc.Status.LoadBalancer.Ingress {
				all[side] = append(all[side], in.IP)
			}
			all[side] = append(all[side], "pool="+svc.Annotations[allocator.AnnotationAllocatedFrom])
		}
		slices.Sort(all[side])
	}
	if !slices.Equal(all["routelb"], all["metallb"]) {
		t.Errorf("%s %v after the pool edit: routelb %v, MetalLB %v", ns, names, all["routelb"], all["metallb"])
	} else {
		t.Logf("%s %v after the pool edit: %v on both", ns, names, all["routelb"])
	}
}

// waitOffPool waits until neither side's Service is annotated with pool.
func waitOffPool(t *testing.T, sides map[string]client.Client, ns, name, pool string) {
	t.Helper()
	eventually(t, ns+"/"+name+" leaves "+pool, func() (bool, string) {
		for side, c := range sides {
			var svc corev1.Service
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
				return false, err.Error()
			}
			if svc.Annotations[allocator.AnnotationAllocatedFrom] == pool {
				return false, side + " still in " + pool
			}
		}
		return true, ""
	})
}

// compare waits until both controllers have settled the Service (an address, or an
// AllocationFailed event) and requires the same addresses and pool.
func compare(t *testing.T, sides map[string]client.Client, s diffSvc) {
	t.Helper()
	got := map[string]string{}
	eventually(t, s.ns+"/"+s.name+" settled on both", func() (bool, string) {
		for side, c := range sides {
			var svc corev1.Service
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: s.name}, &svc); err != nil {
				return false, err.Error()
			}
			r := ingressIPs(&svc)
			if r == "" && !failed(c, s.ns, s.name) {
				return false, side + " has not settled"
			}
			got[side] = r + " pool=" + svc.Annotations[allocator.AnnotationAllocatedFrom]
		}
		return true, ""
	})
	if s.why == "" {
		if got["routelb"] != got["metallb"] {
			t.Errorf("%s/%s: routelb %q, MetalLB %q", s.ns, s.name, got["routelb"], got["metallb"])
		} else {
			t.Logf("%s/%s: %s on both", s.ns, s.name, strings.TrimSpace(got["routelb"]))
		}
		return
	}
	// A documented difference must still be one: if MetalLB now agrees, the reason is stale.
	switch {
	case got["routelb"] != s.want:
		t.Errorf("%s/%s: routelb %q, want %q (%s)", s.ns, s.name, got["routelb"], s.want, s.why)
	case got["metallb"] == s.want:
		t.Errorf("%s/%s: MetalLB now agrees (%q): drop the documented difference %q", s.ns, s.name, s.want, s.why)
	default:
		t.Logf("%s/%s: routelb %s, MetalLB %s, by design: %s", s.ns, s.name, strings.TrimSpace(got["routelb"]), strings.TrimSpace(got["metallb"]), s.why)
	}
}

func failed(c client.Client, ns, name string) bool {
	return hasEvent(c, ns, name, EventAllocationFailed)
}

// hasEvent reads core events, which show both MetalLB's (core/v1) and routelb's (events.k8s.io).
func hasEvent(c client.Client, ns, name, reason string) bool {
	var list corev1.EventList
	if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return false
	}
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == name && ev.Reason == reason {
			return true
		}
	}
	return false
}
