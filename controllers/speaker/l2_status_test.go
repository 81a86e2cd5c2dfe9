package speaker

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
)

// TestStatusKeysCannotCollide: the Services prod/web-api and prod-web/api on one node, whose names
// joined with dashes are equal, have distinct keys; duplicates of one key sort oldest first.
func TestStatusKeysCannotCollide(t *testing.T) {
	obj := func(name, ns, svc string, age time.Duration) *v1beta1.ServiceBGPStatus {
		k := statusKey{Node: "node1"}
		k.svc.Namespace, k.svc.Name = ns, svc
		return &v1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: k.labels(),
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age))}}
	}
	byKey, unlabelled := groupByKey([]*v1beta1.ServiceBGPStatus{
		obj("bgp-b", "prod", "web-api", time.Hour), obj("bgp-a", "prod-web", "api", time.Hour),
		obj("bgp-new", "prod", "web-api", 0), {ObjectMeta: metav1.ObjectMeta{Name: "stray"}},
	})
	if len(byKey) != 2 || len(unlabelled) != 1 || unlabelled[0].Name != "stray" {
		t.Fatalf("keys %v, unlabelled %v", byKey, unlabelled)
	}
	for k, list := range byKey {
		if k.svc.String() == "prod/web-api" && (len(list) != 2 || list[0].Name != "bgp-b") {
			t.Errorf("prod/web-api: %v, want bgp-b (the oldest) first", list)
		}
	}
}

func TestBackoff(t *testing.T) {
	var b backoff
	var got []time.Duration
	for range 14 {
		got = append(got, b.next())
	}
	if got[0] != 200*time.Millisecond || got[1] != 400*time.Millisecond || got[13] != 5*time.Minute {
		t.Errorf("backoff %v, want 200ms doubling up to 5m", got)
	}
	b.reset()
	if d := b.next(); d != 200*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}
