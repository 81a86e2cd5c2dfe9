package birdtemplates_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/birdtemplates"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/reloader"
)

// scaleInput is vips single-VIP Services from 198.18.0.0/15 announced to 4 peers, with one
// community on every prefix: the FRR rendering benchmark's input.
func scaleInput(vips int) controllers.SpeakerInput {
	ns := "metallb-system"
	in := controllers.SpeakerInput{NodeName: "node1"}
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
	return in
}

func compute(b *testing.B, vips int) controllers.NodeBGPResult {
	b.Helper()
	res, err := controllers.ComputeNodeConfig(scaleInput(vips), nil, controllers.DaemonBIRD)
	if err != nil || len(res.Problems) > 0 {
		b.Fatal(err, res.Problems)
	}
	return res
}

// BenchmarkRender10kVIPs4Peers times the templates alone (model.NodeBGP -> bird.conf text).
func BenchmarkRender10kVIPs4Peers(b *testing.B) {
	res := compute(b, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out, err := birdtemplates.Render(res.Node)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

// BenchmarkApply times the reloader's BIRD apply (bird -p, write, birdc configure) of a config
// that differs by one VIP from the running one, at 1,000 and 10,000 VIPs x 4 peers, on a real BIRD
// in a network namespace (the peers are not reachable: this is BIRD's configure cost alone).
func BenchmarkApply(b *testing.B) {
	for _, vips := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("%dVIPs", vips), func(b *testing.B) {
			lab := netlab.New(b)
			lab.Reserve("198.18.0.0/15")
			h := lab.AddHost("node1", "198.51.100.11/24")
			bird := lab.StartBIRD(h, "node1", "")
			a := &reloader.BIRDApplier{BIRD: &reloader.BIRD{Bird: "bird", Birdc: "birdc", Socket: bird.Socket},
				ConfigPath: bird.ConfPath, Scratch: b.TempDir(), Log: logr.Discard()}
			configs := [][]byte{compute(b, vips).FRRConfig, compute(b, vips+1).FRRConfig}
			if res := a.Apply(context.Background(), configs[0], false); res.Outcome != reloader.OutcomeApplied {
				b.Fatal(res.Outcome, res.Err)
			}
			b.ResetTimer()
			i := 1
			for b.Loop() {
				if res := a.Apply(context.Background(), configs[i%2], false); res.Outcome != reloader.OutcomeApplied {
					b.Fatal(res.Outcome, res.Err)
				}
				i++
			}
		})
	}
}
