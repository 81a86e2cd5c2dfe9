package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
)

// TestReadyzFollowsTheReloader: the speaker as the chart runs it answers /readyz with 500 while
// the reloader's status file in --config-dir says FRR refused the config, and 200 once it
// says the config is applied.
func TestReadyzFollowsTheReloader(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	kubeconfig := env.Kubeconfig(t)
	dir := t.TempDir()
	writeStatus(t, dir, daemonfile.Status{Result: daemonfile.OutcomeInvalid, Error: "FRR refused the config: line 2: router bgp 0"})
	health := freeAddr(t)
	t.Setenv("NODE_NAME", "node8")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--layer2=false", "--kubeconfig", kubeconfig, "--config-dir", dir,
			"--metrics-bind-address", "0", "--health-probe-bind-address", health}, io.Discard, t.Output())
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("speaker: %v", err)
		}
	})
	url := "http://" + health + "/readyz?verbose=1"
	waitReadyz(t, url, http.StatusInternalServerError, "routing-config")
	writeStatus(t, dir, daemonfile.Status{Result: daemonfile.OutcomeApplied})
	waitReadyz(t, url, http.StatusOK, "routing-config")
}

func writeStatus(t *testing.T, dir string, st daemonfile.Status) {
	t.Helper()
	if err := daemonfile.WriteJSON(dir, daemonfile.StatusFile, st); err != nil {
		t.Fatal(err)
	}
}

// waitReadyz polls url until it answers code with a body naming check; the bound is generous, the
// test asserts behaviour, not speed.
func waitReadyz(t *testing.T, url string, code int, check string) {
	t.Helper()
	wait.Eventually(t, 60*time.Second, func() error {
		resp, err := http.Get(url) //nolint:gosec,noctx // a test's own local endpoint
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == code && strings.Contains(string(b), check) {
			return nil
		}
		return fmt.Errorf("/readyz: want %d naming %s, got %d %s", code, check, resp.StatusCode, b)
	})
}
