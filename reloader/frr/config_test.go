package frr

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// testdata/metallb.running is what FRR 8.4.4 printed after loading
// testdata/metallb.conf: reordered lines, defaults dropped, implied lines
// added, "exit" closers. The two must compare equal.
func TestCompareRenderedWithRunning(t *testing.T) {
	conf, err := os.ReadFile("testdata/metallb.conf")
	if err != nil {
		t.Fatal(err)
	}
	running, err := os.ReadFile("testdata/metallb.running")
	if err != nil {
		t.Fatal(err)
	}
	if d := Compare(Parse(string(conf)), Parse(string(running))); len(d) > 0 {
		t.Errorf("differences:\n%s", strings.Join(d, "\n"))
	}
	if d := Delta(Parse(string(running)), Parse(string(conf))); len(d) > 0 {
		t.Errorf("delta between equal configs:\n%s", strings.Join(d, "\n"))
	}
	changed := strings.Replace(string(conf), "set local-preference 150", "set local-preference 200", 1)
	if d := Compare(Parse(changed), Parse(string(running))); len(d) != 2 {
		t.Errorf("want 2 differences for a changed line, got %q", d)
	}
}

func TestParseWithoutExits(t *testing.T) {
	cfg := Parse(`router bgp 64513
 neighbor 198.51.100.1 remote-as 64512
 address-family ipv4 unicast
  network 203.0.113.5/32
ip prefix-list p seq 5 permit 203.0.113.5/32
bfd
 profile a
  echo-mode
 profile b
  passive-mode
route-map rm permit 10
 match ip address prefix-list p
`)
	got := strings.Join(Flatten(cfg), "\n")
	want := strings.Join([]string{
		"bfd > ",
		"bfd > profile a > ",
		"bfd > profile a > echo-mode",
		"bfd > profile b > ",
		"bfd > profile b > passive-mode",
		"ip prefix-list p seq 5 permit 203.0.113.5/32",
		"route-map rm permit 10 > ",
		"route-map rm permit 10 > match ip address prefix-list p",
		"router bgp 64513 > ",
		"router bgp 64513 > address-family ipv4 unicast > ",
		"router bgp 64513 > address-family ipv4 unicast > network 203.0.113.5/32",
		"router bgp 64513 > neighbor 198.51.100.1 remote-as 64512",
	}, "\n")
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{"legacy network placement", "router bgp 1\n network 203.0.113.5/32\n",
			"router bgp 1\n address-family ipv4 unicast\n  network 203.0.113.5/32\n exit-address-family\n"},
		{"activate is default in ipv4 unicast", "router bgp 1\n neighbor 192.0.2.9 remote-as 2\n address-family ipv4 unicast\n  neighbor 192.0.2.9 activate\n",
			"router bgp 1\n neighbor 192.0.2.9 remote-as 2\n"},
		{"bfd profile implies bfd", "router bgp 1\n neighbor 192.0.2.9 bfd profile p\n",
			"router bgp 1\n neighbor 192.0.2.9 bfd\n neighbor 192.0.2.9 bfd profile p\n"},
		{"bfd defaults", "bfd\n profile p\n  receive-interval 300\n  detect-multiplier 3\n  echo-mode\n",
			"bfd\n profile p\n  echo-mode\n"},
		{"echo-interval", "bfd\n profile p\n  echo-interval 100\n",
			"bfd\n profile p\n  echo transmit-interval 100\n  echo receive-interval 100\n"},
		{"prefix-list numbering", "ip prefix-list p permit 203.0.113.1/32\nip prefix-list p permit 203.0.113.2/32\n",
			"ip prefix-list p seq 5 permit 203.0.113.1/32\nip prefix-list p seq 10 permit 203.0.113.2/32\n"},
		{"ignored lines", "frr version 8.4\nhostname x\nservice integrated-vtysh-config\n", "frr version 8.4.4\nhostname vm\nno ip forwarding\n"},
		{"ipv6 canonical form", "router bgp 1\n address-family ipv6 unicast\n  network 2001:db8:ff::0/128\n",
			"router bgp 1\n address-family ipv6 unicast\n  network 2001:db8:ff::/128\n"},
		{"default port", "router bgp 1\n neighbor 192.0.2.9 remote-as 2\n neighbor 192.0.2.9 port 179\n",
			"router bgp 1\n neighbor 192.0.2.9 remote-as 2\n"},
	} {
		if d := Compare(Parse(tc.a), Parse(tc.b)); len(d) > 0 {
			t.Errorf("%s: differences %q", tc.name, d)
		}
	}
}

// TestDeltaOrder checks the orderings FRR needs: definitions added before
// use and removed after, VRF instances removed before the default one,
// neighbors removed as a whole, values replaced without a "no" first, BFD
// timers reset to defaults.
func TestDeltaOrder(t *testing.T) {
	running := `router bgp 64513
 neighbor 198.51.100.1 remote-as 64512
 neighbor 198.51.100.1 timers 3 9
 neighbor 198.51.100.2 remote-as 64512
 neighbor 198.51.100.2 bfd profile old
 address-family ipv4 unicast
  network 203.0.113.1/32
  neighbor 198.51.100.2 route-map rm-old out
 exit-address-family
exit
router bgp 64513 vrf red
 neighbor 198.51.100.3 remote-as 64512
exit
ip prefix-list pl-old seq 5 permit 203.0.113.1/32
route-map rm-old permit 10
 match ip address prefix-list pl-old
exit
bfd
 profile old
  receive-interval 500
 exit
 profile keep
  receive-interval 500
 exit
exit
`
	target := `router bgp 64514
 neighbor 198.51.100.1 remote-as 64512
exit
`
	got := strings.Join(Delta(Parse(running), Parse(target)), "\n")
	for _, order := range [][2]string{
		{"no router bgp 64513 vrf red", "no router bgp 64513\n"},
		{"no router bgp 64513\n", "router bgp 64514"},
		{"router bgp 64514", "no route-map rm-old permit 10"},
		{"no route-map rm-old permit 10", "no ip prefix-list pl-old seq 5"},
		{"no route-map rm-old permit 10", "no profile old"},
	} {
		i, j := strings.Index(got, order[0]), strings.Index(got, order[1])
		if i < 0 || j < 0 || i > j {
			t.Errorf("want %q before %q in:\n%s", order[0], order[1], got)
		}
	}

	target2 := strings.Replace(strings.Replace(running, "timers 3 9", "timers 1 3", 1), "receive-interval 500\n exit\n profile keep", "receive-interval 500\n exit\n profile keep", 1)
	target2 = strings.Replace(target2, " neighbor 198.51.100.2 remote-as 64512\n neighbor 198.51.100.2 bfd profile old\n", "", 1)
	target2 = strings.Replace(target2, "  neighbor 198.51.100.2 route-map rm-old out\n", "", 1)
	target2 = strings.Replace(target2, "profile keep\n  receive-interval 500", "profile keep", 1)
	got = strings.Join(Delta(Parse(running), Parse(target2)), "\n")
	want := `bfd
 profile keep
  receive-interval 300
 exit
exit
router bgp 64513
 neighbor 198.51.100.1 timers 1 3
 no neighbor 198.51.100.2
exit`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestShapes(t *testing.T) {
	s := Shapes{}
	d1 := []string{"router bgp 64513", " address-family ipv4 unicast", "  network 203.0.113.5/32", " exit-address-family", "exit"}
	s.Learn(d1)
	d2 := []string{"router bgp 64513", " address-family ipv4 unicast", "  network 198.18.0.9/32", " exit-address-family", "exit"}
	if !s.Known(d2) {
		t.Error("another network of the same shape should be known")
	}
	for _, d := range [][]string{
		{"router bgp 64513", " address-family ipv4 unicast", "  network 198.18.0.9/33", " exit-address-family", "exit"},
		{"router bgp 64514", " address-family ipv4 unicast", "  network 198.18.0.9/32", " exit-address-family", "exit"},
		{"router bgp 64513", " address-family ipv4 unicast", "  networkk 198.18.0.9/32", " exit-address-family", "exit"},
		{"router bgp 64513", " network 198.18.0.9/32", "exit"},
	} {
		if s.Known(d) {
			t.Errorf("%q must go through FRR's parser", d)
		}
	}
}

// TestDeltaNetworkRouteMap: a network whose origination route-map changes is set again with the new
// one, never removed first (which would withdraw it); a network that goes is removed with its
// route-map named, as FRR prints it.
func TestDeltaNetworkRouteMap(t *testing.T) {
	running := `router bgp 64513
 address-family ipv4 unicast
  network 198.18.0.1/32 route-map rlb_net_a
  network 198.18.0.2/32 route-map rlb_net_a
 exit-address-family
exit
`
	target := `router bgp 64513
 address-family ipv4 unicast
  network 198.18.0.1/32 route-map rlb_net_b
 exit-address-family
exit
`
	got := strings.Join(Delta(Parse(running), Parse(target)), "\n")
	want := `router bgp 64513
 address-family ipv4 unicast
  no network 198.18.0.2/32 route-map rlb_net_a
  network 198.18.0.1/32 route-map rlb_net_b
 exit-address-family
exit`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// bgpd only shortens a route-map delay timer that is already running when the value is set to 0,
// so `bgp route-map delay-timer` must reach it before the route-maps of the same delta: else their
// changes start FRR's 5 s timer, and a neighbour created by the same load waits for it. Met after a
// route-map entry without "exit", the line is still the root's.
func TestDeltaRouteMapDelayTimerFirst(t *testing.T) {
	target := Parse(`route-map rm permit 10
 set local-preference 150
bgp route-map delay-timer 1
router bgp 64513
 neighbor 198.51.100.1 remote-as 64512
exit
`)
	if !strings.Contains(strings.Join(target.Lines, "\n"), "bgp route-map delay-timer 1") {
		t.Fatalf("delay-timer is not a root line: %q", Flatten(target))
	}
	got := strings.Join(Delta(&Block{}, target), "\n")
	i, j := strings.Index(got, "bgp route-map delay-timer 1"), strings.Index(got, "route-map rm permit 10")
	if i < 0 || j < 0 || i > j {
		t.Errorf("want the delay timer before the route-map in:\n%s", got)
	}
	if got := Delta(target, Parse("route-map rm permit 10\n set local-preference 150\n")); !slices.Contains(got, "no bgp route-map delay-timer 1") {
		t.Errorf("removing the timer: got %q", got)
	}
}
