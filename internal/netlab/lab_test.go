package netlab

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseIPOutputAndOverlap(t *testing.T) {
	out := `4: eth0: <BROADCAST,UP> mtu 1400
    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0
    inet6 fd00::2/64 scope global nodad
default via 192.0.2.1 dev eth0
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2
local 192.0.2.2 dev eth0 table local proto kernel scope host src 192.0.2.2
10.9.9.9 via 192.0.2.1 dev eth0
`
	root := parseIPOutput(out)
	for _, tc := range []struct {
		cidr string
		ok   bool
	}{
		{"198.51.100.0/24", true},
		{"203.0.113.0/24", true},
		{"2001:db8::/32", true},
		{"192.0.2.128/25", false},
		{"192.0.0.0/16", false},
		{"fd00::/48", false},
		{"10.9.9.0/24", false},
	} {
		err := checkFree(netip.MustParsePrefix(tc.cidr), root)
		if (err == nil) != tc.ok {
			t.Errorf("checkFree(%s) = %v, want ok=%v (root %v)", tc.cidr, err, tc.ok, root)
		}
	}
}

func TestLabPingAndBGP(t *testing.T) {
	lab := New(t)
	lab.Reserve("203.0.113.0/24")
	router := lab.AddHost("router", "198.51.100.1/24", "2001:db8::1/64")
	node := lab.AddHost("node1", "198.51.100.11/24", "2001:db8::11/64")

	node.MustRun("ping", "-c", "1", "-W", "2", "198.51.100.1")
	router.MustRun("ping", "-6", "-c", "1", "-W", "2", "2001:db8::11")

	rf := lab.StartFRR(router, "router", fmt.Sprintf(`frr defaults traditional
router bgp 64512
 no bgp ebgp-requires-policy
 bgp router-id 198.51.100.1
 neighbor %s remote-as 64513
 neighbor %s timers 1 3
`, node.Addr(4), node.Addr(4)))
	// The node runs FRR 10 from its root beside the router's host FRR 8.4: the two peer.
	nf := lab.StartFRRVersion(FRR10(t), node, "node1", fmt.Sprintf(`frr defaults traditional
router bgp 64513
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp router-id 198.51.100.11
 neighbor %s remote-as 64512
 neighbor %s timers 1 3
 address-family ipv4 unicast
  network 203.0.113.5/32
 exit-address-family
`, router.Addr(4), router.Addr(4)))
	rf.WaitEstablished(node.Addr(4).String(), 30*time.Second)
	nf.WaitEstablished(router.Addr(4).String(), 30*time.Second)
	lab.Eventually(30*time.Second, func() error {
		out, err := router.Run("ip", "route", "show", "203.0.113.5")
		if err == nil && !strings.Contains(out, "via 198.51.100.11") {
			err = fmt.Errorf("router has no route to the VIP: %q", out)
		}
		return err
	})

	// Stop removes the instance's runtime directory and its daemons.
	pid, err := nf.PID("bgpd")
	if err != nil {
		t.Fatal(err)
	}
	nf.Stop()
	if nf.owns(pid, "bgpd") {
		t.Errorf("bgpd %d still running after Stop", pid)
	}
}

// TestCloseLeavesNothing checks teardown directly: a sub-lab closed by hand
// must leave neither namespaces nor FRR processes behind.
func TestCloseLeavesNothing(t *testing.T) {
	ForEachFRR(t, testCloseLeavesNothing)
}

func testCloseLeavesNothing(t *testing.T, v *FRRVersion) {
	var prefix string
	var pids []int
	var written []string
	t.Run("lab", func(t *testing.T) {
		lab := New(t)
		prefix = lab.Prefix
		h := lab.AddHost("h", "198.51.100.21/24")
		f := lab.StartFRRVersion(v, h, "h", "")
		if out := f.MustVtysh("show version"); !strings.Contains(out, "FRRouting "+v.Name) {
			t.Errorf("vtysh of %s talks to another FRR: %s", v, out)
		}
		written = []string{f.RunDir(), f.ConfPath()}
		if v.Chrooted() {
			written = append(written, v.HostPath(f.instanceDir()))
		}
		for _, d := range v.daemons() {
			pid, err := f.PID(d)
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
	})
	for _, p := range written {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), prefix) {
		t.Errorf("namespaces of %s left behind:\n%s", prefix, out)
	}
	for _, pid := range pids {
		if _, err := exec.Command("kill", "-0", fmt.Sprint(pid)).CombinedOutput(); err == nil {
			if b, _ := exec.Command("ps", "-o", "stat=,args=", "-p", fmt.Sprint(pid)).Output(); strings.Contains(string(b), prefix) {
				t.Errorf("daemon %d left behind: %s", pid, b)
			}
		}
	}
}
