// Package wait is the tests' one way to wait for a condition: Eventually polls until the condition
// holds and fails the test with its last error when it does not in time. Bounds are generous: a
// test asserts behaviour, not speed (speed goes in benchmarks).
package wait

import (
	"errors"
	"testing"
	"time"
)

// Interval is how often Eventually asks.
const Interval = 50 * time.Millisecond

// stopped marks an error that ends the wait at once.
type stopped struct{ err error }

func (s stopped) Error() string { return s.err.Error() }
func (s stopped) Unwrap() error { return s.err }

// Stop wraps err so that Eventually fails at once rather than waiting on: for a condition that can
// no longer come true (the process under test exited).
func Stop(err error) error { return stopped{err} }

// Eventually calls cond every Interval until it returns nil, and fails t with cond's last error
// once timeout has passed, or at once when cond returns an error made by Stop.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatal(err)
	}
}

// Poll is Eventually returning the failure instead of failing a test, for helpers that add to it.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if s := (stopped{}); errors.As(err, &s) {
			return s.err
		}
		if time.Now().After(deadline) {
			return &TimeoutError{After: timeout, Last: err}
		}
		time.Sleep(Interval)
	}
}

// TimeoutError is a condition still false after the timeout, with its last error.
type TimeoutError struct {
	After time.Duration
	Last  error
}

func (e *TimeoutError) Error() string {
	return "still not true after " + e.After.String() + ": " + e.Last.Error()
}
func (e *TimeoutError) Unwrap() error { return e.Last }
