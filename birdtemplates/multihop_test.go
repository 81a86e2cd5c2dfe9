package birdtemplates_test

import (
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"

	tt "github.com/routelb/routelb/internal/templatetest"
)

var multihopObjects = tt.Objects(tt.Node("node1", ""), tt.Pool("203.0.113.0/24"), tt.FastBFD,
	tt.Peer("router", "peerAddress: 198.51.100.1, ebgpMultiHop: true, sourceAddress: 198.51.100.11, bfdProfile: fast"),
	tt.Advertisement(""), tt.Service("web", "203.0.113.10"))

var multihopRouter = tt.RouterConfig("router", "198.51.100.1", ` neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 ebgp-multihop 255
 neighbor 198.51.100.11 update-source 198.51.100.1
 neighbor 198.51.100.11 bfd
`)

// TestLabBIRDMultihopBFD: an eBGP multihop peer with sourceAddress and a BFD profile gets a
// multihop BFD session with an FRR router, and the VIP route.
func TestLabBIRDMultihopBFD(t *testing.T) {
	lab := tt.NewLab(t, "root, BIRD and FRR", "203.0.113.0/24")
	router := tt.AddFRR(lab, "router", multihopRouter, "198.51.100.1/24")
	tt.AddBIRDNode(t, lab, testr.New(t), "node1", "198.51.100.11/24").Apply(t, renderLab(t, "node1", multihopObjects))
	router.FRR.WaitEstablished("198.51.100.11", tt.BootTimeout)
	router.Host.WaitNexthops("203.0.113.10", tt.BootTimeout, "198.51.100.11")
	router.FRR.WaitBFDUp(tt.BootTimeout, "198.51.100.11")
	if out := router.FRR.MustVtysh("show bfd peers json"); !strings.Contains(out, `"multihop":true`) {
		t.Errorf("the router's BFD session is not multihop:\n%s", out)
	}
}
