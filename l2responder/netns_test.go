package l2responder

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/testing/wait"
)

// Lab ranges (CONTRIBUTING.md, "Testing"): LAN, VIPs, and IPv6 documentation space.
var labRanges = []netip.Prefix{
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

const (
	vipV4 = "203.0.113.10"
	vipV6 = "2001:db8:ffff::10"
)

// TestNetnsFailover runs two responders in two node namespaces on one bridged
// LAN with a client namespace, and checks from the client, with the kernel's
// and standard tools' view, that exactly the owner answers and that a
// take-over moves the client's neighbour entry.
func TestNetnsFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test creates network namespaces and needs root (run as root, or use -short)")
	}
	requireCommand(t, "ip", "iproute2")
	requireCommand(t, "arping", "arping")
	requireCommand(t, "ping", "iputils-ping")
	checkRootNamespace(t)

	lab := newLab(t)
	n1 := lab.startNode(t, "node1", "198.51.100.11", "2001:db8:100::11")
	n2 := lab.startNode(t, "node2", "198.51.100.12", "2001:db8:100::12")

	t.Run("ipv4", func(t *testing.T) {
		failover(t, lab, n1, n2, vipV4, "203.0.113.20", "203.0.113.30", lab.arping)
	})
	t.Run("ipv6", func(t *testing.T) {
		// Same low 24 bits as the VIP: the nodes join its solicited-node
		// group, so the non-owner really receives the solicitations.
		failover(t, lab, n1, n2, vipV6, "2001:db8:eeee::10", "2001:db8:dddd::10", lab.kernelResolve)
	})
}

// TestNetnsLinkEligibility reads a real namespace's links as the responder does:
// a bridge port and a NOARP link are left out, as MetalLB leaves them out.
func TestNetnsLinkEligibility(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test creates network namespaces and needs root (run as root, or use -short)")
	}
	requireCommand(t, "ip", "iproute2")
	checkRootNamespace(t)
	lab := newLab(t)
	n := lab.startNode(t, "node1", "198.51.100.11", "2001:db8:100::11")
	ns := "rlbl2-n1-" + lab.suffix
	for _, args := range [][]string{
		// veth pairs (the peers stay down, so only the named end can qualify).
		{"link", "add", "br9", "type", "bridge"}, {"link", "add", "port0", "type", "veth", "peer", "name", "port0p"},
		{"link", "set", "port0", "master", "br9"}, {"link", "set", "port0", "up"}, {"link", "set", "br9", "up"},
		{"link", "add", "noarp0", "type", "veth", "peer", "name", "noarp0p"}, {"link", "set", "noarp0", "arp", "off", "up"},
		{"link", "add", "plain0", "type", "veth", "peer", "name", "plain0p"}, {"link", "set", "plain0", "up"},
	} {
		run(t, "ip", append([]string{"-n", ns}, args...)...)
	}
	if got := n.cmd(t, "eligible"); got != "br9,eth0,plain0" {
		t.Fatalf("eligible interfaces %q, want br9,eth0,plain0 (not the bridge port, the NOARP link, the down peers or lo)", got)
	}
}

// failover: node1 owns vip and node2 owns other (so node2 is listening and
// must choose silence); the client sees only node1. Then vip moves to node2
// (node1 keeps listening through third) and the client's entry follows.
func failover(t *testing.T, lab *lab, n1, n2 *node, vip, other, third string, ask func(*testing.T, string) []string) {
	proto := protoARP
	if netip.MustParseAddr(vip).Is6() {
		proto = protoNDP
	}
	n2.cmd(t, "own "+other)
	n1.cmd(t, "own "+vip)
	ignoredBefore, sentBefore := n2.count(t, "ignored", proto, ReasonNotOwned), n2.count(t, "sent", proto)

	assertOnly(t, ask(t, vip), n1.mac, "before failover")
	// node2 listened on the same LAN and chose silence.
	if n2.count(t, "ignored", proto, ReasonNotOwned) <= ignoredBefore {
		t.Error("node2 never saw the request it had to ignore: the silence check proved nothing")
	}
	if n2.count(t, "sent", proto) != sentBefore {
		t.Error("node2 answered for a VIP it does not own")
	}
	lab.resolve(t, vip)
	lab.waitNeighbour(t, vip, n1.mac)

	n1.cmd(t, "own "+third) // keeps node1 listening after it lets vip go
	n1.cmd(t, "disown "+vip)
	n2.cmd(t, "own "+vip) // gratuitous ARP / unsolicited NA, no client traffic
	lab.waitNeighbour(t, vip, n2.mac)

	sentBefore = n1.count(t, "sent", proto)
	assertOnly(t, ask(t, vip), n2.mac, "after failover")
	if n1.count(t, "sent", proto) != sentBefore {
		t.Error("node1 still answers for a VIP it gave up")
	}

	n1.cmd(t, "disown "+third)
	n2.cmd(t, "disown "+vip)
	n2.cmd(t, "disown "+other)
}

func assertOnly(t *testing.T, macs []string, want, when string) {
	t.Helper()
	if len(macs) == 0 {
		t.Fatalf("%s: no reply at all (want %s)", when, want)
	}
	for _, m := range macs {
		if !strings.EqualFold(m, want) {
			t.Errorf("%s: reply from %s; only %s owns the VIP (all replies: %v)", when, m, want, macs)
		}
	}
}

// requireCommand installs a missing tool with apt-get, or fails saying what
// to install: the test never skips because a tool is missing.
func requireCommand(t *testing.T, cmd, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(cmd); err == nil {
		return
	}
	t.Logf("%s missing; installing Debian package %s", cmd, pkg)
	install := func() ([]byte, error) {
		c := exec.Command("apt-get", "install", "-y", "--no-install-recommends", pkg)
		c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return c.CombinedOutput()
	}
	out, err := install()
	if err != nil {
		_, _ = exec.Command("apt-get", "update").CombinedOutput()
		out, err = install()
	}
	if _, lerr := exec.LookPath(cmd); lerr != nil {
		t.Fatalf("%s is required; `apt-get install %s` failed (%v):\n%s", cmd, pkg, err, out)
	}
}

// checkRootNamespace fails if the host itself uses any lab range: traffic
// for it would then be ambiguous, and the lab must never shadow real routes.
func checkRootNamespace(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{{"-4", "addr"}, {"-4", "route"}, {"-6", "addr"}, {"-6", "route"}} {
		out := run(t, "ip", args...)
		for _, p := range prefixesIn(out) {
			for _, r := range labRanges {
				if p.Overlaps(r) {
					t.Fatalf("root namespace uses %s (from `ip %s`), which overlaps lab range %s; refusing to build the lab",
						p, strings.Join(args, " "), r)
				}
			}
		}
	}
}

// prefixesIn picks every address or prefix out of ip(8) output. "default"
// is not a prefix token, so a default route does not count as overlapping.
func prefixesIn(out string) []netip.Prefix {
	var ps []netip.Prefix
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil {
			ps = append(ps, p.Masked())
		} else if a, err := netip.ParseAddr(f); err == nil {
			ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return ps
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lab is a bridge namespace ("lan") and a client namespace.
type lab struct {
	suffix string
	lan    string
	client string
}

func newLab(t *testing.T) *lab {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	s := hex.EncodeToString(b)
	l := &lab{suffix: s, lan: "rlbl2-lan-" + s, client: "rlbl2-cli-" + s}
	l.addNamespace(t, l.lan)
	run(t, "ip", "-n", l.lan, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	run(t, "ip", "-n", l.lan, "link", "set", "br0", "up")
	l.addHost(t, l.client, "198.51.100.100/24", "2001:db8:100::100/64")
	// The VIPs are off-subnet: an on-link route makes the client ARP/NDP for
	// them directly and keep a neighbour entry (see shared notes, ARP).
	run(t, "ip", "-n", l.client, "route", "add", "203.0.113.0/24", "dev", "eth0")
	run(t, "ip", "-n", l.client, "-6", "route", "add", "2001:db8:ffff::/64", "dev", "eth0")
	return l
}

func (l *lab) addNamespace(t *testing.T, name string) {
	t.Helper()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("deleting namespace %s: %v\n%s", name, err, out)
		}
	})
}

// addHost creates namespace ns with eth0 bridged onto the LAN. Both veth ends
// are created inside lab namespaces, never in the root namespace.
func (l *lab) addHost(t *testing.T, ns, v4, v6 string) string {
	t.Helper()
	l.addNamespace(t, ns)
	port := "v" + strings.TrimPrefix(strings.TrimPrefix(ns, "rlbl2-"), "cli-")
	port = port[:min(len(port), 15)]
	run(t, "ip", "-n", l.lan, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(t, "ip", "-n", l.lan, "link", "set", port, "master", "br0", "up")
	// No duplicate address detection: a tentative link-local address cannot be
	// bound, and nothing else on this private LAN could own our addresses.
	run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0",
		"net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.eth0.accept_dad=0")
	run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
	run(t, "ip", "-n", ns, "addr", "add", v4, "dev", "eth0")
	run(t, "ip", "-n", ns, "-6", "addr", "add", v6, "dev", "eth0", "nodad")
	return macOf(t, ns)
}

func macOf(t *testing.T, ns string) string {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(run(t, "ip", "-n", ns, "-j", "link", "show", "eth0")), &links); err != nil || len(links) != 1 {
		t.Fatalf("reading eth0's MAC in %s: %v", ns, err)
	}
	return links[0].Address
}

// arping returns the MAC of every ARP reply the client gets for vip.
// Debian's `arping` package is Thomas Habets' arping: -i picks the
// interface (iputils' arping would use -I), -r prints only the MAC.
func (l *lab) arping(t *testing.T, vip string) []string {
	out, _ := exec.Command("ip", "netns", "exec", l.client, "arping", "-i", "eth0", "-c", "2", "-w", "3", "-r", vip).CombinedOutput()
	t.Logf("arping %s:\n%s", vip, out)
	return macsIn(string(out))
}

// kernelResolve makes the client's kernel solicit vip afresh and returns the
// link-layer address it settled on. (ndisc6 is not used: it only accepts an
// advertisement whose IP source is the target itself, as a kernel owning the
// address would send; ours come from the link-local address, see
// docs/layer2.md.)
func (l *lab) kernelResolve(t *testing.T, vip string) []string {
	t.Helper()
	_ = exec.Command("ip", "-n", l.client, "neigh", "del", vip, "dev", "eth0").Run()
	l.resolve(t, vip)
	var last string
	err := wait.Poll(5*time.Second, func() error {
		last = run(t, "ip", "-n", l.client, "neigh", "show", vip, "dev", "eth0")
		if f := strings.Fields(last); len(f) > 2 && f[1] == "lladdr" {
			return nil
		}
		return fmt.Errorf("last: %q", last)
	})
	if err != nil {
		t.Logf("client did not resolve %s: %v", vip, err)
		return nil
	}
	t.Logf("client resolved %s: %s", vip, strings.TrimSpace(last))
	return macsIn(last)
}

func macsIn(out string) []string {
	var macs []string
	for _, f := range strings.Fields(out) {
		if len(f) == 17 && strings.Count(f, ":") == 5 {
			macs = append(macs, strings.ToLower(f))
		}
	}
	return macs
}

// resolve makes the client's kernel resolve vip (the ping itself gets no
// answer: the VIP is on no interface and the nodes do not forward).
func (l *lab) resolve(t *testing.T, vip string) {
	_ = exec.Command("ip", "netns", "exec", l.client, "ping", "-c", "1", "-W", "1", vip).Run()
}

// waitNeighbour waits (generously) for the client's neighbour entry for vip
// to carry mac.
func (l *lab) waitNeighbour(t *testing.T, vip, mac string) {
	t.Helper()
	wait.Eventually(t, 5*time.Second, func() error {
		last := run(t, "ip", "-n", l.client, "neigh", "show", vip, "dev", "eth0")
		if strings.Contains(strings.ToLower(last), "lladdr "+mac) {
			return nil
		}
		return fmt.Errorf("client's neighbour entry for %s is not %s: %q", vip, mac, last)
	})
}

// node is one responder process inside a node namespace.
type node struct {
	name string
	mac  string
	in   io.WriteCloser
	out  *bufio.Scanner
	mu   sync.Mutex
}

func (l *lab) startNode(t *testing.T, name, v4, v6 string) *node {
	t.Helper()
	ns := fmt.Sprintf("rlbl2-n%s-%s", name[len(name)-1:], l.suffix)
	mac := l.addHost(t, ns, v4+"/24", v6+"/64")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, self)
	parentNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+v4+","+v6, parentNetnsEnv+"="+parentNS)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting responder in %s: %v", ns, err)
	}
	t.Cleanup(func() { stopNode(t, name, cmd, stdin, logs) })
	return &node{name: name, mac: mac, in: stdin, out: bufio.NewScanner(stdout)}
}

// stopNode asks the helper to quit (so it closes its sockets itself), and
// kills it by PID only if it does not.
func stopNode(t *testing.T, name string, cmd *exec.Cmd, stdin io.WriteCloser, logs *syncBuffer) {
	_, _ = io.WriteString(stdin, "quit\n")
	_ = stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s responder exited with %v", name, err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("%s responder did not quit; killed pid %d", name, cmd.Process.Pid)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("%s responder log:\n%s", name, logs.String())
	}
}

func (n *node) cmd(t *testing.T, line string) string {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := io.WriteString(n.in, line+"\n"); err != nil {
		t.Fatalf("%s: %s: %v", n.name, line, err)
	}
	if !n.out.Scan() {
		t.Fatalf("%s: no answer to %q (responder died?)", n.name, line)
	}
	reply := n.out.Text()
	if strings.HasPrefix(reply, "error") {
		t.Fatalf("%s: %s: %s", n.name, line, reply)
	}
	return reply
}

// count reads one of the helper's counters on eth0: "sent PROTO" or
// "ignored PROTO REASON".
func (n *node) count(t *testing.T, args ...string) float64 {
	t.Helper()
	var v float64
	if _, err := fmt.Sscan(n.cmd(t, strings.Join(args, " ")), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
