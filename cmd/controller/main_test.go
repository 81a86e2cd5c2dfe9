package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
)

// TestBinary runs the built controller as an operator would, with --kubeconfig against a real API
// server, and checks it takes the leader Lease, allocates, answers its probes and exports its metrics,
// and exits cleanly on SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server and the binary")
	}
	env := testenv.Start(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "controller")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kubeconfig := env.Kubeconfig(t)
	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--disable-webhook",
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr)
	logs, err := os.Create(filepath.Join(dir, "controller.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill() // only the process this test started
		}
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("controller log:\n%s", b)
		}
	})

	ctx := context.Background()
	c := env.Client
	pool := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: testenv.Namespace},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.10-203.0.113.19"}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}}}
	for _, o := range []client.Object{pool, svc} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the Service gets its address", func() (bool, string) {
		var got corev1.Service
		if err := c.Get(ctx, client.ObjectKeyFromObject(svc), &got); err != nil {
			return false, err.Error()
		}
		ing := got.Status.LoadBalancer.Ingress
		return len(ing) == 1 && ing[0].IP == "203.0.113.10", fmt.Sprintf("%+v", ing)
	})
	bad := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "outside", Namespace: "default",
		Annotations: map[string]string{"metallb.io/loadBalancerIPs": "198.51.100.7"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}}}
	if err := c.Create(ctx, bad); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failure is counted", func() (bool, string) {
		body, _ := get("http://" + metricsAddr + "/metrics")
		return strings.Contains(body, `routelb_allocator_allocation_failures_total{reason="NotInPool"} 1`), "no failure metric yet"
	})
	eventually(t, "the leader Lease is held", func() (bool, string) {
		var l coordinationv1.Lease
		err := c.Get(ctx, client.ObjectKey{Namespace: testenv.Namespace, Name: "routelb-controller"}, &l)
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "", fmt.Sprint(err)
	})
	eventually(t, "/readyz answers", func() (bool, string) {
		body, code := get("http://" + probeAddr + "/readyz")
		return code == http.StatusOK, body
	})
	eventually(t, "metrics show the address in use", func() (bool, string) {
		body, _ := get("http://" + metricsAddr + "/metrics")
		return strings.Contains(body, `routelb_allocator_addresses_in_use_total{pool="demo"} 1`) &&
			strings.Contains(body, `routelb_allocator_addresses_total{pool="demo"} 10`), "metrics not there yet"
	})
	checkMetalLBMetrics(t, c, metricsAddr, svc)
	// The speaker's series belong to the speaker's pods: here they would be gauges stuck at 0.
	body, _ := get("http://" + metricsAddr + "/metrics")
	for _, l := range strings.Split(body, "\n") {
		for _, prefix := range []string{"routelb_speaker_", "routelb_layer2_", "routelb_reloader_"} {
			if strings.HasPrefix(l, prefix) || strings.HasPrefix(l, "# HELP "+prefix) {
				t.Errorf("the controller's /metrics has a speaker series: %s", l)
			}
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("controller exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("controller did not exit within 60s of SIGTERM")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() //nolint:errcheck
	return l.Addr().String()
}

func get(url string) (string, int) {
	resp, err := http.Get(url) //nolint:gosec,noctx // a test's own local endpoint
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close() //nolint:errcheck
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// eventually is wait.Eventually for conditions that say what they last saw.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	if err := wait.Poll(60*time.Second, func() error {
		if ok, msg := cond(); !ok {
			return errors.New(msg)
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
