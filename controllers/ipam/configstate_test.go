package ipam

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// TestControllerConfigurationState: the controller writes ConfigurationState "controller" with
// MetalLB's label, Invalid with the problem while two pools overlap (no webhook here to refuse
// them), Valid again once fixed, and writes it again when it is deleted.
func TestControllerConfigurationState(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts an API server")
	}
	e := startIPAMEnv(t, false)
	e.startManager()
	ctx := context.Background()
	ns := testenv.Namespace
	state := func(result v1beta1.ConfigurationResult, summary string) func() (bool, string) {
		return func() (bool, string) {
			var st v1beta1.ConfigurationState
			if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "controller"}, &st); err != nil {
				return false, err.Error()
			}
			c := meta.FindStatusCondition(st.Status.Conditions, "ConfigurationValid")
			ok := st.Status.Result == result && strings.Contains(st.Status.ErrorSummary, summary) && c != nil &&
				st.Labels[v1beta1.LabelComponentType] == "controller"
			return ok, fmt.Sprintf("%+v %+v", st.Labels, st.Status)
		}
	}
	pool := func(name, cidr string) *v1beta1.IPAddressPool {
		return &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{v1beta1.PoolAddress(cidr)}}}
	}
	if err := e.c.Create(ctx, pool("a", "203.0.113.0/28")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Valid", state(v1beta1.ConfigurationResultValid, ""))
	b := pool("b", "203.0.113.8/29")
	if err := e.c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Invalid", state(v1beta1.ConfigurationResultInvalid, "IPAddressPool b: spec.addresses: 203.0.113.8-203.0.113.15 overlaps addresses of IPAddressPool a"))
	if err := e.c.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Valid again", state(v1beta1.ConfigurationResultValid, ""))
	if err := e.c.Delete(ctx, &v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "controller"}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "written again after a deletion", state(v1beta1.ConfigurationResultValid, ""))
}
