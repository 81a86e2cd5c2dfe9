package birdtemplates_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/reloader"
)

const multihopObjects = `
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64513, peerASN: 64512, peerAddress: 198.51.100.1, ebgpMultiHop: true, sourceAddress: 198.51.100.11, bfdProfile: fast}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}]}}
`

const multihopRouter = `frr defaults traditional
hostname router
!
router bgp 64512
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 ebgp-multihop 255
 neighbor 198.51.100.11 update-source 198.51.100.1
 neighbor 198.51.100.11 bfd
exit
`

// TestLabBIRDMultihopBFD: an eBGP multihop peer with sourceAddress and a BFD profile gets a
// multihop BFD session with an FRR router, and the VIP route.
func TestLabBIRDMultihopBFD(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: needs root, BIRD and FRR, which the normal test run has")
	}
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24")
	router := lab.AddHost("router", "198.51.100.1/24")
	rf := lab.StartFRR(router, "router", multihopRouter)
	h := lab.AddHost("node1", "198.51.100.11/24")
	b := lab.StartBIRD(h, "node1", "")
	a := &reloader.BIRDApplier{BIRD: &reloader.BIRD{Bird: "bird", Birdc: "birdc", Socket: b.Socket},
		ConfigPath: b.ConfPath, Scratch: t.TempDir(), Log: testr.New(t)}
	if res := a.Apply(context.Background(), renderLab(t, "node1", multihopObjects), false); res.Outcome != reloader.OutcomeApplied {
		t.Fatal(res.Outcome, res.Err)
	}
	rf.WaitEstablished("198.51.100.11", 60*time.Second)
	waitNexthops(t, lab, router, "203.0.113.10", "198.51.100.11")
	waitBFDUp(t, lab, rf, "198.51.100.11")
	if out := rf.MustVtysh("show bfd peers json"); !strings.Contains(out, `"multihop":true`) {
		t.Errorf("the router's BFD session is not multihop:\n%s", out)
	}
}
