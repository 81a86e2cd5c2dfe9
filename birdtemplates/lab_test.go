package birdtemplates_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/reloader"
)

// labObjects is a two-node cluster peering with one router over IPv4 and IPv6 (BFD on both) and
// with a second router no advertisement names, and one dual-stack Service.
const labObjects = `
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {rack: a}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24, 2001:db8:ff::/120]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64513, peerASN: 64512, peerAddress: 198.51.100.1, bfdProfile: fast, holdTime: 9s, keepaliveTime: 3s, password: 's3!cret'}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router-v6, namespace: metallb-system}
spec: {myASN: 64513, peerASN: 64512, peerAddress: "2001:db8::1", bfdProfile: fast}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router2, namespace: metallb-system}
spec: {myASN: 64513, peerASN: 64512, peerAddress: 198.51.100.2}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
spec: {communities: ["64512:100", "large:64512:1:1"], peers: [router, router-v6]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}, {ip: "2001:db8:ff::10"}]}}
`

const labExtraService = `
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.11}]}}
`

const labRouter = `frr defaults traditional
hostname router
!
router bgp 64512
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 password s3!cret
 neighbor 198.51.100.11 bfd
 neighbor 198.51.100.12 remote-as 64513
 neighbor 198.51.100.12 password s3!cret
 neighbor 198.51.100.12 bfd
 neighbor 2001:db8::11 remote-as 64513
 neighbor 2001:db8::11 bfd
 neighbor 2001:db8::12 remote-as 64513
 neighbor 2001:db8::12 bfd
 !
 address-family ipv4 unicast
  neighbor 198.51.100.11 activate
  neighbor 198.51.100.12 activate
  maximum-paths 8
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 2001:db8::11 activate
  neighbor 2001:db8::12 activate
  maximum-paths 8
 exit-address-family
exit
`

const labRouter2 = `frr defaults traditional
hostname router2
!
router bgp 64512
 bgp router-id 198.51.100.2
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.12 remote-as 64513
 !
 address-family ipv4 unicast
  neighbor 198.51.100.11 activate
  neighbor 198.51.100.12 activate
 exit-address-family
exit
`

func renderLab(t *testing.T, node, objects string) []byte {
	t.Helper()
	in := controllers.SpeakerInput{NodeName: node}
	if err := controllers.DecodeObjects(&in, strings.NewReader(objects), "lab objects"); err != nil {
		t.Fatal(err)
	}
	res, err := controllers.ComputeNodeConfig(in, nil, controllers.DaemonBIRD)
	if err != nil || len(res.Problems) > 0 {
		t.Fatalf("rendering %s: %v %v", node, err, res.Problems)
	}
	return res.FRRConfig
}

// labNode is a node's BIRD and the reloader's applier that configures it, as in a speaker pod.
type labNode struct {
	host    *netlab.Host
	bird    *netlab.BIRD
	applier *reloader.BIRDApplier
}

func (n *labNode) apply(t *testing.T, cfg []byte) {
	t.Helper()
	if res := n.applier.Apply(context.Background(), cfg, false); res.Outcome != reloader.OutcomeApplied {
		t.Fatalf("applying bird.conf on %s: %s %v\n%s", n.host.Name, res.Outcome, res.Err, cfg)
	}
}

// TestLabBIRD runs the rendered bird.conf of two nodes in real BIRD daemons, each in its own
// network namespace and configured through the reloader's BIRD applier, against an FRR router over
// IPv4 and IPv6: the router's kernel gets one route per VIP with both nodes as nexthops, with the
// advertisement's communities; the second router gets nothing; no VIP reaches a node's own kernel;
// a Service coming and going changes routes without resetting a session; and when a node's link
// goes down, BFD takes its nexthop away and the session comes back once the link is up.
func TestLabBIRD(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: needs root, BIRD and FRR, which the normal test run has")
	}
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24", "2001:db8:ff::/120")
	router := lab.AddHost("router", "198.51.100.1/24", "2001:db8::1/64")
	router2 := lab.AddHost("router2", "198.51.100.2/24")
	rf := lab.StartFRR(router, "router", labRouter)
	rf2 := lab.StartFRR(router2, "router2", labRouter2)
	nodes := map[string]*labNode{}
	for i, name := range []string{"node1", "node2"} {
		h := lab.AddHost(name, fmt.Sprintf("198.51.100.%d/24", 11+i), fmt.Sprintf("2001:db8::%d/64", 11+i))
		b := lab.StartBIRD(h, name, "")
		n := &labNode{host: h, bird: b, applier: &reloader.BIRDApplier{
			BIRD:       &reloader.BIRD{Bird: "bird", Birdc: "birdc", Socket: b.Socket},
			ConfigPath: b.ConfPath, Scratch: t.TempDir(), Log: testr.New(t)}}
		n.apply(t, renderLab(t, name, labObjects))
		nodes[name] = n
	}
	for _, peer := range []string{"198.51.100.11", "198.51.100.12"} {
		rf.WaitEstablished(peer, 60*time.Second)
		rf2.WaitEstablished(peer, 60*time.Second)
	}
	waitNexthops(t, lab, router, "203.0.113.10", "198.51.100.11", "198.51.100.12")
	waitNexthops6(t, lab, router, "2001:db8:ff::10", 2)
	waitBFDUp(t, lab, rf, "198.51.100.11", "198.51.100.12", "2001:db8::11", "2001:db8::12")

	out := rf.MustVtysh("show bgp ipv4 unicast 203.0.113.10/32 json")
	if !strings.Contains(out, "64512:100") || !strings.Contains(out, "64512:1:1") {
		t.Errorf("community 64512:100 or large community 64512:1:1 missing on the router:\n%s", out)
	}
	for name, n := range nodes {
		if out := n.host.MustRun("ip", "route", "show", "table", "all", "203.0.113.10"); strings.TrimSpace(out) != "" {
			t.Errorf("%s's kernel has a route to its own VIP (BIRD must not export the blackhole): %s", name, out)
		}
	}

	// Service churn: a VIP comes and goes; every session and BFD session stays up.
	before := establishedCount(t, rf)
	for name, n := range nodes {
		n.apply(t, renderLab(t, name, labObjects+labExtraService))
	}
	waitNexthops(t, lab, router, "203.0.113.11", "198.51.100.11", "198.51.100.12")
	for name, n := range nodes {
		n.apply(t, renderLab(t, name, labObjects))
	}
	waitNexthops(t, lab, router, "203.0.113.11")
	if out := rf2.MustVtysh("show ip route bgp json"); strings.Contains(out, "203.0.113.") {
		t.Errorf("router2 got a VIP route although no advertisement names it:\n%s", out)
	}
	if after := establishedCount(t, rf); !maps.Equal(after, before) {
		t.Errorf("adding and removing a VIP reset sessions: established counts %v -> %v", before, after)
	}

	// node2's link goes down: BFD takes it out (the hold time is 9 s; FRR says why it closed).
	nodes["node2"].host.SetLink(false)
	waitNexthops(t, lab, router, "203.0.113.10", "198.51.100.11")
	if reason := neighbors(t, rf)["198.51.100.12"].LastNotification; !strings.Contains(reason, "BFD Down") {
		t.Errorf("the router closed node2's session for %q, not BFD", reason)
	}
	// Link back: BIRD's shortened error wait time lets the session return (BIRD's default would
	// keep it idle for 60 s or more).
	nodes["node2"].host.SetLink(true)
	rf.WaitEstablished("198.51.100.12", 30*time.Second)
	waitNexthops(t, lab, router, "203.0.113.10", "198.51.100.11", "198.51.100.12")
}

// waitNexthops waits until the router's kernel routes vip through exactly the given gateways (no
// route at all when none are given).
func waitNexthops(t *testing.T, lab *netlab.Lab, router *netlab.Host, vip string, want ...string) {
	t.Helper()
	sort.Strings(want)
	lab.Eventually(60*time.Second, func() error {
		out, err := router.Run("ip", "-j", "route", "show", vip)
		if err != nil {
			return err
		}
		var routes []struct {
			Gateway  string `json:"gateway"`
			Nexthops []struct {
				Gateway string `json:"gateway"`
			} `json:"nexthops"`
		}
		if err := json.Unmarshal([]byte(out), &routes); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		var got []string
		for _, r := range routes {
			if r.Gateway != "" {
				got = append(got, r.Gateway)
			}
			for _, nh := range r.Nexthops {
				got = append(got, nh.Gateway)
			}
		}
		sort.Strings(got)
		if len(routes) > 1 || strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("route to %s via %v, want one route via %v: %s", vip, got, want, out)
		}
		return nil
	})
}

// waitNexthops6 waits for one IPv6 kernel route to vip with n distinct nexthops (FRR installs the
// nodes' link-local addresses, so only their number is checked).
func waitNexthops6(t *testing.T, lab *netlab.Lab, router *netlab.Host, vip string, n int) {
	t.Helper()
	lab.Eventually(60*time.Second, func() error {
		out, err := router.Run("ip", "-6", "-j", "route", "show", vip)
		if err != nil {
			return err
		}
		var routes []struct {
			Nexthops []struct {
				Gateway string `json:"gateway"`
			} `json:"nexthops"`
		}
		if err := json.Unmarshal([]byte(out), &routes); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		if len(routes) != 1 || len(routes[0].Nexthops) != n || routes[0].Nexthops[0].Gateway == routes[0].Nexthops[1].Gateway {
			return fmt.Errorf("want one route to %s with %d nexthops, got %s", vip, n, out)
		}
		return nil
	})
}

func waitBFDUp(t *testing.T, lab *netlab.Lab, rf *netlab.FRR, peers ...string) {
	t.Helper()
	lab.Eventually(60*time.Second, func() error {
		out, err := rf.Vtysh("-c", "show bfd peers json")
		if err != nil {
			return err
		}
		var ps []struct {
			Peer   string `json:"peer"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &ps); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		up := map[string]bool{}
		for _, p := range ps {
			up[p.Peer] = p.Status == "up"
		}
		for _, p := range peers {
			if !up[p] {
				return fmt.Errorf("BFD session with %s not up: %s", p, out)
			}
		}
		return nil
	})
}

type neighborJSON struct {
	Established      int    `json:"connectionsEstablished"`
	LastNotification string `json:"lastNotificationReason"`
}

func neighbors(t *testing.T, rf *netlab.FRR) map[string]neighborJSON {
	t.Helper()
	out := rf.MustVtysh("show bgp neighbors json")
	var ns map[string]neighborJSON
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return ns
}

// establishedCount is how many times each of the router's sessions has been established.
func establishedCount(t *testing.T, rf *netlab.FRR) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for addr, n := range neighbors(t, rf) {
		counts[addr] = n.Established
	}
	return counts
}
