package birdtemplates_test

import (
	"testing"

	"github.com/go-logr/logr/testr"

	tt "github.com/routelb/routelb/internal/templatetest"
)

var dualStackObjects = tt.Objects(tt.Node("node1", ""), tt.Pool("203.0.113.0/24", "2001:db8:ff::/120"),
	tt.Peer("router", "peerAddress: 198.51.100.1, dualStackAddressFamily: true"),
	tt.Advertisement(""), tt.Service("web", "203.0.113.10", "2001:db8:ff::10"))

// dualStackRouter activates the one IPv4 session in both address families.
var dualStackRouter = tt.RouterConfig("router", "198.51.100.1", ` no bgp default ipv4-unicast
 neighbor 198.51.100.11 remote-as 64513
 !
 address-family ipv4 unicast
  neighbor 198.51.100.11 activate
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 198.51.100.11 activate
 exit-address-family
`)

// TestLabBIRDDualStack: dualStackAddressFamily carries the IPv6 VIP over the IPv4 session to an FRR
// router, which installs it in its kernel.
func TestLabBIRDDualStack(t *testing.T) {
	lab := tt.NewLab(t, "root, BIRD and FRR", "203.0.113.0/24", "2001:db8:ff::/120")
	router := tt.AddFRR(lab, "router", dualStackRouter, "198.51.100.1/24", "2001:db8::1/64")
	tt.AddBIRDNode(t, lab, testr.New(t), "node1", "198.51.100.11/24", "2001:db8::11/64").Apply(t, renderLab(t, "node1", dualStackObjects))
	router.FRR.WaitEstablished("198.51.100.11", tt.BootTimeout)
	router.Host.WaitNexthops("203.0.113.10", tt.BootTimeout, "198.51.100.11")
	// BIRD's next hop self on the IPv6 channel of an IPv4 session is node1's global IPv6 address.
	router.Host.WaitNexthops("2001:db8:ff::10", tt.BootTimeout, "2001:db8::11")
}
