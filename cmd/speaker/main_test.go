package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
)

// TestSpeakerMain runs the speaker as a binary would (flags, --kubeconfig, $NODE_NAME) against a real
// API server and waits for its frr.conf.
// Several tests run the speaker's run in this one process.
func init() { skipNameValidation = true }

func TestSpeakerMain(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	kubeconfig := env.Kubeconfig(t)
	ctx := t.Context()
	ns := testenv.Namespace
	c := env.Client
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node7"}}))
	must(c.Create(ctx, &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24"}}}))
	must(c.Create(ctx, &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor", Namespace: ns},
		Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1"}}))

	metricsAddr := freeAddr(t)
	dir := filepath.Join(t.TempDir(), "frr")
	t.Setenv("NODE_NAME", "node7")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		// Layer 2 mode would answer ARP on this machine's interfaces: not in a BGP test.
		done <- run(runCtx, []string{"--layer2=false", "--kubeconfig", kubeconfig, "--config-dir", dir,
			"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", "0"}, io.Discard, t.Output())
	}()
	wait.Eventually(t, 60*time.Second, func() error {
		b, _ := os.ReadFile(filepath.Join(dir, "frr.conf"))
		if strings.Contains(string(b), "hostname node7\n") && strings.Contains(string(b), " neighbor 198.51.100.1 remote-as 64512\n") {
			return nil
		}
		select {
		case err := <-done:
			return wait.Stop(fmt.Errorf("speaker stopped: %w", err))
		default:
		}
		return fmt.Errorf("no frr.conf for node7 with the peer; have:\n%s", b)
	})
	checkMetalLBBGPMetrics(t, c, metricsAddr)
	// The converse of cmd/controller's TestBinary: the allocator's series belong to the controller.
	for _, l := range strings.Split(scrape(metricsAddr), "\n") {
		if strings.HasPrefix(l, "routelb_allocator_") || strings.HasPrefix(l, "# HELP routelb_allocator_") {
			t.Errorf("the speaker's /metrics has a controller series: %s", l)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("speaker: %v", err)
	}
}

func TestSpeakerMainNeedsNodeName(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	err := run(t.Context(), []string{"--metrics-bind-address", "0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--node-name") {
		t.Fatalf("got %v", err)
	}
}

// TestExcludeInterfaces reads MetalLB's excludel2.yaml as its ConfigMap mounts it, plus the flag.
func TestExcludeInterfaces(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "excludel2.yaml")
	if err := os.WriteFile(conf, []byte("announcedInterfacesToExclude: [\"^docker.*\", \"^lo$\", \"^veth.*\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, flag string
		match, keep      []string
		wantErr          bool
	}{
		{name: "MetalLB's file", file: conf, match: []string{"docker0", "lo", "veth12"}, keep: []string{"eth0", "lo0", "br-veth"}},
		{name: "file and flag", file: conf, flag: "^bond1$, ^wg", match: []string{"docker0", "bond1", "wg0"}, keep: []string{"bond10", "eth0"}},
		{name: "no file, no flag: nothing excluded", file: filepath.Join(dir, "missing.yaml")},
		{name: "bad expression", file: conf, flag: "(", wantErr: true},
	} {
		re, err := excludeInterfaces(&l2Options{ExcludeConfig: c.file, Exclude: c.flag})
		if (err != nil) != c.wantErr {
			t.Fatalf("%s: error %v", c.name, err)
		}
		if c.wantErr {
			continue
		}
		if re == nil != (len(c.match) == 0) {
			t.Fatalf("%s: expression %v", c.name, re)
		}
		for _, n := range c.match {
			if !re.MatchString(n) {
				t.Errorf("%s: %s not excluded", c.name, n)
			}
		}
		for _, n := range c.keep {
			if re.MatchString(n) {
				t.Errorf("%s: %s excluded", c.name, n)
			}
		}
	}
}

// TestFlags reads the speaker's flags into one options value: --frr-config-dir still sets the
// output directory, and is reported as deprecated.
func TestFlags(t *testing.T) {
	for _, c := range []struct {
		name       string
		args       []string
		dir        string
		deprecated [][2]string
		wantErr    string
	}{
		{name: "default", dir: "/etc/frr-rendered"},
		{name: "new name", args: []string{"--config-dir", "/run/a"}, dir: "/run/a"},
		{name: "old name", args: []string{"--frr-config-dir=/run/b"}, dir: "/run/b", deprecated: [][2]string{{"frr-config-dir", "config-dir"}}},
		{name: "unknown flag", args: []string{"--metrics-addr", ":1"}, wantErr: "metrics-addr"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
	} {
		o, err := parseFlags(c.args, io.Discard)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: error %v, want one naming %q", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if o.ConfigDir != c.dir || !slices.Equal(o.Deprecated, c.deprecated) {
			t.Errorf("%s: dir %q, deprecated %v; want %q, %v", c.name, o.ConfigDir, o.Deprecated, c.dir, c.deprecated)
		}
	}
	var help strings.Builder
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-config-dir") {
		t.Errorf("-h: %v, printed %q", err, help.String())
	}
}

// TestDeprecatedFlagIsLogged runs the speaker with the old flag name until it fails for want of a
// node name: the deprecation line is logged first.
func TestDeprecatedFlagIsLogged(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	var logs strings.Builder
	err := run(t.Context(), []string{"--frr-config-dir", t.TempDir()}, io.Discard, &logs)
	if err == nil || !strings.Contains(logs.String(), "Flag is deprecated") || !strings.Contains(logs.String(), "--frr-config-dir") {
		t.Fatalf("error %v, logs:\n%s", err, logs.String())
	}
}
