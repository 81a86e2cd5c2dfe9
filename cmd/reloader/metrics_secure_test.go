package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/routelb/routelb/internal/metricsauth/metricsauthtest"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// TestSecureMetrics runs the reloader with --metrics-secure and the kubeconfig of a ServiceAccount
// allowed to create the reviews: /metrics is HTTPS and answers 401 without a token, 403 to a
// ServiceAccount without get on /metrics, its series to one with it; /healthz stays plain HTTP for
// the liveness probe. FRR is absent (--vtysh /nonexistent): the reloader waits for it and its
// metrics say so, which is all this test needs.
func TestSecureMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: needs kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	c := metricsauthtest.Setup(t, env.Config)
	kubeconfig := testenv.WriteKubeconfig(t, c.Server, "")
	dir := t.TempDir()
	metricsAddr, healthAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--config", dir + "/frr.conf", "--scratch-dir", dir, "--vtysh", "/nonexistent",
			"--metrics-bind-address", metricsAddr, "--metrics-secure", "--kubeconfig", kubeconfig,
			"--health-probe-bind-address", healthAddr}, io.Discard, t.Output())
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reloader: %v", err)
		}
	}()
	c.Check(t, "https://"+metricsAddr+"/metrics", "routelb_reloader_", func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("reloader exited: %w", err)
		default:
			return nil
		}
	})
	a, err := metricsauthtest.Scrape(t, "http://"+healthAddr+"/healthz", "", nil)
	if err != nil || a.Status != http.StatusOK || a.Body != "ok" {
		t.Errorf("/healthz: %+v, %v", a, err)
	}
}

// TestSecureMetricsNeedsAPIServer: secure mode outside a cluster and without a kubeconfig stops the
// reloader at start, saying why, instead of serving no metrics.
func TestSecureMetricsNeedsAPIServer(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	dir := t.TempDir()
	err := run(t.Context(), []string{"--config", dir + "/frr.conf", "--scratch-dir", dir, "--vtysh", "/nonexistent",
		"--metrics-bind-address", freeAddr(t), "--metrics-secure"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--metrics-secure needs the API server") {
		t.Errorf("got %v", err)
	}
}
