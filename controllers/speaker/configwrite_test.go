package speaker

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// mountNSEnv marks the copy of the test binary that runs inside its own mount namespace.
const mountNSEnv = "ROUTELB_TEST_PRIVATE_MOUNTNS"

// inPrivateMountNS runs the calling test again in a copy of the test binary started by
// `unshare --mount --propagation private`, so that what it mounts is seen by no other process and
// goes with it; it returns true in that copy, false (after the copy's verdict) in the caller.
func inPrivateMountNS(t *testing.T) bool {
	t.Helper()
	if os.Getenv(mountNSEnv) == "1" {
		return true
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare not found (%v): apt-get install util-linux", err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", os.Args[0],
		"-test.run", "^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), mountNSEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a private mount namespace: %v\n%s", t.Name(), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in the private mount namespace:\n%s", t.Name(), out)
	}
	return false
}

// TestConfigWriteFailureFailsReadyz: while the speaker cannot write its config file (the
// directory full, then read-only), /readyz fails naming the cause and the file keeps the last
// config; when space or write access comes back the file follows within the short capped retry,
// without any other change in the cluster. The directory is a 256 KiB tmpfs mounted in a private
// mount namespace, never one of the root's filesystems.
func TestConfigWriteFailureFailsReadyz(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	if !inPrivateMountNS(t) {
		return
	}
	dir := filepath.Join(t.TempDir(), "frr-rendered")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const opts = "size=256k,mode=0755"
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	e := startSpeakerIn(t, nodeconfig.DaemonFRR, dir)
	ns := testenv.Namespace
	e.create(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24"}}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: ns}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router", Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1"}},
	)
	e.eventually("first frr.conf", func() error { return e.wantLine(" neighbor 198.51.100.1 remote-as 64512") })
	e.eventually("ready", func() error { return e.r.ConfigFileCheck(nil) })

	filler := fillDir(t, dir)
	e.announce("full", "203.0.113.5")
	e.eventually("not ready while the directory is full", func() error { return e.wantNotReady("no space left") })
	if hasLine(e.conf(), "  network 203.0.113.5/32") {
		t.Fatal("frr.conf changed although the directory is full")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e.eventually("frr.conf once space is back", func() error { return e.wantLine("  network 203.0.113.5/32") })
	e.eventually("ready once space is back", func() error { return e.r.ConfigFileCheck(nil) })

	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, opts); err != nil {
		t.Fatalf("remounting read-only: %v", err)
	}
	e.announce("readonly", "203.0.113.6")
	e.eventually("not ready while the directory is read-only", func() error { return e.wantNotReady("read-only file system") })
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT, opts); err != nil {
		t.Fatalf("remounting read-write: %v", err)
	}
	e.eventually("frr.conf once writable", func() error { return e.wantLine("  network 203.0.113.6/32") })
	e.eventually("ready once writable", func() error { return e.r.ConfigFileCheck(nil) })
}

// TestConfigWriteRetryIsCapped: however long the file cannot be written, the next attempt is at
// most writeRetryMax away, and one success resets the backoff.
func TestConfigWriteRetryIsCapped(t *testing.T) {
	var h writeHealth
	fail := errors.New("no space left on device")
	for i := range 100 {
		wait, first := h.record(fail)
		if wait <= 0 || wait > writeRetryMax || first != (i == 0) {
			t.Fatalf("failure %d: retry in %v (first %v), want 0 < retry <= %v", i+1, wait, first, writeRetryMax)
		}
	}
	if err := h.Check(nil); err == nil || !strings.Contains(err.Error(), "100 attempts") {
		t.Fatalf("Check after 100 failures: %v", err)
	}
	if wait, _ := h.record(nil); wait != 0 || h.Check(nil) != nil {
		t.Fatalf("after a success: retry %v, check %v", wait, h.Check(nil))
	}
	if wait, first := h.record(fail); wait != writeRetryStart || !first {
		t.Fatalf("first failure after a success: retry %v (first %v), want %v", wait, first, writeRetryStart)
	}
}

// fillDir fills dir's filesystem with one file, returning its path.
func fillDir(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatal(err)
		}
	}
}

// announce creates a Service served elsewhere with ip as its VIP: a change to the node's file.
func (e *speakerEnv) announce(name, ip string) {
	e.t.Helper()
	svc := lbSvc(name, corev1.ServiceExternalTrafficPolicyCluster)
	e.create(svc)
	e.setVIP(svc, ip)
	e.create(servingSlice(name, "node2"))
}

func (e *speakerEnv) wantLine(l string) error {
	if c := e.conf(); !hasLine(c, l) {
		return fmt.Errorf("no %q in:\n%s", l, c)
	}
	return nil
}

func (e *speakerEnv) wantNotReady(cause string) error {
	err := e.r.ConfigFileCheck(nil)
	if err == nil || !strings.Contains(err.Error(), cause) || !strings.Contains(err.Error(), "frr.conf") {
		return fmt.Errorf("readyz check returned %q, want a failure naming frr.conf and %q", fmt.Sprint(err), cause)
	}
	return nil
}
