package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/routelb/routelb/internal/metricsauth/metricsauthtest"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// TestSecureMetrics runs the controller with --metrics-secure as the chart does: its /metrics is
// HTTPS and only a ServiceAccount with get on /metrics reads it (401 without a token, 403 without
// the permission).
func TestSecureMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	c := metricsauthtest.Setup(t, env.Config)
	metricsAddr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--kubeconfig", env.Kubeconfig(t), "--disable-webhook", "--leader-elect=false",
			"--metrics-bind-address", metricsAddr, "--metrics-secure", "--health-probe-bind-address", "0"}, io.Discard, t.Output())
	}()
	c.Check(t, "https://"+metricsAddr+"/metrics", "controller_runtime_", func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("controller exited: %w", err)
		default:
			return nil
		}
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("controller: %v", err)
	}
}

// TestMetricsFlags: --metrics-secure and --metrics-cert-dir reach the manager's options, and a
// certificate folder without secure mode is refused rather than ignored.
func TestMetricsFlags(t *testing.T) {
	o, err := parseFlags([]string{"--metrics-secure", "--metrics-cert-dir", "/certs"}, io.Discard)
	if err != nil || !o.MetricsAuth.Secure || o.MetricsAuth.CertDir != "/certs" {
		t.Errorf("options %+v, %v", o.MetricsAuth, err)
	}
	if o, err := parseFlags(nil, io.Discard); err != nil || o.MetricsAuth.Secure {
		t.Errorf("default: %+v, %v; want plain HTTP as before", o.MetricsAuth, err)
	}
	if _, err := parseFlags([]string{"--metrics-cert-dir", "/certs"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--metrics-secure") {
		t.Errorf("cert dir alone: %v", err)
	}
}
