package ipam

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// TestBGPPeerV1beta1 serves BGPPeer metallb.io/v1beta1 through the controller's conversion webhook
// on a real API server: a v1beta1 manifest (MetalLB's) is stored as v1beta2, both versions list,
// and a v1beta1 client's read-modify-write keeps the fields only v1beta2 has.
func TestBGPPeerV1beta1(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts an API server")
	}
	e := startIPAMEnv(t, true)
	e.startManager()
	ctx := context.Background()
	ns := testenv.Namespace
	old := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metallb.io/v1beta1", "kind": "BGPPeer",
		"metadata": map[string]any{"name": "legacy", "namespace": ns},
		"spec": map[string]any{"myASN": int64(64512), "peerASN": int64(64513), "peerAddress": "198.51.100.1",
			"nodeSelectors": []any{map[string]any{"matchExpressions": []any{
				map[string]any{"key": "kubernetes.io/hostname", "operator": "In", "values": []any{"node1"}}}}}},
	}}
	eventually(t, "the webhooks serving", func() (bool, string) {
		err := e.c.Create(ctx, old.DeepCopy())
		return err == nil, errString(err)
	})
	var stored v1beta2.BGPPeer
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "legacy"}, &stored); err != nil {
		t.Fatal(err)
	}
	if s := stored.Spec; s.ASN != 64513 || s.HoldTime != nil || len(s.NodeSelectors) != 1 ||
		s.NodeSelectors[0].MatchExpressions[0].Values[0] != "node1" {
		t.Fatalf("read as v1beta2: %+v", s)
	}

	// A v1beta2 peer with fields v1beta1 has not, edited through v1beta1.
	modern := &v1beta2.BGPPeer{}
	modern.Name, modern.Namespace = "modern", ns
	modern.Spec = v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "198.51.100.2", VRFName: "red", EnableGracefulRestart: true, DualStackAddressFamily: true}
	if err := e.c.Create(ctx, modern); err != nil {
		t.Fatal(err)
	}
	var list v1beta1.BGPPeerList
	if err := e.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("kubectl get bgppeers.v1beta1.metallb.io: %v", err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("v1beta1 list: %d peers", len(list.Items))
	}
	var asV1 v1beta1.BGPPeer
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "modern"}, &asV1); err != nil {
		t.Fatal(err)
	}
	asV1.Spec.Port = 1179
	if err := e.c.Update(ctx, &asV1); err != nil {
		t.Fatalf("update through v1beta1: %v", err)
	}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "modern"}, modern); err != nil {
		t.Fatal(err)
	}
	if s := modern.Spec; s.Port != 1179 || s.VRFName != "red" || !s.EnableGracefulRestart || !s.DualStackAddressFamily {
		t.Fatalf("after a v1beta1 update: %+v", s)
	}
	if _, ok := modern.Annotations[v1beta2.AnnotationV1beta2Spec]; ok {
		t.Errorf("the conversion annotation leaked into v1beta2: %v", modern.Annotations)
	}

	// In a cluster the controller points the CRD at its Service; last, as it breaks conversion here.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), e.env.WebhookInstallOptions.LocalServingCAData, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := EnsureConversionWebhook(ctx, e.c, ConversionService{Namespace: ns, Name: "routelb-webhook", Port: 443}, dir); err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := e.c.Get(ctx, client.ObjectKey{Name: BGPPeerCRD}, crd); err != nil {
		t.Fatal(err)
	}
	svc, _, _ := unstructured.NestedMap(crd.Object, "spec", "conversion", "webhook", "clientConfig", "service")
	ca, _, _ := unstructured.NestedString(crd.Object, "spec", "conversion", "webhook", "clientConfig", "caBundle")
	if svc["name"] != "routelb-webhook" || svc["namespace"] != ns || svc["path"] != ConversionPath || ca == "" {
		t.Fatalf("CRD conversion: service %v caBundle %q", svc, ca)
	}
}
