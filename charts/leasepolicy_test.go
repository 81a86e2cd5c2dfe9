package charts_test

import (
	"strings"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// checkLeasePolicy: the speaker's identity may create, update and delete a Layer 2 ownership
// Lease, but the chart's admission policy refuses it the controller's leader Lease (update and
// delete) and any other Lease name, which its Role alone would allow. Runs after the binaries,
// whose check counts every refused request of the ServiceAccounts.
func checkLeasePolicy(t *testing.T, s *server) {
	ctx := t.Context()
	cfg := rest.CopyConfig(s.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: saUser("routelb-speaker"), Groups: saGroups(), Extra: saExtra("routelb-speaker", "policy-node")}
	spk, err := client.New(cfg, client.Options{Scheme: s.client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	}
	own := lease("routelb-l2-policy-node")
	holder := "policy-node"
	own.Spec.HolderIdentity = &holder
	if err := spk.Create(ctx, own); err != nil {
		t.Fatalf("speaker creating its ownership Lease: %v", err)
	}
	secs := int32(15)
	own.Spec.LeaseDurationSeconds = &secs
	if err := spk.Update(ctx, own); err != nil {
		t.Fatalf("speaker updating its ownership Lease: %v", err)
	}
	if err := spk.Delete(ctx, own); err != nil {
		t.Fatalf("speaker deleting an ownership Lease: %v", err)
	}

	leader := lease("routelb-controller")
	if err := s.client.Get(ctx, client.ObjectKeyFromObject(leader), leader); apierrors.IsNotFound(err) {
		if err := s.client.Create(ctx, leader); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	thief := "speaker"
	leader.Spec.HolderIdentity = &thief
	wantRefused(t, "updating the controller's leader Lease", spk.Update(ctx, leader))
	wantRefused(t, "deleting the controller's leader Lease", spk.Delete(ctx, leader))
	wantRefused(t, "creating another Lease", spk.Create(ctx, lease("something-else")))
}

func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "Layer 2 ownership Leases") {
		t.Errorf("speaker %s: %v, want refused by the chart's admission policy", what, err)
	}
}
