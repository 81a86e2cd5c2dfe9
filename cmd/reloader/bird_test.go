package main

import (
	"os"
	"testing"
)

// TestBinaryBIRD runs the reloader binary with --routing-daemon bird against a node BIRD peering
// with a router FRR: the rendered bird.conf is applied, the status, running config and sessions
// files appear beside it, the TCP-MD5 session comes up, and /metrics shows the apply and the session.
func TestBinaryBIRD(t *testing.T) {
	b := newBinaryLab(t, " neighbor 198.51.100.11 password s3cret\n")
	node := b.StartBIRD(b.node, "node", "")
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
	b.start(t, "bird.conf", cfg, "--routing-daemon", "bird", "--bird-config", node.ConfPath, "--bird-socket", node.Socket,
		"--bird", "bird", "--birdc", "birdc")
	b.waitApplied(t)
	if got, _ := os.ReadFile(node.ConfPath); string(got) != cfg {
		t.Errorf("BIRD's config file is not the applied config:\n%s", got)
	}
	b.waitFile(t, "sessions.json", `"neighbor": "198.51.100.1"`, `"state": "Established"`)
	b.waitMetrics(t,
		`routelb_reloader_applies_total{outcome="applied"} 1`,
		`routelb_bird_bgp_session_up{peer="198.51.100.1",protocol="rlb_router",state="Established"} 1`,
		`routelb_bird_bgp_prefixes_sent{channel="ipv4",peer="198.51.100.1",protocol="rlb_router"} 1`)
}
