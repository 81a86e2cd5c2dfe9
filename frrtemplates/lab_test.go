package frrtemplates_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/netlab"
)

// labObjects is a two-node cluster peering with one router, with BFD, and one Service.
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
spec: {communities: ["64512:100"], peers: [router, router-v6]}
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

// labRouter2 peers with both nodes, but no advertisement names it: its sessions come up and it gets
// nothing, which checks that a peer's lists holding only the "deny any" sentinel deny everything.
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

func renderLab(t *testing.T, node, objects string) string {
	t.Helper()
	in := controllers.SpeakerInput{NodeName: node}
	if err := controllers.DecodeObjects(&in, strings.NewReader(objects), "lab objects"); err != nil {
		t.Fatal(err)
	}
	res, err := controllers.ComputeNodeBGP(in, nil)
	if err != nil || len(res.Problems) > 0 {
		t.Fatalf("rendering %s: %v %v", node, err, res.Problems)
	}
	return string(res.FRRConfig)
}

// TestLabECMPAndBFD runs the rendered configs of two nodes in real FRR, each in its own network
// namespace, against a router FRR over IPv4 and IPv6 sessions: the router's kernel gets one route for
// each VIP (IPv4 and IPv6) through both nodes, BFD sessions come up, and a new Service reaches the
// router without resetting a session.
func TestLabECMPAndBFD(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and FRR; runs in the normal test run")
	}
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24")
	lab.Reserve("2001:db8:ff::/120")
	router := lab.AddHost("router", "198.51.100.1/24", "2001:db8::1/64")
	node1 := lab.AddHost("node1", "198.51.100.11/24", "2001:db8::11/64")
	node2 := lab.AddHost("node2", "198.51.100.12/24", "2001:db8::12/64")
	router2 := lab.AddHost("router2", "198.51.100.2/24")
	rf := lab.StartFRR(router, "router", labRouter)
	rf2 := lab.StartFRR(router2, "router2", labRouter2)
	nodes := map[string]*netlab.FRR{
		"node1": lab.StartFRR(node1, "node1", renderLab(t, "node1", labObjects)),
		"node2": lab.StartFRR(node2, "node2", renderLab(t, "node2", labObjects)),
	}
	rf.WaitEstablished("198.51.100.11", 60*time.Second)
	rf.WaitEstablished("198.51.100.12", 60*time.Second)
	waitECMP(t, lab, router, "203.0.113.10")
	waitECMP6(t, lab, router, "2001:db8:ff::10")
	rf2.WaitEstablished("198.51.100.11", 60*time.Second)
	rf2.WaitEstablished("198.51.100.12", 60*time.Second)

	lab.Eventually(60*time.Second, func() error {
		out, err := rf.Vtysh("-c", "show bfd peers json")
		if err != nil {
			return err
		}
		var peers []struct {
			Peer   string `json:"peer"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &peers); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		up := map[string]bool{}
		for _, p := range peers {
			up[p.Peer] = p.Status == "up"
		}
		if !up["198.51.100.11"] || !up["198.51.100.12"] || !up["2001:db8::11"] || !up["2001:db8::12"] {
			return fmt.Errorf("BFD sessions not up: %s", out)
		}
		return nil
	})

	// The community set by the advertisement reaches the router.
	out := rf.MustVtysh("show bgp ipv4 unicast 203.0.113.10/32 json")
	if !strings.Contains(out, "64512:100") {
		t.Errorf("community 64512:100 missing on the router:\n%s", out)
	}

	// Service churn: the config with one more Service, applied on top of the running one, announces
	// the new VIP and leaves both sessions as they were.
	before := establishedCount(t, rf)
	t.Logf("sessions established so far: %v", before)
	for name, f := range nodes {
		path := filepath.Join(lab.Dir, name+"-new.conf")
		if err := os.WriteFile(path, []byte(renderLab(t, name, labObjects+labExtraService)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := f.Vtysh("-f", path); err != nil {
			t.Fatalf("applying the new config on %s: %v\n%s", name, err, out)
		}
	}
	waitECMP(t, lab, router, "203.0.113.11")
	// By now router2's sessions have long been up and the router has both VIPs from both nodes.
	for name, f := range nodes {
		if n := advertised(t, f, "198.51.100.1"); n != 2 {
			t.Errorf("%s advertises %d prefixes to router, want 2", name, n)
		}
		if n := advertised(t, f, "198.51.100.2"); n != 0 {
			t.Errorf("%s advertises %d prefixes to router2, which no advertisement names", name, n)
		}
	}
	if out := rf2.MustVtysh("show ip route bgp json"); strings.Contains(out, "203.0.113.") {
		t.Errorf("router2 got a VIP route:\n%s", out)
	}
	if after := establishedCount(t, rf); !maps.Equal(after, before) {
		t.Errorf("a new Service reset sessions: established counts %v -> %v", before, after)
	}
}

// waitECMP waits for one kernel route to vip in the router with both nodes as nexthops.
func waitECMP(t *testing.T, lab *netlab.Lab, router *netlab.Host, vip string) {
	t.Helper()
	lab.Eventually(60*time.Second, func() error {
		out, err := router.Run("ip", "-j", "route", "show", vip)
		if err != nil {
			return err
		}
		var routes []struct {
			Dst      string `json:"dst"`
			Nexthops []struct {
				Gateway string `json:"gateway"`
			} `json:"nexthops"`
		}
		if err := json.Unmarshal([]byte(out), &routes); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		if len(routes) != 1 || len(routes[0].Nexthops) != 2 {
			return fmt.Errorf("want one route to %s with two nexthops, got %s", vip, out)
		}
		got := routes[0].Nexthops[0].Gateway + "," + routes[0].Nexthops[1].Gateway
		if got != "198.51.100.11,198.51.100.12" && got != "198.51.100.12,198.51.100.11" {
			return fmt.Errorf("nexthops %s", got)
		}
		return nil
	})
}

// waitECMP6 waits for one IPv6 kernel route to vip in the router with two nexthops (zebra installs
// the nodes' link-local addresses, so only their number and distinctness are checked).
func waitECMP6(t *testing.T, lab *netlab.Lab, router *netlab.Host, vip string) {
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
		if len(routes) != 1 || len(routes[0].Nexthops) != 2 || routes[0].Nexthops[0].Gateway == routes[0].Nexthops[1].Gateway {
			return fmt.Errorf("want one route to %s with two nexthops, got %s", vip, out)
		}
		return nil
	})
}

// advertised is how many prefixes a node's FRR sends a neighbour after its outbound policy.
func advertised(t *testing.T, f *netlab.FRR, neighbor string) int {
	t.Helper()
	out := f.MustVtysh("show bgp ipv4 unicast neighbors " + neighbor + " advertised-routes json")
	var adv struct {
		Total *int `json:"totalPrefixCounter"`
	}
	if err := json.Unmarshal([]byte(out), &adv); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if adv.Total == nil {
		return 0 // FRR 8.4 prints {} when nothing is advertised
	}
	return *adv.Total
}

// establishedCount is how many times each of the router's sessions has been established.
func establishedCount(t *testing.T, rf *netlab.FRR) map[string]int {
	t.Helper()
	out := rf.MustVtysh("show bgp neighbors json")
	var ns map[string]struct {
		Established int `json:"connectionsEstablished"`
	}
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	counts := map[string]int{}
	for addr, n := range ns {
		counts[addr] = n.Established
	}
	return counts
}
