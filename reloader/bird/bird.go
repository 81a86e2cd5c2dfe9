// Package bird is what the reloader knows of BIRD 2's replies, without BIRD: birdc's reply codes,
// `show status` and the times it prints, how restarts and reconfigurations show between two
// readings, and the size of a change between two configs. No process is run here.
package bird

import (
	"bufio"
	"fmt"
	"strings"
	"time"
)

// ReplyError finds an error reply (codes 8000-9999) in birdc -v output.
func ReplyError(out string) error {
	for _, l := range strings.Split(out, "\n") {
		if len(l) >= 5 && (l[0] == '8' || l[0] == '9') && isDigits(l[:4]) && (l[4] == ' ' || l[4] == '-') {
			return fmt.Errorf("BIRD replied %s", strings.TrimSpace(l))
		}
	}
	return nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// StripCodes removes birdc -v's reply codes ("0002-", "1002 ") and the padding of continuation
// lines that replaces them.
func StripCodes(out string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case len(l) >= 5 && isDigits(l[:4]) && (l[4] == ' ' || l[4] == '-'):
			l = l[5:]
		case strings.HasPrefix(l, "     "):
			l = l[5:]
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// Status is what `birdc show status` says about the daemon's life. BIRD keeps these times on its
// monotonic clock and converts them to wall-clock time each time it prints them, so the same event
// can print a millisecond apart in two reads, and further apart after an NTP correction. Only ages
// (Now minus an event) are stable, so changes are detected on those.
type Status struct {
	Now          time.Time // "Current server time"
	LastReboot   time.Time // moves when BIRD restarts
	LastReconfig time.Time // moves on every configure, ours or anyone's
	// Reconfiguring: protocols are still being reconfigured, and a configure made meanwhile is
	// queued; LastReconfig names the new config only once BIRD switches to it.
	Reconfiguring bool
}

// Uptime is how long BIRD has been running.
func (s Status) Uptime() time.Duration { return s.Now.Sub(s.LastReboot) }

// ConfigAge is how long ago BIRD switched to the config it runs.
func (s Status) ConfigAge() time.Duration { return s.Now.Sub(s.LastReconfig) }

// timeLayouts are the `timeformat base` forms BIRD prints by default ("iso long ms") and
// without milliseconds ("iso long"); the rendered bird.conf does not set another.
var timeLayouts = []string{"2006-01-02 15:04:05.000", "2006-01-02 15:04:05"}

// ParseStatus reads the output of `birdc show status`.
func ParseStatus(out string) (Status, error) {
	var st Status
	fields := map[string]*time.Time{"Current server time is ": &st.Now, "Last reboot on ": &st.LastReboot,
		"Last reconfiguration on ": &st.LastReconfig}
	for _, l := range strings.Split(out, "\n") {
		if l == "Reconfiguration in progress" {
			st.Reconfiguring = true
		}
		for prefix, dst := range fields {
			if v, ok := strings.CutPrefix(l, prefix); ok {
				*dst = parseTime(v)
			}
		}
	}
	if st.Now.IsZero() || st.LastReboot.IsZero() || st.LastReconfig.IsZero() {
		return st, fmt.Errorf("unexpected `show status` output: %q", out)
	}
	return st, nil
}

func parseTime(v string) time.Time {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t
		}
	}
	return time.Time{}
}

// Reading is one `show status`, with when it was taken on our own monotonic clock.
type Reading struct {
	St  Status
	At  time.Time     // the middle of the birdc call
	Unc time.Duration // how far BIRD's "now" may be from at: half the call, plus BIRD's rounding
}

// Changes compares two readings: between them BIRD's uptime, and the age of its config, must have
// grown by the time that passed on our clock; less means BIRD restarted, or loaded a config.
func Changes(before, after Reading) (restarted, reconfigured bool) {
	grown := after.At.Sub(before.At) - before.Unc - after.Unc
	restarted = after.St.Uptime() < before.St.Uptime()+grown
	reconfigured = after.St.ConfigAge() < before.St.ConfigAge()+grown
	return restarted, reconfigured
}

// ChangedLines counts the lines that are in one config and not the other (as multisets), the BIRD
// counterpart of the FRR delta's size.
func ChangedLines(a, b []byte) int {
	count := map[string]int{}
	for _, l := range strings.Split(string(a), "\n") {
		count[l]++
	}
	for _, l := range strings.Split(string(b), "\n") {
		count[l]--
	}
	n := 0
	for _, c := range count {
		n += max(c, -c)
	}
	return n
}
