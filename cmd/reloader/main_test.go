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
	b := newBinaryLab(t, "")
	node := b.StartFRR(b.node, "node", "")
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
	// The password is in a VRF the node does not have: redacted all the same.
	cfg += "router bgp 64513 vrf red\n neighbor 198.51.100.9 remote-as 1\n neighbor 198.51.100.9 password s3cret\nexit\n"
	b.start(t, "frr.conf", cfg, "--pathspace", node.Pathspace, "--frr-config-dir", node.ConfigDir)
	b.waitApplied(t)
	b.waitMetrics(t,
		`routelb_reloader_applies_total{outcome="applied"} 1`,
		`routelb_frr_bgp_session_up{afi="ipv4Unicast",peer="198.51.100.1",state="Established",vrf="default"} 1`,
		`routelb_frr_bgp_prefixes_sent{afi="ipv4Unicast",peer="198.51.100.1",vrf="default"} 1`,
		`routelb_reloader_apply_duration_seconds_count{outcome="applied"} 1`)
}

// TestBinaryInFRR10Root runs the static reloader binary inside FRR 10's root with chroot, as the
// chart runs it inside the FRR image: with that root's vtysh and frr-reload.py (the defaults of its
// flags) it applies a config with a BFD profile and a password and reports FRR's release.
func TestBinaryInFRR10Root(t *testing.T) {
	b := newBinaryLab(t, " neighbor 198.51.100.11 password s3cret\n neighbor 198.51.100.11 bfd\n")
	v := netlab.FRR10(t)
	node := b.StartFRRVersion(v, b.node, "node", "")
	b.inRoot(t, v, node)
	cfg := `frr defaults traditional
ip nht resolve-via-default
ipv6 nht resolve-via-default
router bgp 64513
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 198.51.100.1 remote-as 64512
 neighbor 198.51.100.1 timers 1 3
 neighbor 198.51.100.1 password s3cret
 neighbor 198.51.100.1 bfd
 neighbor 198.51.100.1 bfd profile fast
 address-family ipv4 unicast
  network 203.0.113.5/32
 exit-address-family
exit
bfd
 profile fast
  receive-interval 300
 exit
exit
`
	b.start(t, "frr.conf", cfg, "--pathspace", node.Pathspace, "--frr-config-dir", node.ConfigDir)
	b.waitApplied(t)
	b.waitFile(t, "reloader-status.json", `"frrVersion": "`+v.Name+`"`)
	b.waitMetrics(t,
		`routelb_reloader_applies_total{outcome="applied"} 1`,
		`routelb_frr_bgp_session_up{afi="ipv4Unicast",peer="198.51.100.1",state="Established",vrf="default"} 1`,
		`routelb_reloader_target_diverged 0`)
	if m, _ := scrape(b.addr); strings.Contains(m, `outcome="full-reload"`) {
		t.Errorf("the reloader fell back to frr-reload.py on FRR %s:\n%s", v.Name, m)
	}
}

// binaryLab is a router FRR of AS 64512 peering with the node host (AS 64513, 1 s keepalives), and
// the reloader binary to run for the node, its scratch directory and metrics address.
type binaryLab struct {
	*netlab.Lab
	node *netlab.Host
	bin  string
	dir  string // holds the config the reloader watches, and what it writes beside it
	addr string
	root string // the binary runs chrooted into this FRR root ("" = on the host)
}

// inRoot makes the reloader run inside v's root beside node, as in the FRR image: the binary and
// its directory move into the node's private directory there.
func (b *binaryLab) inRoot(t *testing.T, v *netlab.FRRVersion, node *netlab.FRR) {
	t.Helper()
	b.root, b.dir = v.Root, node.ScratchDir()
	bin := filepath.Join(b.dir, "reloader")
	data, err := os.ReadFile(b.bin)
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	b.bin = bin
}

// newBinaryLab starts the router with routerExtra added to its neighbour's lines.
func newBinaryLab(t *testing.T, routerExtra string) *binaryLab {
	t.Helper()
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24")
	rh := lab.AddHost("router", "198.51.100.1/24")
	b := &binaryLab{Lab: lab, node: lab.AddHost("node", "198.51.100.11/24"),
		bin: filepath.Join(t.TempDir(), "reloader"), dir: t.TempDir(), addr: freeAddr(t)}
	lab.StartFRR(rh, "router", `router bgp 64512
 no bgp ebgp-requires-policy
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 timers 1 3
`+routerExtra)
	build := exec.Command("go", "build", "-o", b.bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as in the image: it also runs inside FRR roots
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return b
}

// start writes cfg to file and runs the reloader on it with args, until the test ends.
func (b *binaryLab) start(t *testing.T, file, cfg string, args ...string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(b.dir, file), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--config", filepath.Join(b.dir, file)}, args...)
	args = append([]string{b.bin}, append(args, "--metrics-bind-address", b.addr, "--debounce", "100ms")...)
	if b.root != "" {
		// Its scratch directory too stays in the instance's own directory, which the lab removes
		// (the test ends the binary with SIGKILL, before it removes its own).
		args = append(args, "--scratch-dir", b.dir)
		for i, a := range args {
			args[i] = strings.TrimPrefix(a, b.root) // paths as the chrooted process sees them
		}
		args = append([]string{"chroot", b.root}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

// waitApplied waits for the status file to say the config was applied, then checks that the
// running config beside it has its passwords redacted.
func (b *binaryLab) waitApplied(t *testing.T) {
	t.Helper()
	b.waitFile(t, "reloader-status.json", `"result": "applied"`)
	running, err := os.ReadFile(filepath.Join(b.dir, "running.conf"))
	if err != nil || strings.Contains(string(running), "s3cret") || !strings.Contains(string(running), "password <redacted>") {
		t.Errorf("running.conf must exist with passwords redacted: %v\n%s", err, running)
	}
}

// waitFile waits until the reloader's file name holds every one of want.
func (b *binaryLab) waitFile(t *testing.T, name string, want ...string) {
	t.Helper()
	b.Eventually(30*time.Second, func() error {
		got, err := os.ReadFile(filepath.Join(b.dir, name))
		return lacking(name, string(got), err, want)
	})
}

// waitMetrics waits until /metrics holds every one of want.
func (b *binaryLab) waitMetrics(t *testing.T, want ...string) {
	t.Helper()
	b.Eventually(30*time.Second, func() error {
		m, err := scrape(b.addr)
		return lacking("metrics", m, err, want)
	})
}

func lacking(what, got string, err error, want []string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, w := range want {
		if !strings.Contains(got, w) {
			return fmt.Errorf("%s lack %s:\n%s", what, w, got)
		}
	}
	return nil
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
