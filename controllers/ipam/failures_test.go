package ipam

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/routelb/routelb/internal/allocator"
)

func TestNoteFailureCountsOncePerFailure(t *testing.T) {
	notInPool := &allocator.Error{Reason: allocator.ReasonNotInPool, Message: "x"}
	inUse := &allocator.Error{Reason: allocator.ReasonInUse, Message: "y"}
	steps := []struct {
		key              string
		err              error
		notInPool, inUse float64 // counts added by this step
	}{
		{"a", notInPool, 1, 0},
		{"a", notInPool, 0, 0}, // the same failure reconciled again
		{"b", notInPool, 1, 0},
		{"a", inUse, 0, 1}, // a different reason is a new failure
		{"a", errors.New("API unreachable"), 0, 0},
		{"a", inUse, 0, 1},
	}
	r := &IPAM{failed: map[string]allocator.Reason{}}
	for i, s := range steps {
		n0 := counterValue(allocationFailures.WithLabelValues(string(allocator.ReasonNotInPool)))
		u0 := counterValue(allocationFailures.WithLabelValues(string(allocator.ReasonInUse)))
		r.noteFailure(s.key, s.err)
		n := counterValue(allocationFailures.WithLabelValues(string(allocator.ReasonNotInPool))) - n0
		u := counterValue(allocationFailures.WithLabelValues(string(allocator.ReasonInUse))) - u0
		if n != s.notInPool || u != s.inUse {
			t.Errorf("step %d (%s: %v): counted NotInPool +%v, AddressInUse +%v; want +%v, +%v", i, s.key, s.err, n, u, s.notInPool, s.inUse)
		}
	}
	delete(r.failed, "a") // served at last, then failing again: a new failure
	u0 := counterValue(allocationFailures.WithLabelValues(string(allocator.ReasonInUse)))
	r.noteFailure("a", inUse)
	if u := counterValue(allocationFailures.WithLabelValues(string(allocator.ReasonInUse))) - u0; u != 1 {
		t.Errorf("a failure after being served counted +%v, want +1", u)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
