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

// TestSecureMetrics runs the speaker with --metrics-secure as the chart does: its /metrics is HTTPS
// and only a ServiceAccount with get on /metrics reads it (401 without a token, 403 without the
// permission).
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
		// Layer 2 mode would answer ARP on this machine's interfaces: not in a metrics test.
		done <- run(ctx, []string{"--layer2=false", "--node-name", "node7", "--kubeconfig", env.Kubeconfig(t),
			"--config-dir", t.TempDir(), "--metrics-bind-address", metricsAddr, "--metrics-secure",
			"--health-probe-bind-address", "0"}, io.Discard, t.Output())
	}()
	c.Check(t, "https://"+metricsAddr+"/metrics", "controller_runtime_", func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("speaker exited: %w", err)
		default:
			return nil
		}
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("speaker: %v", err)
	}
}

// TestMetricsFlags: --metrics-secure and --metrics-cert-dir reach the options, and a certificate
// folder without secure mode is refused rather than ignored.
func TestMetricsFlags(t *testing.T) {
	o, err := parseFlags([]string{"--metrics-secure", "--metrics-cert-dir", "/certs"}, io.Discard)
	if err != nil || !o.Metrics.Secure || o.Metrics.CertDir != "/certs" {
		t.Errorf("options %+v, %v", o.Metrics, err)
	}
	if o, err := parseFlags(nil, io.Discard); err != nil || o.Metrics.Secure {
		t.Errorf("default: %+v, %v; want plain HTTP as before", o.Metrics, err)
	}
	if _, err := parseFlags([]string{"--metrics-cert-dir", "/certs"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--metrics-secure") {
		t.Errorf("cert dir alone: %v", err)
	}
}
