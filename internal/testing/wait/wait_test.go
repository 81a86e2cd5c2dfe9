package wait

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		if err := Poll(time.Second, func() error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		}); err != nil || calls != 3 {
			t.Fatalf("err %v after %d calls, want success on the third", err, calls)
		}

		start := time.Now()
		err := Poll(time.Second, func() error { return errors.New("never") })
		var te *TimeoutError
		if !errors.As(err, &te) || te.Last.Error() != "never" || time.Since(start) < time.Second {
			t.Fatalf("err %v after %s, want the last error after 1s", err, time.Since(start))
		}

		start = time.Now()
		gone := errors.New("process exited")
		if err := Poll(time.Hour, func() error { return Stop(gone) }); !errors.Is(err, gone) || time.Since(start) != 0 {
			t.Fatalf("err %v after %s, want %v at once", err, time.Since(start), gone)
		}
	})
}
