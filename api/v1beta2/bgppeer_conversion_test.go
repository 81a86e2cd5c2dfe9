package v1beta2

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
)

// TestBGPPeerConversion: v1beta2 -> v1beta1 -> v1beta2 keeps every field, the fields v1beta1 lacks
// riding in an annotation; a v1beta1 peer without timers gets none (not 0s, which would disable
// keepalives).
func TestBGPPeerConversion(t *testing.T) {
	d := func(s time.Duration) *metav1.Duration { return &metav1.Duration{Duration: s} }
	full := BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "metallb-system", Annotations: map[string]string{"keep": "me"}},
		Spec: BGPPeerSpec{
			MyASN: 64513, ASN: 64512, Address: "198.51.100.1", SrcAddress: "198.51.100.2", Port: 1179,
			HoldTime: d(0), KeepaliveTime: d(0), ConnectTime: d(5 * time.Second), RouterID: "10.0.0.1",
			NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: metav1.LabelSelectorOpIn, Values: []string{"v"}}}}},
			PasswordSecret: corev1.SecretReference{Name: "pw"}, BFDProfile: "fast", EnableGracefulRestart: true,
			EBGPMultiHop: true, VRFName: "red", DualStackAddressFamily: true, LocalASN: 65000,
			ToReceive: &Receive{Allowed: AllowedInPrefixes{Mode: AllowFiltered,
				Prefixes: []PrefixSelector{{Prefix: "198.51.100.0/24", GE: 25, LE: 32}}}},
		}}
	var hub v1beta1.BGPPeer
	if err := full.ConvertTo(&hub); err != nil {
		t.Fatal(err)
	}
	if hub.Spec.Address != "198.51.100.1" || hub.Spec.BFDProfile != "fast" || len(hub.Spec.NodeSelectors) != 1 ||
		hub.Spec.NodeSelectors[0].MatchExpressions[0].Operator != "In" || hub.Annotations["keep"] != "me" {
		t.Fatalf("v1beta1: %+v", hub)
	}
	var back BGPPeer
	if err := back.ConvertFrom(&hub); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Spec, full.Spec) || !reflect.DeepEqual(back.Annotations, full.Annotations) {
		t.Fatalf("round trip lost something:\n got %+v %v\nwant %+v %v", back.Spec, back.Annotations, full.Spec, full.Annotations)
	}

	plain := v1beta1.BGPPeer{Spec: v1beta1.BGPPeerSpec{MyASN: 1, ASN: 2, Address: "198.51.100.1",
		NodeSelectors: []v1beta1.NodeSelector{{MatchLabels: map[string]string{"rack": "a"}}}}}
	var p BGPPeer
	if err := p.ConvertFrom(&plain); err != nil {
		t.Fatal(err)
	}
	if p.Spec.HoldTime != nil || p.Spec.KeepaliveTime != nil || p.Annotations != nil || p.Spec.NodeSelectors[0].MatchLabels["rack"] != "a" {
		t.Fatalf("v1beta2 from a plain v1beta1: %+v %v", p.Spec, p.Annotations)
	}
}
