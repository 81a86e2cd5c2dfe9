package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/netlab"
)

// TestBinaryBIRD runs the reloader binary with --routing-daemon bird against a node BIRD peering
// with a router FRR: the rendered bird.conf is applied, the status, running config and sessions
// files appear beside it, the TCP-MD5 session comes up, and /metrics shows the apply and the session.
func TestBinaryBIRD(t *testing.T) {
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24")
	rh := lab.AddHost("router", "198.51.100.1/24")
	nh := lab.AddHost("node", "198.51.100.11/24")
	lab.StartFRR(rh, "router", `router bgp 64512
 no bgp ebgp-requires-policy
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 timers 1 3
 neighbor 198.51.100.11 password s3cret
`)
	node := lab.StartBIRD(nh, "node", "")
	bin := filepath.Join(t.TempDir(), "reloader")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cfg := `log stderr all;
protocol device 'routelb_device' {
}
protocol static 'routelb_vips_v4' {
  ipv4 { import all; export none; };
  route 203.0.113.5/32 blackhole;
}
protocol bgp 'rlb_router' {
  local as 64513;
  neighbor 198.51.100.1 as 64512;
  password "s3cret";
  hold time 3;
  keepalive time 1;
  ipv4 { import none; export all; next hop self; };
}
`
	if err := os.WriteFile(filepath.Join(dir, "bird.conf"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--routing-daemon", "bird", "--config", filepath.Join(dir, "bird.conf"),
		"--bird-config", node.ConfPath, "--bird-socket", node.Socket, "--bird", "bird", "--birdc", "birdc",
		"--metrics-addr", addr, "--debounce", "100ms")
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
	if b, _ := os.ReadFile(node.ConfPath); string(b) != cfg {
		t.Errorf("BIRD's config file is not the applied config:\n%s", b)
	}
	lab.Eventually(30*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dir, "sessions.json"))
		if err != nil || !strings.Contains(string(b), `"neighbor": "198.51.100.1"`) || !strings.Contains(string(b), `"state": "Established"`) {
			return fmt.Errorf("sessions.json: %w %s", err, b)
		}
		return nil
	})
	lab.Eventually(30*time.Second, func() error {
		m, err := scrape(addr)
		for _, want := range []string{
			`routelb_reloader_applies_total{outcome="applied"} 1`,
			`routelb_bird_bgp_session_up{peer="198.51.100.1",protocol="rlb_router",state="Established"} 1`,
			`routelb_bird_bgp_prefixes_sent{channel="ipv4",peer="198.51.100.1",protocol="rlb_router"} 1`,
		} {
			if err == nil && !strings.Contains(m, want) {
				err = fmt.Errorf("metrics lack %s", want)
			}
		}
		return err
	})
}
