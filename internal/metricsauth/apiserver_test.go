package metricsauth_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"

	"github.com/routelb/routelb/internal/metricsauth"
	"github.com/routelb/routelb/internal/metricsauth/metricsauthtest"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// metricsMux is a /metrics of one series, as the binaries serve their registry.
func metricsMux(t *testing.T) http.Handler {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "routelb_test_up", Help: "A series to find in the body."})
	g.Set(1)
	reg.MustRegister(g)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/other", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("other")) })
	return mux
}

// serve runs a metricsauth.Server in secure mode on a free loopback port as the given API identity,
// until the test ends, and returns its https:// base URL.
func serve(t *testing.T, cfg *rest.Config, o metricsauth.Options) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsauth.NewServer(metricsMux(t), o, cfg, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "https://" + l.Addr().String()
}

// TestSecureServeOnAPIServer: the real handler over TLS, tokens from TokenRequest, decisions by
// the API server's RBAC: 401 without a token or with a bad one, 403 for a ServiceAccount without
// get on /metrics (and for the reader on a path it was not granted), 200 with the series for the
// reader, and 500 when the server itself may not create the reviews.
func TestSecureServeOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: needs kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	c := metricsauthtest.Setup(t, env.Config)
	base := serve(t, c.Server, metricsauth.Options{Secure: true})

	for _, tc := range []struct {
		name, path, token string
		status            int
		body              string
	}{
		{"no token", "/metrics", "", http.StatusUnauthorized, "Unauthorized"},
		{"invalid token", "/metrics", "not-a-token", http.StatusUnauthorized, "Unauthorized"},
		{"tampered token", "/metrics", c.Reader + "x", http.StatusUnauthorized, "Unauthorized"},
		{"no permission", "/metrics", c.Outsider, http.StatusForbidden, "system:serviceaccount:metricsauth:outsider"},
		{"reader on another path", "/other", c.Reader, http.StatusForbidden, "may not get /other"},
		{"reader", "/metrics", c.Reader, http.StatusOK, "routelb_test_up 1"},
		{"reader again (cached)", "/metrics", c.Reader, http.StatusOK, "routelb_test_up 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := metricsauthtest.Scrape(t, base+tc.path, tc.token, nil)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != tc.status || !strings.Contains(a.Body, tc.body) {
				t.Errorf("GET %s: %d %q, want %d with %q", tc.path, a.Status, a.Body, tc.status, tc.body)
			}
			if a.Cert == nil {
				t.Error("no TLS certificate: not served over HTTPS")
			}
			if tc.status == http.StatusUnauthorized && a.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("plain HTTP refused", func(t *testing.T) {
		a, err := metricsauthtest.Scrape(t, "http"+strings.TrimPrefix(base, "https")+"/metrics", c.Reader, nil)
		if err == nil && a.Status == http.StatusOK {
			t.Errorf("plain HTTP got %d %q", a.Status, a.Body)
		}
	})

	t.Run("server without review permissions", func(t *testing.T) {
		cfg := rest.CopyConfig(c.Server)
		cfg.BearerToken = c.Outsider
		a, err := metricsauthtest.Scrape(t, serve(t, cfg, metricsauth.Options{Secure: true})+"/metrics", c.Reader, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != http.StatusInternalServerError {
			t.Errorf("got %d %q, want 500: the reviews are forbidden to the server", a.Status, a.Body)
		}
	})
}

// TestPlainServe: without --metrics-secure the endpoint stays what it was, plain HTTP to anyone,
// and needs no API server.
func TestPlainServe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsauth.NewServer(metricsMux(t), metricsauth.Options{}, nil, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	a, err := metricsauthtest.Scrape(t, "http://"+l.Addr().String()+"/metrics", "", nil)
	if err != nil || a.Status != http.StatusOK || !strings.Contains(a.Body, "routelb_test_up 1") || a.Cert != nil {
		t.Errorf("plain scrape: %+v, %v", a, err)
	}
}
