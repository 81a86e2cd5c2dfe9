package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/e2e/lab"
)

// TestBadConfig: mistakes in the metallb.io objects never withdraw what is already announced to the
// good peer: edits the API server rejects, an accepted edit that references a missing BFDProfile,
// and a second peer configured with the wrong ASN (its session stays down, which the node's FRR,
// the reloader's metrics and the BGPPeer's status.sessions show).
func TestBadConfig(t *testing.T) {
	c := use(t)
	ctx := context.Background()
	const name = "web-stable"
	if err := c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: lab.BGPPool, EndpointNodes: lab.NodeNames}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteService(ctx, name) })
	vip := c.WaitVIP(t, name)
	c.WaitNexthops(t, vip, "node1", "node2", "node3")
	before, err := lab.Neighbors(c.RouterFRR)
	if err != nil {
		t.Fatal(err)
	}
	// stillGood checks, for a while, that the router keeps all three sessions and nexthops and that
	// requests keep succeeding.
	stillGood := func(step string) {
		t.Helper()
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
			got, err := c.NexthopNodes(vip)
			if err != nil || strings.Join(got, ",") != "node1,node2,node3" {
				t.Fatalf("%s: router's route to %s goes via %v (%v), want all three nodes", step, vip, got, err)
			}
		}
		if err := lab.SpreadOver(c, vip, 30, "node1", "node2", "node3"); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		after, err := lab.Neighbors(c.RouterFRR)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range c.Nodes {
			if b, a := before[n.Addr], after[n.Addr]; a.State != "Established" || a.Dropped != b.Dropped {
				t.Fatalf("%s: router's session with %s: before %+v, now %+v", step, n.Name, b, a)
			}
		}
	}

	t.Run("rejected edits", func(t *testing.T) {
		var bfd v1beta1.BFDProfile
		getObj(t, c, lab.BFDProfile, &bfd)
		bfd.Spec.ReceiveInterval = ptr.To[uint32](5)
		if err := c.Client.Update(ctx, &bfd); !apierrors.IsInvalid(err) {
			t.Fatalf("BFDProfile with receiveInterval 5: want the API server to refuse it, got %v", err)
		} else {
			t.Logf("refused as expected: %v", err)
		}
		var peer v1beta2.BGPPeer
		getObj(t, c, lab.RouterPeer, &peer)
		peer.Spec.Address = "198.51.100.300"
		if err := c.Client.Update(ctx, &peer); !apierrors.IsInvalid(err) {
			t.Fatalf("BGPPeer with peerAddress 198.51.100.300: want the API server to refuse it, got %v", err)
		} else {
			t.Logf("refused as expected: %v", err)
		}
		stillGood("after rejected edits")
	})

	t.Run("missing BFD profile", func(t *testing.T) {
		confBefore := readConf(t, c.Node("node1"))
		var peer v1beta2.BGPPeer
		getObj(t, c, lab.RouterPeer, &peer)
		peer.Spec.BFDProfile = "no-such-profile"
		if err := c.Client.Update(ctx, &peer); err != nil {
			t.Fatalf("the API server accepts the reference (it is checked across objects): %v", err)
		}
		defer func() {
			getObj(t, c, lab.RouterPeer, &peer)
			peer.Spec.BFDProfile = lab.BFDProfile
			if err := c.Client.Update(ctx, &peer); err != nil {
				t.Errorf("restoring the peer: %v", err)
			}
			c.Eventually(t, lab.Short, func() error { return speakerValid(c, lab.RouterPeer, true) })
		}()
		// The speaker reports the problem on the object; its last good version stays in effect.
		c.Eventually(t, lab.Short, func() error { return speakerValid(c, lab.RouterPeer, false) })
		stillGood("after a BGPPeer edit naming a missing BFDProfile")
		if now := readConf(t, c.Node("node1")); now != confBefore {
			t.Errorf("node1's frr.conf changed after an invalid edit:\nbefore:\n%s\nnow:\n%s", confBefore, now)
		}
	})

	t.Run("wrong ASN", func(t *testing.T) {
		bad := &v1beta2.BGPPeer{ObjectMeta: lab.ObjectMeta("router2"), Spec: v1beta2.BGPPeerSpec{
			MyASN: lab.NodeASN, ASN: 64999, Address: lab.BadRouterAddr, BFDProfile: lab.BFDProfile,
			ConnectTime: ptrDuration(5 * time.Second)}}
		if err := c.Client.Create(ctx, bad); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = c.Client.Delete(ctx, bad)
			c.Eventually(t, lab.Short, func() error {
				if strings.Contains(readConf(t, c.Node("node1")), lab.BadRouterAddr) {
					return fmt.Errorf("node1 still configures %s", lab.BadRouterAddr)
				}
				return nil
			})
		}()
		for _, n := range c.Nodes {
			c.Eventually(t, lab.Short, func() error { return badASNSeen(n) })
			// The reloader's metrics say the session is down.
			c.Eventually(t, lab.Short, func() error {
				page, err := lab.Metrics(ctx, n.Host.NS, "127.0.0.1:9121")
				if err != nil {
					return err
				}
				lines := lab.MetricLines(page, "routelb_frr_bgp_session_up", `peer="`+lab.BadRouterAddr+`"`)
				if len(lines) == 0 || !strings.HasSuffix(lines[0], " 0") {
					return fmt.Errorf("%s: routelb_frr_bgp_session_up for %s: %v", n.Name, lab.BadRouterAddr, lines)
				}
				up := lab.MetricLines(page, "routelb_frr_bgp_session_up", `peer="`+lab.RouterAddr+`"`)
				if len(up) == 0 || !strings.HasSuffix(up[0], " 1") {
					return fmt.Errorf("%s: routelb_frr_bgp_session_up for the router: %v", n.Name, up)
				}
				return nil
			})
			// So does the BGPPeers' status: the node's entry on router2 is down with FRR's reason, on
			// the router Established.
			c.Eventually(t, lab.Short, func() error { return sessionState(c, n.Name, "router2", false, "Bad Peer AS", "64999") })
			c.Eventually(t, lab.Short, func() error { return sessionState(c, n.Name, lab.RouterPeer, true) })
		}
		var shown v1beta2.BGPPeer
		getObj(t, c, "router2", &shown)
		t.Logf("router2 status.sessions: %+v", shown.Status.Sessions)
		stillGood("with a second peer configured with a wrong ASN")
	})
}

func ptrDuration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func getObj(t *testing.T, c *lab.Cluster, name string, obj client.Object) {
	t.Helper()
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: lab.NS, Name: name}, obj); err != nil {
		t.Fatal(err)
	}
}

func readConf(t *testing.T, n *lab.Node) string {
	t.Helper()
	b, err := os.ReadFile(n.ConfPath())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// speakerValid checks the SpeakerValid condition the speakers set on the peer.
func speakerValid(c *lab.Cluster, name string, want bool) error {
	var peer v1beta2.BGPPeer
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: lab.NS, Name: name}, &peer); err != nil {
		return err
	}
	cond := meta.FindStatusCondition(peer.Status.Conditions, "SpeakerValid")
	if cond == nil || (cond.Status == "True") != want {
		return fmt.Errorf("BGPPeer %s: SpeakerValid is %+v, want %v", name, cond, want)
	}
	return nil
}

// badASNSeen checks, on the node's FRR, that the session with router2 is down because of its ASN.
func badASNSeen(n *lab.Node) error {
	out, err := n.FRR.Vtysh("-c", "show bgp neighbors "+lab.BadRouterAddr)
	if err != nil {
		return err
	}
	if strings.Contains(out, "BGP state = Established") {
		return fmt.Errorf("%s: session with %s is Established despite the wrong ASN", n.Name, lab.BadRouterAddr)
	}
	if !strings.Contains(strings.ToLower(out), "bad peer as") {
		return fmt.Errorf("%s: no 'Bad Peer AS' in the session's last error yet:\n%s", n.Name, out)
	}
	return nil
}

// sessionState checks node's entry in the BGPPeer's status.sessions: Established or not, and a
// LastError with every part.
func sessionState(c *lab.Cluster, node, peer string, established bool, lastError ...string) error {
	var p v1beta2.BGPPeer
	if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: lab.NS, Name: peer}, &p); err != nil {
		return err
	}
	for _, e := range p.Status.Sessions {
		if e.Node != node {
			continue
		}
		if (e.State == "Established") != established {
			return fmt.Errorf("BGPPeer %s, node %s: session %+v, want Established %v", peer, node, e, established)
		}
		for _, part := range lastError {
			if !strings.Contains(e.LastError, part) {
				return fmt.Errorf("BGPPeer %s, node %s: lastError %q does not mention %q", peer, node, e.LastError, part)
			}
		}
		return nil
	}
	return fmt.Errorf("BGPPeer %s: no session entry for node %s in %+v", peer, node, p.Status.Sessions)
}
