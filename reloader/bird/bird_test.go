package bird

import (
	"strings"
	"testing"
	"time"
)

func TestReplyParsing(t *testing.T) {
	ok := "0001 BIRD 2.0.12 ready.\n0002-Reading configuration from /x\n0003 Reconfigured\n"
	bad := "0001 BIRD 2.0.12 ready.\n0002-Reading configuration from /x\n8002 /x:5:1 syntax error, unexpected GARBAGE\n"
	if err := ReplyError(ok); err != nil {
		t.Errorf("ok reply: %v", err)
	}
	if err := ReplyError(bad); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("error reply: %v", err)
	}
	if got := StripCodes(ok); got != "BIRD 2.0.12 ready.\nReading configuration from /x\nReconfigured\n" {
		t.Errorf("StripCodes: %q", got)
	}
	status := "BIRD 2.0.12\nRouter ID is 198.51.100.11\nHostname is node\nCurrent server time is 2026-11-28 14:14:50.110\n" +
		"Last reboot on 2026-11-28 14:14:44.077\nLast reconfiguration on 2026-11-28 14:14:49.103\n"
	for tail, want := range map[string]bool{"Daemon is up and running\n": false, "Reconfiguration in progress\n": true} {
		st, err := ParseStatus(status + tail)
		if err != nil || st.Reconfiguring != want || st.Uptime() != 6033*time.Millisecond || st.ConfigAge() != 1007*time.Millisecond {
			t.Errorf("ParseStatus(... %q) = %+v (uptime %v, config age %v), %v", tail, st, st.Uptime(), st.ConfigAge(), err)
		}
	}
	if _, err := ParseStatus("BIRD 2.0.12 ready.\n"); err == nil {
		t.Error("ParseStatus accepted output without times")
	}
	if n := ChangedLines([]byte("a\nb\nc\n"), []byte("a\nc\nd\ne\n")); n != 3 {
		t.Errorf("ChangedLines = %d, want 3", n)
	}
}

// TestChanges checks restart and reconfiguration detection against BIRD's way of printing times:
// recomputed from its monotonic clock at every read, so they wobble by a millisecond, and all move
// together when the wall clock is corrected.
func TestChanges(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	// reading: BIRD's now, boot and config times as printed, read at our clock's t0+at, the birdc call taking 10 ms.
	reading := func(at, now, boot, conf time.Duration) Reading {
		return Reading{St: Status{Now: t0.Add(now), LastReboot: t0.Add(boot), LastReconfig: t0.Add(conf)},
			At: t0.Add(at), Unc: 5*ms + 2*ms}
	}
	base := reading(10_000*ms, 10_000*ms, 0, 5_000*ms)
	for _, c := range []struct {
		name                    string
		after                   Reading
		restarted, reconfigured bool
	}{
		{"nothing happened", reading(11_000*ms, 11_000*ms, 0, 5_000*ms), false, false},
		{"printed a millisecond later", reading(11_000*ms, 11_000*ms, 1*ms, 5_001*ms), false, false},
		{"printed a millisecond earlier", reading(11_000*ms, 11_000*ms, -1*ms, 4_999*ms), false, false},
		{"wall clock stepped 2 s back", reading(11_000*ms, 9_000*ms, -2_000*ms, 3_000*ms), false, false},
		{"our read 8 ms slower than BIRD's clock", reading(11_008*ms, 11_000*ms, 0, 5_000*ms), false, false},
		{"configured by someone", reading(11_000*ms, 11_000*ms, 0, 10_500*ms), false, true},
		{"restarted", reading(11_000*ms, 11_000*ms, 10_400*ms, 10_400*ms), true, true},
	} {
		restarted, reconfigured := Changes(base, c.after)
		if restarted != c.restarted || reconfigured != c.reconfigured {
			t.Errorf("%s: restarted %v, reconfigured %v; want %v, %v", c.name, restarted, reconfigured, c.restarted, c.reconfigured)
		}
	}
}
