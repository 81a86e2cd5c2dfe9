package memlimit

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestSet(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // put back the test binary's limit
	for _, tc := range []struct {
		name, env, gomemlimit string
		want                  int64
		wantErr               bool
	}{
		{name: "unset", want: 0},
		{name: "container limit", env: "209715200", want: 188743680},
		{name: "GOMEMLIMIT wins", env: "209715200", gomemlimit: "1GiB", want: 0},
		{name: "not bytes", env: "200Mi", wantErr: true},
		{name: "zero", env: "0", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			t.Setenv(EnvVar, tc.env)
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			got, err := Set()
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Set() = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
			applied := debug.SetMemoryLimit(-1)
			if tc.want > 0 && applied != tc.want || tc.want == 0 && applied != math.MaxInt64 {
				t.Fatalf("runtime limit %d after Set() = %d", applied, got)
			}
		})
	}
}
