package reloader

import "testing"

// BenchmarkDelta10k measures the Go side of adding one network to 10,000
// (parse the new file, normalize, delta), without FRR.
func BenchmarkDelta10k(b *testing.B) {
	from, to := Parse(scaleConfig(10000)), scaleConfig(10001)
	for i := 0; i < b.N; i++ {
		if d := Delta(from, Parse(to)); len(d) != 5 {
			b.Fatalf("delta %q", d)
		}
	}
}
