package ctrlmetrics_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/routelb/routelb/internal/metricsauth"
	"github.com/routelb/routelb/internal/metricsauth/ctrlmetrics"
	"github.com/routelb/routelb/internal/metricsauth/metricsauthtest"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs controller-runtime's metrics server with ServerOptions, as the controller's and the
// speaker's managers do, until the test ends; cfg is the binary's identity at the API server.
func start(t *testing.T, cfg *rest.Config, o metricsauth.Options) string {
	t.Helper()
	addr := freeAddr(t)
	so, err := ctrlmetrics.ServerOptions(addr, o, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(so, cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("metrics server: %v", err)
		}
	})
	return addr
}

// TestSecureServerOnAPIServer: the controller's and the speaker's metrics server (both build it
// with ServerOptions) under --metrics-secure: HTTPS, 401/403/200 by the API server's RBAC, with
// ServiceAccount tokens from TokenRequest. Without it: plain HTTP, no token needed.
func TestSecureServerOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: needs kube-apiserver and etcd")
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "routelb_ctrlmetrics_test_up", Help: "A series to find."})
	g.Set(1)
	metrics.Registry.MustRegister(g)
	t.Cleanup(func() { metrics.Registry.Unregister(g) })

	env := testenv.Start(t)
	c := metricsauthtest.Setup(t, env.Config)
	c.Check(t, "https://"+start(t, c.Server, metricsauth.Options{Secure: true})+"/metrics", "routelb_ctrlmetrics_test_up 1",
		func() error { return nil })

	plain := "http://" + start(t, c.Server, metricsauth.Options{}) + "/metrics"
	wait.Eventually(t, time.Minute, func() error {
		a, err := metricsauthtest.Scrape(t, plain, "", nil)
		if err == nil && (a.Status != http.StatusOK || a.Cert != nil) {
			return wait.Stop(fmt.Errorf("plain: %d, TLS %v", a.Status, a.Cert != nil))
		}
		return err
	})
}

// TestServerOptions: the options controller-runtime gets for each flag combination.
func TestServerOptions(t *testing.T) {
	for _, c := range []struct {
		addr   string
		o      metricsauth.Options
		secure bool
	}{
		{":7472", metricsauth.Options{}, false},
		{":7472", metricsauth.Options{Secure: true}, true},
		{"0", metricsauth.Options{Secure: true}, false}, // disabled: no certificate is made
	} {
		so, err := ctrlmetrics.ServerOptions(c.addr, c.o, testr.New(t))
		if err != nil {
			t.Fatal(err)
		}
		if so.BindAddress != c.addr || so.SecureServing != c.secure || (so.FilterProvider != nil) != c.secure || (len(so.TLSOpts) > 0) != c.secure {
			t.Errorf("%s %+v: %+v", c.addr, c.o, so)
		}
	}
	if _, err := ctrlmetrics.ServerOptions(":7472", metricsauth.Options{Secure: true, CertDir: t.TempDir()}, testr.New(t)); err == nil ||
		!strings.Contains(err.Error(), "--metrics-cert-dir") {
		t.Errorf("empty cert dir: %v", err)
	}
}
