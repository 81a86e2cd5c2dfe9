package speaker

import (
	"slices"
	"testing"
)

func TestServiceL2StatusName(t *testing.T) {
	if got := ServiceL2StatusName("default", "web", "node1"); got != "l2-default-web-node1" {
		t.Errorf("got %q", got)
	}
	long := ServiceL2StatusName(string(make([]byte, 0))+"ns", string(slices.Repeat([]byte("s"), 63)), string(slices.Repeat([]byte("n"), 253)))
	if len(long) > 253 {
		t.Errorf("name of %d characters", len(long))
	}
}
