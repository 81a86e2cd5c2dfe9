package templatetest

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// ScaleInput is vips single-VIP Services from 198.18.0.0/15 announced to 4 peers, with one
// community on every prefix (so each peer has an attribute list as well as its full list).
func ScaleInput(vips int) nodeconfig.SpeakerInput {
	ns := "metallb-system"
	in := nodeconfig.SpeakerInput{NodeName: "node1"}
	in.Nodes = []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}}
	in.Pools = []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: ns},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.0.0/15"}}}}
	in.BGPAdvs = []v1beta1.BGPAdvertisement{{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: ns},
		Spec: v1beta1.BGPAdvertisementSpec{Communities: []v1beta1.CommunityRef{"64512:100"}}}}
	for i := 1; i <= 4; i++ {
		in.Peers = append(in.Peers, v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tor-%d", i), Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: fmt.Sprintf("198.51.100.%d", i)}})
	}
	ip := netip.MustParseAddr("198.18.0.1")
	for i := 0; i < vips; i++ {
		svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("svc-%05d", i)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip.String()}}
		in.Services = append(in.Services, svc)
		ip = ip.Next()
	}
	in.EndpointSlices = Served(in.Services)
	return in
}

// BenchRender times render alone (model.NodeBGP -> config text) on 10,000 VIPs x 4 peers.
func BenchRender(b *testing.B, daemon string, render func(*model.NodeBGP) ([]byte, error)) {
	res := MustCompute(b, ScaleInput(10000), daemon)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := render(res.Node)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}
