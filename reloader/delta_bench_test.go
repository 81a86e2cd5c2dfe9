package reloader

import (
	"testing"

	"github.com/routelb/routelb/reloader/frr"
)

// BenchmarkDelta10k measures the Go side of adding one network to 10,000
// (parse the new file, normalize, delta), without FRR.
func BenchmarkDelta10k(b *testing.B) {
	from, to := frr.Parse(scaleConfig(10000)), scaleConfig(10001)
	for i := 0; i < b.N; i++ {
		if d := frr.Delta(from, frr.Parse(to)); len(d) != 5 {
			b.Fatalf("delta %q", d)
		}
	}
}
