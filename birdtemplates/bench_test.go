package birdtemplates_test

import (
	"fmt"
	"testing"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/birdtemplates"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

// BenchmarkRender10kVIPs4Peers times the templates alone (model.NodeBGP -> bird.conf text), on the
// FRR rendering benchmark's input.
func BenchmarkRender10kVIPs4Peers(b *testing.B) {
	templatetest.BenchRender(b, nodeconfig.DaemonBIRD, birdtemplates.Render)
}

// BenchmarkApply times the reloader's BIRD apply (bird -p, write, birdc configure) of a config
// that differs by one VIP from the running one, at 1,000 and 10,000 VIPs x 4 peers, on a real BIRD
// in a network namespace (the peers are not reachable: this is BIRD's configure cost alone).
func BenchmarkApply(b *testing.B) {
	for _, vips := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("%dVIPs", vips), func(b *testing.B) {
			lab := netlab.New(b)
			lab.Reserve("198.18.0.0/15")
			node := templatetest.AddBIRDNode(b, lab, logr.Discard(), "node1", "198.51.100.11/24")
			configs := [][]byte{scaleConfig(b, vips), scaleConfig(b, vips+1)}
			node.Apply(b, configs[0])
			b.ResetTimer()
			i := 1
			for b.Loop() {
				node.Apply(b, configs[i%2])
				i++
			}
		})
	}
}

func scaleConfig(b *testing.B, vips int) []byte {
	b.Helper()
	return templatetest.MustCompute(b, templatetest.ScaleInput(vips), nodeconfig.DaemonBIRD).Rendered
}
