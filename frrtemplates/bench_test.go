package frrtemplates_test

import (
	"testing"

	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

// BenchmarkRender10kVIPs4Peers times the templates alone (model.NodeBGP -> frr.conf text).
func BenchmarkRender10kVIPs4Peers(b *testing.B) {
	templatetest.BenchRender(b, nodeconfig.DaemonFRR, frrtemplates.Render)
}

// BenchmarkComputeNodeBGP10kVIPs4Peers times the speaker's whole path per reconcile: model.Build,
// model.BuildNode and the render.
func BenchmarkComputeNodeBGP10kVIPs4Peers(b *testing.B) {
	in := templatetest.ScaleInput(10000)
	b.ReportAllocs()
	for b.Loop() {
		res, err := nodeconfig.ComputeNodeBGP(in, nil)
		if err != nil {
			b.Fatal(err)
		}
		if got := res.Node.Routers[0].Networks4; len(got) != 10000 {
			b.Fatalf("%d networks", len(got))
		}
	}
}

// BenchmarkBuildNode10kVIPs4Peers times the per-node model alone.
func BenchmarkBuildNode10kVIPs4Peers(b *testing.B) {
	in := templatetest.ScaleInput(10000)
	cfg, _ := model.Build(in.Input, nil)
	b.ReportAllocs()
	for b.Loop() {
		if n, _ := model.BuildNode(cfg, model.NodeInput{Node: &in.Nodes[0], Services: in.Services}); n.Empty() {
			b.Fatal("no routers")
		}
	}
}
