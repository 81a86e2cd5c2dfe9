package charts_test

import (
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
)

const (
	labelNode    = "metallb.io/node" // the speaker's status objects' node label
	claimsKey    = "l2.routelb.io/claims"
	fencedByKey  = "l2.routelb.io/fenced-by"
	ownNodeWords = "may write only"
)

// speakerAs is a client with the speaker's identity on node ("" : credentials that name no node).
func speakerAs(t *testing.T, s *server, node string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(s.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: saUser("routelb-speaker"), Groups: saGroups(), Extra: saExtra("routelb-speaker", node)}
	c, err := client.New(cfg, client.Options{Scheme: s.client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("speaker %s: %v, want allowed", what, err)
	}
}

func wantOwnNodeRefusal(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), ownNodeWords) {
		t.Errorf("speaker %s: %v, want refused by the chart's own-node policy", what, err)
	}
}

func bgpStatus(name, node string) *v1beta1.ServiceBGPStatus {
	return &v1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
		Labels: map[string]string{labelNode: node}}}
}

func l2Status(name, node string) *v1beta1.ServiceL2Status {
	return &v1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
		Labels: map[string]string{labelNode: node}}}
}

func ownershipLease(node string, claims string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "routelb-l2-" + node, Namespace: namespace,
		Annotations: map[string]string{claimsKey: claims, "l2.routelb.io/incarnation": "1"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](15)}}
}

// checkOwnNodePolicy: the speaker of node vap-a (its credentials' node-name extra) may write its
// own status objects, ConfigurationState and Lease, and fence another node's Lease, but not write
// another node's, nor relabel its own to another node; without a node name it may write none.
// (The speaker's Role has no update on ServiceBGPStatus itself, only on its status, which
// cannot change labels.)
func checkOwnNodePolicy(t *testing.T, s *server) {
	ctx := t.Context()
	a, none := speakerAs(t, s, "vap-a"), speakerAs(t, s, "")

	// ServiceBGPStatus.
	mine := bgpStatus("vap-a-bgp", "vap-a")
	wantOK(t, "creating its ServiceBGPStatus", a.Create(ctx, mine))
	mine.Status.Node = "vap-a"
	wantOK(t, "updating its ServiceBGPStatus's status", a.Status().Update(ctx, mine))
	wantOK(t, "deleting its ServiceBGPStatus", a.Delete(ctx, mine))
	wantOwnNodeRefusal(t, "creating another node's ServiceBGPStatus", a.Create(ctx, bgpStatus("vap-b-bgp-1", "vap-b")))
	theirs := bgpStatus("vap-b-bgp-2", "vap-b")
	if err := s.client.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	theirs.Status.Node = "vap-a"
	wantOwnNodeRefusal(t, "updating another node's ServiceBGPStatus", a.Status().Update(ctx, theirs))
	wantOwnNodeRefusal(t, "deleting another node's ServiceBGPStatus", a.Delete(ctx, theirs))
	wantRefusedNoNode(t, none.Create(ctx, bgpStatus("no-node-bgp", "vap-a")))

	// ServiceL2Status: another node's may be deleted (a live speaker removes a dead node's).
	mineL2 := l2Status("vap-a-l2", "vap-a")
	wantOK(t, "creating its ServiceL2Status", a.Create(ctx, mineL2))
	mineL2.Labels[labelNode] = "vap-b"
	wantOwnNodeRefusal(t, "relabelling its ServiceL2Status to another node", a.Update(ctx, mineL2))
	wantOwnNodeRefusal(t, "creating another node's ServiceL2Status", a.Create(ctx, l2Status("vap-b-l2-1", "vap-b")))
	theirL2 := l2Status("vap-b-l2-2", "vap-b")
	if err := s.client.Create(ctx, theirL2); err != nil {
		t.Fatal(err)
	}
	theirL2.Labels["extra"] = "x"
	wantOwnNodeRefusal(t, "updating another node's ServiceL2Status", a.Update(ctx, theirL2))
	wantOK(t, "deleting a dead node's ServiceL2Status", a.Delete(ctx, theirL2))

	// ConfigurationState.
	state := func(name string) *v1beta1.ConfigurationState {
		return &v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	}
	wantOK(t, "creating its ConfigurationState", a.Create(ctx, state("speaker-vap-a")))
	wantOwnNodeRefusal(t, "creating another node's ConfigurationState", a.Create(ctx, state("speaker-vap-b")))

	// Leases.
	own := ownershipLease("vap-a", "")
	wantOK(t, "creating its Lease", a.Create(ctx, own))
	own.Annotations[claimsKey] = "203.0.113.10"
	wantOK(t, "renewing its Lease", a.Update(ctx, own))
	wantOwnNodeRefusal(t, "creating another node's Lease", a.Create(ctx, ownershipLease("vap-c", "")))
	other := ownershipLease("vap-b", "203.0.113.11")
	if err := s.client.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	stolen := other.DeepCopy()
	stolen.Spec.HolderIdentity = ptr.To("vap-a")
	wantOwnNodeRefusal(t, "taking another node's Lease", a.Update(ctx, stolen))
	badFence := other.DeepCopy()
	badFence.Annotations[claimsKey], badFence.Annotations[fencedByKey] = "", "vap-c"
	wantOwnNodeRefusal(t, "fencing in another node's name", a.Update(ctx, badFence))
	greedy := other.DeepCopy()
	greedy.Annotations[claimsKey], greedy.Annotations[fencedByKey] = "203.0.113.12", "vap-a"
	wantOwnNodeRefusal(t, "writing claims into another node's Lease", a.Update(ctx, greedy))
	fence := other.DeepCopy()
	fence.Annotations[claimsKey], fence.Annotations[fencedByKey] = "", "vap-a"
	wantOK(t, "fencing another node's expired Lease", a.Update(ctx, fence))
	wantOwnNodeRefusal(t, "deleting another node's Lease", a.Delete(ctx, fence))
	wantOK(t, "deleting its Lease", a.Delete(ctx, own))
}

func wantRefusedNoNode(t *testing.T, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "name no node") {
		t.Errorf("speaker without a node name writing: %v, want refused by the chart's own-node policy", err)
	}
}

// checkPodBoundToken: a real token of the speaker's ServiceAccount bound to a Pod on a Node (what
// the kubelet mounts, here asked for with TokenRequest) carries the node's name, and the own-node
// policy holds with it: its Lease and ServiceBGPStatus may be written, another node's may not.
func checkPodBoundToken(t *testing.T, s *server) {
	ctx := t.Context()
	const tokenNode = "token-node"
	if err := s.client.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: tokenNode}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "speaker-token", Namespace: namespace},
		Spec: corev1.PodSpec{ServiceAccountName: "routelb-speaker", NodeName: tokenNode,
			Containers: []corev1.Container{{Name: "speaker", Image: "routelb:test"}}}}
	if err := s.client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.client.Delete(ctx, pod) })
	cs, err := kubernetes.NewForConfig(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, "routelb-speaker", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600),
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest bound to pod %s: %v", pod.Name, err)
	}
	cfg := &rest.Config{Host: s.cfg.Host, TLSClientConfig: rest.TLSClientConfig{CAData: s.cfg.CAData}, BearerToken: tr.Status.Token}
	tcs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	who, err := tcs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := who.Status.UserInfo; u.Username != saUser("routelb-speaker") || len(u.Extra[nodeNameExtra]) != 1 || u.Extra[nodeNameExtra][0] != tokenNode {
		t.Fatalf("the pod-bound token authenticates as %s with extra %v, want %s on node %s", u.Username, u.Extra, saUser("routelb-speaker"), tokenNode)
	}
	c, err := client.New(cfg, client.Options{Scheme: s.client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	wantOK(t, "creating its Lease with its pod's token", c.Create(ctx, ownershipLease(tokenNode, "")))
	wantOK(t, "creating its ServiceBGPStatus with its pod's token", c.Create(ctx, bgpStatus("token-node-bgp", tokenNode)))
	wantOwnNodeRefusal(t, "creating another node's Lease with its pod's token", c.Create(ctx, ownershipLease("vap-d", "")))
	wantOwnNodeRefusal(t, "creating another node's ServiceBGPStatus with its pod's token", c.Create(ctx, bgpStatus("vap-d-bgp", "vap-d")))
}
