package l2responder

import (
	"os"
	"testing"
	"time"
)

// TestNetnsLinkWatch: with the periodic resync an hour away, an interface added after the VIP was
// claimed for it is answered on within seconds, because WatchLinks hears the kernel's link event.
func TestNetnsLinkWatch(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test creates network namespaces and needs root (run as root, or use -short)")
	}
	requireCommand(t, "ip", "iproute2")
	checkRootNamespace(t)
	t.Setenv(resyncEnv, "1h")
	t.Setenv(watchEnv, "1")
	lab := newLab(t)
	n := lab.startNode(t, "node1", "198.51.100.11", "2001:db8:100::11")
	ns := "rlbl2-n1-" + lab.suffix
	n.cmd(t, "ownon "+vipV4+" new0")
	if got := n.cmd(t, "announcing "+vipV4); got != "" {
		t.Fatalf("answering on %q before new0 exists", got)
	}
	run(t, "ip", "-n", ns, "link", "add", "new0", "type", "veth", "peer", "name", "new0p")
	run(t, "ip", "-n", ns, "link", "set", "new0", "up")
	deadline := time.Now().Add(10 * time.Second) // generous; the timer is an hour away
	for n.cmd(t, "announcing "+vipV4) != "new0" {
		if time.Now().After(deadline) {
			t.Fatal("new0 not answered on 10s after it came up: the link event was not followed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
