package ipam

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// apiOutage is how long the API server is down: well past the leader election's renew deadline
// (10 s) and lease (15 s), so the manager loses its leadership.
const apiOutage = 30 * time.Second

// TestControllerSurvivesAPIOutage stops the real kube-apiserver under a running controller
// (RunController, as cmd/controller runs it) for longer than the leader Lease, then starts it again
// on the same port and certificates (etcd keeps running): the controller never returns, a new
// manager of the same process re-acquires the Lease (a new holder identity), and a Service created
// after the outage gets its address, with the metrics endpoint bound again.
func TestControllerSurvivesAPIOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts an API server")
	}
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ErrorIfCRDPathMissing: true,
		CRDDirectoryPaths: []string{filepath.Join(testenv.RepoRoot(), "charts", "routelb", "crds")}}
	api := env.ControlPlane.GetAPIServer()
	api.CertDir = t.TempDir() // kept across the restart, so the clients' CA and certificates stay valid
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testenv.Namespace}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: testenv.Namespace},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/28"}}},
	} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	metricsAddr := freeAddr(t)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- RunController(runCtx, cfg, ControllerOptions{Namespace: testenv.Namespace, LeaderElect: true,
			MetricsBindAddress: metricsAddr, HealthProbeBindAddress: "0", DisableWebhook: true, SkipNameValidation: true, Workers: 2},
			logf.Log.WithName("outage"))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunController after cancel: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("RunController did not return within 30s of its context's end")
		}
	})

	before := allocated(t, c, "before")
	holder := leaseHolder(t, c)

	if err := api.Stop(); err != nil {
		t.Fatalf("stopping the API server: %v", err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("RunController returned during the outage: %v", err)
	case <-time.After(apiOutage):
	}
	if err := api.Start(); err != nil {
		t.Fatalf("starting the API server again: %v", err)
	}
	after := allocated(t, c, "after")
	if after == before {
		t.Errorf("both Services got %s", after)
	}
	eventually(t, "a new manager of this process holds the leader Lease", func() (bool, string) {
		h := leaseHolder(t, c)
		return h != "" && h != holder, fmt.Sprintf("holder %q (before the outage %q)", h, holder)
	})
	eventually(t, "the metrics endpoint answers again", func() (bool, string) {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	select {
	case err := <-done:
		done <- err
		t.Fatalf("RunController returned: %v", err)
	default:
	}
}

// allocated creates a LoadBalancer Service and waits for its address.
func allocated(t *testing.T, c client.Client, name string) string {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
	eventually(t, "creating Service "+name, func() (bool, string) {
		err := c.Create(context.Background(), svc)
		return err == nil, fmt.Sprint(err)
	})
	var ip string
	eventually(t, "Service "+name+" gets an address", func() (bool, string) {
		var got corev1.Service
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(svc), &got); err != nil {
			return false, err.Error()
		}
		ip = ingressIPs(&got)
		return ip != "", "no address yet"
	})
	return ip
}

func leaseHolder(t *testing.T, c client.Client) string {
	t.Helper()
	var l coordinationv1.Lease
	var h string
	eventually(t, "the leader Lease is held", func() (bool, string) {
		err := c.Get(context.Background(), client.ObjectKey{Namespace: testenv.Namespace, Name: "routelb-controller"}, &l)
		if err != nil || l.Spec.HolderIdentity == nil {
			return false, fmt.Sprint(err)
		}
		h = *l.Spec.HolderIdentity
		return h != "", "no holder"
	})
	return h
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
