package golden

import (
	"fmt"
	"strings"
	"testing"
)

func lines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("line %d", i+1)
	}
	return out
}

// changed returns the diff's changed lines, "+ x" and "- x".
func changed(d string) []string {
	var out []string
	for _, l := range strings.Split(d, "\n") {
		if strings.HasPrefix(l, "+ ") || strings.HasPrefix(l, "- ") {
			out = append(out, l)
		}
	}
	return out
}

func TestDiff(t *testing.T) {
	base := lines(50)
	with := func(f func([]string) []string) string {
		return strings.Join(f(append([]string(nil), base...)), "\n")
	}
	for _, c := range []struct {
		name string
		got  string
		want []string
	}{
		{name: "inserted line", got: with(func(l []string) []string {
			return append(l[:10], append([]string{"new"}, l[10:]...)...)
		}), want: []string{"+ new"}},
		{name: "removed line", got: with(func(l []string) []string { return append(l[:20], l[21:]...) }), want: []string{"- line 21"}},
		{name: "changed line", got: with(func(l []string) []string { l[4] = "five"; return l }), want: []string{"- line 5", "+ five"}},
		{name: "two places", got: with(func(l []string) []string {
			l = append(l[:2], append([]string{"a"}, l[2:]...)...)
			return append(l[:40], l[41:]...)
		}), want: []string{"+ a", "- line 40"}},
		{name: "appended at the end", got: with(func(l []string) []string { return append(l, "tail") }), want: []string{"+ tail"}},
	} {
		d := Diff(strings.Join(base, "\n"), c.got)
		if got := changed(d); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: changed lines %q, want %q; diff:\n%s", c.name, got, c.want, d)
		}
	}
	// The hunk says where: the inserted line is line 11 of got, after line 10 of the golden file.
	d := Diff(strings.Join(base, "\n"), with(func(l []string) []string { return append(l[:10], append([]string{"new"}, l[10:]...)...) }))
	if !strings.HasPrefix(d, "@@ golden line 9, got line 9 @@\n  line 9\n  line 10\n+ new\n  line 11\n") {
		t.Errorf("hunk:\n%s", d)
	}
}

// TestDiffOfDifferentInputs bounds the work and the output on inputs with nothing in common.
func TestDiffOfDifferentInputs(t *testing.T) {
	a, b := lines(3000), lines(3000)
	for i := range b {
		b[i] = "other " + b[i]
	}
	d := Diff(strings.Join(a, "\n"), strings.Join(b, "\n"))
	if !strings.Contains(d, "more than") {
		t.Errorf("diff of 6000 changed lines: %.200s", d)
	}
	d = Diff(strings.Join(a[:400], "\n"), strings.Join(b[:400], "\n"))
	if len(d) > maxBytes+200 || !strings.HasSuffix(d, "(more differences)\n") {
		t.Errorf("diff of 800 changed lines is %d bytes: %.200s", len(d), d)
	}
}
