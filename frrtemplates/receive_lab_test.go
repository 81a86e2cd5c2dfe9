package frrtemplates_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

// TestLabReceive: with toReceive listing one prefix, the node keeps exactly that one of the
// router's default route and 100 prefixes, in its BGP table and in its kernel, and nothing else
// the router sends reaches either.
func TestLabReceive(t *testing.T) {
	netlab.ForEachFRR(t, testLabReceive)
}

func testLabReceive(t *testing.T, v *netlab.FRRVersion) {
	lab := templatetest.NewLab(t, "root and FRR", "198.18.0.0/15")
	router := lab.StartFRR(lab.AddHost("router", "198.51.100.1/24"), "router", sendingRouter())
	nodeHost := lab.AddHost("node", "198.51.100.11/24")
	before := kernelRoutes(t, nodeHost)
	in := templatetest.ScaleInput(3)
	in.Peers = in.Peers[:1]
	in.Peers[0].Spec.ToReceive = &v1beta2.Receive{Allowed: v1beta2.AllowedInPrefixes{Mode: v1beta2.AllowFiltered,
		Prefixes: []v1beta2.PrefixSelector{{Prefix: "198.19.7.0/24"}}}}
	node := lab.StartFRRVersion(v, nodeHost, "node", string(templatetest.MustCompute(t, in, nodeconfig.DaemonFRR).Rendered))
	router.WaitEstablished("198.51.100.11", templatetest.BootTimeout)
	waitReceived(t, router, 3, templatetest.BootTimeout)

	const allowed = "198.19.7.0/24"
	lab.Eventually(templatetest.BootTimeout, func() error {
		if !hasKernelRoute(t, nodeHost, allowed) {
			return fmt.Errorf("the node's kernel has no route to %s yet", allowed)
		}
		// Every update the router sent has been read, so a denied prefix would be there by now.
		if sent, recv := updates(t, router, "198.51.100.11", "updatesSent"), updates(t, node, "198.51.100.1", "updatesRecv"); recv < sent {
			return fmt.Errorf("node read %d of the router's %d updates", recv, sent)
		}
		return nil
	})
	var table struct {
		Routes map[string]json.RawMessage `json:"routes"`
	}
	if err := json.Unmarshal([]byte(node.MustVtysh("show bgp ipv4 unicast json")), &table); err != nil {
		t.Fatal(err)
	}
	for prefix := range table.Routes {
		if prefix != allowed && !strings.HasPrefix(prefix, "198.18.0.") {
			t.Errorf("the node's BGP table holds %s, which toReceive does not allow", prefix)
		}
	}
	if _, ok := table.Routes[allowed]; !ok {
		t.Errorf("the node's BGP table lacks %s", allowed)
	}
	var added []string
	for _, r := range kernelRoutes(t, nodeHost) {
		if !slices.Contains(before, r) {
			added = append(added, r)
		}
	}
	if len(added) != 1 || !strings.HasPrefix(added[0], allowed+" ") || !strings.Contains(added[0], "via 198.51.100.1") {
		t.Errorf("the node's kernel gained %q, want only %s via the router", added, allowed)
	}
}

func hasKernelRoute(t *testing.T, h *netlab.Host, prefix string) bool {
	t.Helper()
	for _, r := range kernelRoutes(t, h) {
		if strings.HasPrefix(r, prefix+" ") {
			return true
		}
	}
	return false
}
