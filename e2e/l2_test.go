package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/e2e/lab"
)

// l2SpeakerArgs are extra speaker flags for Layer 2 mode: none, it is on by default (--layer2) with
// its default Lease timing, as operators run it.
func l2SpeakerArgs() []string { return nil }

// TestLayer2 is the seed's Layer 2 scenario: exactly one node answers ARP for the VIP and serves the
// client; when that node's speaker is SIGKILLed another node takes over, and ServiceL2Status follows.
func TestLayer2(t *testing.T) {
	c := use(t)
	ctx := context.Background()
	const name = "web-l2"
	if err := c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: lab.L2Pool, EndpointNodes: lab.NodeNames}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteService(ctx, name) })
	vip := c.WaitVIP(t, name)
	owner := waitOneOwner(t, c, vip, "")
	c.Eventually(t, lab.Short, func() error { return servedBy(c, vip, owner) })
	c.Eventually(t, lab.Short, func() error { return l2StatusOn(c, name, owner) })
	t.Logf("%s: owner %s", vip, owner)

	sp := c.Node(owner).Speaker
	if err := sp.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = sp.Restart()
		}
	}()
	next := waitOneOwner(t, c, vip, owner)
	c.Eventually(t, lab.Short, func() error { return servedBy(c, vip, next) })
	c.Eventually(t, lab.Short, func() error {
		if got := c.ClientNeighbor(vip); got != next {
			return fmt.Errorf("client's neighbour entry for %s points at %q, want %s", vip, got, next)
		}
		return nil
	})
	c.Eventually(t, lab.Short, func() error { return l2StatusOn(c, name, next) })
	t.Logf("%s: after SIGKILL of %s's speaker, owner %s", vip, owner, next)

	// Back up, the restarted speaker cleans its stale status; still exactly one node answers.
	if err := sp.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	c.Eventually(t, lab.Short, func() error { return onlyL2Status(c, name) })
	final := waitOneOwner(t, c, vip, "")
	c.Eventually(t, lab.Short, func() error { return servedBy(c, vip, final) })
}

// waitOneOwner waits until exactly one node, other than not, answers ARP for vip, three times in a row.
func waitOneOwner(t *testing.T, c *lab.Cluster, vip, not string) string {
	t.Helper()
	owner := c.WaitARPOwner(t, lab.Short, vip, not)
	if c.NodeByMAC(c.Node(owner).MAC) == nil {
		t.Fatalf("ARP owner %q is not a lab node", owner)
	}
	return owner
}

// servedBy requires 10 requests on new connections to succeed, all answered by node.
func servedBy(c *lab.Cluster, vip, node string) error {
	return lab.SpreadOver(c, vip, 10, node)
}

func l2Statuses(c *lab.Cluster, svc string) ([]string, error) {
	var list v1beta1.ServiceL2StatusList
	if err := c.Client.List(context.Background(), &list, client.InNamespace(lab.NS)); err != nil {
		return nil, err
	}
	var nodes []string
	for _, s := range list.Items {
		if s.Status.ServiceName == svc && s.Status.ServiceNamespace == lab.AppNamespace {
			nodes = append(nodes, s.Status.Node)
		}
	}
	sort.Strings(nodes)
	return nodes, nil
}

// l2StatusOn requires a ServiceL2Status saying node announces svc.
func l2StatusOn(c *lab.Cluster, svc, node string) error {
	nodes, err := l2Statuses(c, svc)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n == node {
			return nil
		}
	}
	return fmt.Errorf("ServiceL2Status of %s names nodes %v, want %s", svc, nodes, node)
}

// onlyL2Status requires exactly one ServiceL2Status for svc, naming the node that answers ARP.
func onlyL2Status(c *lab.Cluster, svc string) error {
	nodes, err := l2Statuses(c, svc)
	if err != nil {
		return err
	}
	if len(nodes) != 1 {
		return fmt.Errorf("ServiceL2Status of %s names nodes %v, want exactly one", svc, nodes)
	}
	vip, err := c.VIP(context.Background(), svc)
	if err != nil {
		return err
	}
	owners, err := c.ARPOwners(vip, 2)
	if err != nil {
		return err
	}
	if strings.Join(owners, ",") != nodes[0] {
		return fmt.Errorf("ServiceL2Status of %s names %s but ARP is answered by %v", svc, nodes[0], owners)
	}
	return nil
}
