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

// TestNetnsDefaultInterfacesFollowLinks runs the responder as the speaker runs by default (no node
// addresses, an exclude list): a VIP without an interface list is answered on every link that is
// up, not enslaved, not NOARP and not excluded, as MetalLB answers, and the set follows the kernel's
// link events (the periodic resync is an hour away) as links come up and go down.
func TestNetnsDefaultInterfacesFollowLinks(t *testing.T) {
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
	t.Setenv(allLinksEnv, "^skip")
	lab := newLab(t)
	n := lab.startNode(t, "node1", "198.51.100.11", "2001:db8:100::11")
	ns := "rlbl2-n1-" + lab.suffix
	if got := n.cmd(t, "own "+vipV4); got != "ok" {
		t.Fatalf("own: %s", got)
	}
	if got := n.cmd(t, "announcing "+vipV4); got != "eth0" {
		t.Fatalf("answering on %q, want eth0 (the only eligible link so far)", got)
	}
	for _, args := range [][]string{
		{"link", "add", "new0", "type", "veth", "peer", "name", "new0p"}, {"link", "set", "new0", "up"},
		{"link", "add", "skip0", "type", "veth", "peer", "name", "skip0p"}, {"link", "set", "skip0", "up"},
		{"link", "add", "noarp0", "type", "veth", "peer", "name", "noarp0p"}, {"link", "set", "noarp0", "arp", "off", "up"},
		{"link", "add", "br9", "type", "bridge"}, {"link", "add", "port0", "type", "veth", "peer", "name", "port0p"},
		{"link", "set", "port0", "master", "br9"}, {"link", "set", "port0", "up"}, {"link", "set", "br9", "up"},
	} {
		run(t, "ip", append([]string{"-n", ns}, args...)...)
	}
	waitAnnouncing(t, n, "br9,eth0,new0", "after new links came up (not skip0: excluded, noarp0: NOARP, port0: enslaved)")
	run(t, "ip", "-n", ns, "link", "set", "new0", "down")
	waitAnnouncing(t, n, "br9,eth0", "after new0 went down")
}

// waitAnnouncing waits until the node answers for vipV4 on exactly want (sorted, comma-separated).
func waitAnnouncing(t *testing.T, n *node, want, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // generous; the resync timer is an hour away
	for {
		got := n.cmd(t, "announcing "+vipV4)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: answering on %q 10s later, want %q: the link event was not followed", when, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
