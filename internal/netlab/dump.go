package netlab

import (
	"fmt"
	"strings"
)

// Dump logs the lab's state for post-mortems: addresses and routes of every
// host and, for every FRR instance, its running config, BGP summary and the
// tail of each daemon's log. Close calls it when the test failed.
func (l *Lab) Dump() {
	l.t.Helper()
	var b strings.Builder
	for _, h := range l.hosts {
		fmt.Fprintf(&b, "===== host %s (netns %s)\n", h.Name, h.NS)
		for _, args := range [][]string{{"ip", "addr"}, {"ip", "route"}, {"ip", "-6", "route"}} {
			out, err := h.Run(args...)
			fmt.Fprintf(&b, "--- %s\n%s%s\n", strings.Join(args, " "), out, errText(err))
		}
	}
	for _, f := range l.frrs {
		b.WriteString(f.DumpString())
	}
	l.t.Log("\n" + b.String())
}

// DumpString is one FRR instance's part of Dump.
func (f *FRR) DumpString() string {
	var b strings.Builder
	fmt.Fprintf(&b, "===== FRR %s (%s) in %s\n", f.Pathspace, f.Version, f.Host.NS)
	for _, c := range []string{"show running-config", "show bgp vrf all summary", "show bgp vrf all neighbors", "show bfd peers"} {
		out, err := f.Vtysh("-c", c)
		fmt.Fprintf(&b, "--- vtysh -c '%s'\n%s%s\n", c, out, errText(err))
	}
	for _, d := range f.Version.daemons() {
		fmt.Fprintf(&b, "--- %s.log (tail)\n%s\n", d, tail(f.readLog(d), 40))
	}
	return b.String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return "error: " + err.Error()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
