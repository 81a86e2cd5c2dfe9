package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/e2e/lab"
)

// TestNodeExclusionWithdraws: labelling a node node.kubernetes.io/exclude-from-external-load-balancers
// (what drain tooling does) withdraws its nexthop at the router and removing the label restores it;
// a NetworkUnavailable=True condition does the same, as in MetalLB. A Cluster Service served by one
// pod is announced by every node. How long the withdrawal took is logged: speed is a benchmark's
// business, the bounds here are generous.
func TestNodeExclusionWithdraws(t *testing.T) {
	c := use(t)
	ctx := context.Background()
	const name = "web-exclude"
	if err := c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: lab.BGPPool, EndpointNodes: []string{"node1"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteService(ctx, name) })
	vip := c.WaitVIP(t, name)
	c.WaitNexthops(t, vip, "node1", "node2", "node3")

	start := time.Now()
	updateNode(t, c, "node2", func(n *corev1.Node) { n.Labels[corev1.LabelNodeExcludeBalancers] = "" }, false)
	t.Cleanup(func() {
		updateNode(t, c, "node2", func(n *corev1.Node) { delete(n.Labels, corev1.LabelNodeExcludeBalancers) }, false)
	})
	c.WaitNexthops(t, vip, "node1", "node3")
	t.Logf("exclusion label written to nexthop gone at the router: %v", time.Since(start))
	updateNode(t, c, "node2", func(n *corev1.Node) { delete(n.Labels, corev1.LabelNodeExcludeBalancers) }, false)
	c.WaitNexthops(t, vip, "node1", "node2", "node3")

	start = time.Now()
	updateNode(t, c, "node3", func(n *corev1.Node) { setNetworkUnavailable(n, corev1.ConditionTrue) }, true)
	t.Cleanup(func() {
		updateNode(t, c, "node3", func(n *corev1.Node) { setNetworkUnavailable(n, corev1.ConditionFalse) }, true)
	})
	c.WaitNexthops(t, vip, "node1", "node2")
	t.Logf("NetworkUnavailable=True written to nexthop gone at the router: %v", time.Since(start))
	updateNode(t, c, "node3", func(n *corev1.Node) { setNetworkUnavailable(n, corev1.ConditionFalse) }, true)
	c.WaitNexthops(t, vip, "node1", "node2", "node3")
}

// TestLocalRollingUpdateKeepsRoute: during a rolling update of an externalTrafficPolicy Local
// workload, the old pod (terminating, still serving) keeps its node's route while the new pod comes
// up on another node, and its node withdraws only once it stops serving, as in MetalLB.
func TestLocalRollingUpdateKeepsRoute(t *testing.T) {
	c := use(t)
	ctx := context.Background()
	const name = "web-rolling"
	if err := c.CreateService(ctx, lab.ServiceSpec{Name: name, Pool: lab.BGPPool, Local: true, EndpointNodes: []string{"node1"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteService(ctx, name) })
	vip := c.WaitVIP(t, name)
	c.WaitNexthops(t, vip, "node1")

	no, yes := false, true
	old := discoveryv1.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}
	updateSlice(t, c, name+"-lab", func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Conditions = old })
	// The new pod, ready on node2, written after the old one began terminating.
	updateSlice(t, c, name+"-lab", func(es *discoveryv1.EndpointSlice) {
		n2 := es.Endpoints[0]
		n2.Addresses, n2.NodeName = []string{"10.244.102.10"}, ptr.To("node2")
		n2.Conditions = discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no}
		es.Endpoints = append(es.Endpoints, n2)
	})
	c.WaitNexthops(t, vip, "node1", "node2")
	// The old pod stops serving: only then does node1 withdraw.
	updateSlice(t, c, name+"-lab", func(es *discoveryv1.EndpointSlice) {
		es.Endpoints[0].Conditions = discoveryv1.EndpointConditions{Ready: &no, Serving: &no, Terminating: &yes}
	})
	c.WaitNexthops(t, vip, "node2")
}

func updateSlice(t *testing.T, c *lab.Cluster, name string, mut func(*discoveryv1.EndpointSlice)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var es discoveryv1.EndpointSlice
		if err := c.Client.Get(context.Background(), client.ObjectKey{Namespace: lab.AppNamespace, Name: name}, &es); err != nil {
			return err
		}
		mut(&es)
		return c.Client.Update(context.Background(), &es)
	})
	if err != nil {
		t.Fatalf("updating EndpointSlice %s: %v", name, err)
	}
}

func updateNode(t *testing.T, c *lab.Cluster, name string, mut func(*corev1.Node), status bool) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var n corev1.Node
		if err := c.Client.Get(context.Background(), client.ObjectKey{Name: name}, &n); err != nil {
			return err
		}
		mut(&n)
		if status {
			return c.Client.Status().Update(context.Background(), &n)
		}
		return c.Client.Update(context.Background(), &n)
	})
	if err != nil {
		t.Fatalf("updating Node %s: %v", name, err)
	}
}

// setNetworkUnavailable sets the condition as a network plugin does, keeping the others (Ready).
func setNetworkUnavailable(n *corev1.Node, st corev1.ConditionStatus) {
	cond := corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: st, Reason: "LabNetwork", LastTransitionTime: metav1.Now()}
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == cond.Type {
			n.Status.Conditions[i] = cond
			return
		}
	}
	n.Status.Conditions = append(n.Status.Conditions, cond)
}
