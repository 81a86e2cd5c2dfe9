package birdtemplates_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/reloader"
)

const dualStackObjects = `
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: vips, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24, 2001:db8:ff::/120]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64513, peerASN: 64512, peerAddress: 198.51.100.1, dualStackAddressFamily: true}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: all, namespace: metallb-system}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {type: LoadBalancer, ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.10}, {ip: "2001:db8:ff::10"}]}}
`

const dualStackRouter = `frr defaults traditional
hostname router
!
router bgp 64512
 bgp router-id 198.51.100.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 198.51.100.11 remote-as 64513
 !
 address-family ipv4 unicast
  neighbor 198.51.100.11 activate
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 198.51.100.11 activate
 exit-address-family
exit
`

// TestLabBIRDDualStack: dualStackAddressFamily carries the IPv6 VIP over the IPv4 session to an FRR
// router, which installs it in its kernel.
func TestLabBIRDDualStack(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: needs root, BIRD and FRR, which the normal test run has")
	}
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24", "2001:db8:ff::/120")
	router := lab.AddHost("router", "198.51.100.1/24", "2001:db8::1/64")
	rf := lab.StartFRR(router, "router", dualStackRouter)
	h := lab.AddHost("node1", "198.51.100.11/24", "2001:db8::11/64")
	b := lab.StartBIRD(h, "node1", "")
	a := &reloader.BIRDApplier{BIRD: &reloader.BIRD{Bird: "bird", Birdc: "birdc", Socket: b.Socket},
		ConfigPath: b.ConfPath, Scratch: t.TempDir(), Log: testr.New(t)}
	if res := a.Apply(context.Background(), renderLab(t, "node1", dualStackObjects), false); res.Outcome != reloader.OutcomeApplied {
		t.Fatal(res.Outcome, res.Err)
	}
	rf.WaitEstablished("198.51.100.11", 60*time.Second)
	waitNexthops(t, lab, router, "203.0.113.10", "198.51.100.11")
	lab.Eventually(60*time.Second, func() error {
		out, err := router.Run("ip", "-6", "route", "show", "2001:db8:ff::10")
		if err == nil && !strings.Contains(out, "via ") {
			err = fmt.Errorf("no route to 2001:db8:ff::10 through node1: %q", out)
		}
		if err == nil {
			t.Logf("router: %s", out)
		}
		return err
	})
}
