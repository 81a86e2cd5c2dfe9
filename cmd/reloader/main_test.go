package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/netlab"
)

// TestBinary runs the reloader binary against a node FRR peering with a
// router FRR: the config is applied, the status file and redacted running
// config appear beside it, and /metrics shows apply results and the BGP
// session.
func TestBinary(t *testing.T) {
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24")
	rh := lab.AddHost("router", "198.51.100.1/24")
	nh := lab.AddHost("node", "198.51.100.11/24")
	lab.StartFRR(rh, "router", `router bgp 64512
 no bgp ebgp-requires-policy
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 timers 1 3
`)
	node := lab.StartFRR(nh, "node", "")
	bin := filepath.Join(t.TempDir(), "reloader")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cfg := `frr defaults traditional
router bgp 64513
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.51.100.1 remote-as 64512
 neighbor 198.51.100.1 timers 1 3
 address-family ipv4 unicast
  network 203.0.113.5/32
 exit-address-family
`
	cfg += "router bgp 64513 vrf red\n neighbor 198.51.100.9 remote-as 1\n neighbor 198.51.100.9 password s3cret\nexit\n"
	if err := os.WriteFile(filepath.Join(dir, "frr.conf"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "frr.conf"), "--pathspace", node.Pathspace,
		"--frr-config-dir", node.ConfigDir, "--metrics-addr", addr, "--debounce", "100ms")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lab.Eventually(30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dir, "reloader-status.json"))
		if err != nil || !strings.Contains(string(b), `"result": "applied"`) {
			return fmt.Errorf("status: %w %s", err, b)
		}
		return nil
	})
	running, err := os.ReadFile(filepath.Join(dir, "running.conf"))
	if err != nil || strings.Contains(string(running), "s3cret") || !strings.Contains(string(running), "password <redacted>") {
		t.Errorf("running.conf must exist with passwords redacted: %v\n%s", err, running)
	}
	lab.Eventually(30*time.Second, func() error {
		m, err := scrape(addr)
		for _, want := range []string{
			`routelb_reloader_applies_total{outcome="applied"} 1`,
			`routelb_frr_bgp_session_up{afi="ipv4Unicast",peer="198.51.100.1",state="Established",vrf="default"} 1`,
			`routelb_frr_bgp_prefixes_sent{afi="ipv4Unicast",peer="198.51.100.1",vrf="default"} 1`,
			`routelb_reloader_apply_duration_seconds_count{outcome="applied"} 1`,
		} {
			if err == nil && !strings.Contains(m, want) {
				err = fmt.Errorf("metrics lack %s", want)
			}
		}
		return err
	})
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func scrape(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
