// Package golden compares rendered output with golden files for tests, with the `-update` flag both
// renderers' tests register to rewrite them.
package golden

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// Compare fails t when got differs from the golden file, showing a line diff; with update it
// first rewrites the file from got.
func Compare(t testing.TB, golden string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if intended); - golden, + got:\n%s", golden, Diff(string(want), string(got)))
	}
}

// Edit kinds of a line diff.
const (
	same   = ' '
	remove = '-'
	insert = '+'
)

type edit struct {
	kind   byte
	line   string
	wantNo int // 1-based line in want (of the line, or after which an insert goes)
	gotNo  int
}

// Context lines shown around each change, and the size at which the output is cut.
const (
	context  = 2
	maxBytes = 4000
	maxEdits = 1000 // beyond this many changed lines the inputs are too different to diff usefully
)

// Diff is a line diff of want and got (Myers' shortest edit script): an inserted line shows as
// one inserted line, not as every later line changed. Hunks start with the line numbers in both.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	edits, ok := diffLines(w, g)
	if !ok {
		return fmt.Sprintf("(more than %d lines differ: golden has %d lines, got %d)\n", maxEdits, len(w), len(g))
	}
	return format(edits)
}

// diffLines returns the edit script turning a into b; false when more than maxEdits lines differ.
func diffLines(a, b []string) ([]edit, bool) {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	mid, ok := myers(a[pre:len(a)-suf], b[pre:len(b)-suf])
	if !ok {
		return nil, false
	}
	var out []edit
	for i := range pre {
		out = append(out, edit{kind: same, line: a[i]})
	}
	out = append(out, mid...)
	for i := len(a) - suf; i < len(a); i++ {
		out = append(out, edit{kind: same, line: a[i]})
	}
	// Number the lines now that the order is known.
	wn, gn := 0, 0
	for i := range out {
		switch out[i].kind {
		case same:
			wn, gn = wn+1, gn+1
		case remove:
			wn++
		case insert:
			gn++
		}
		out[i].wantNo, out[i].gotNo = wn, gn
	}
	return out, true
}

// myers is the greedy forward search of "An O(ND) Difference Algorithm" with the rounds' frontiers
// kept for the walk back.
func myers(a, b []string) ([]edit, bool) {
	n, m := len(a), len(b)
	limit := min(n+m, maxEdits)
	off := limit + 1
	v := make([]int, 2*limit+3)
	var trace [][]int
	for d := 0; d <= limit; d++ {
		trace = append(trace, slices.Clone(v))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: insert b[y]
			} else {
				x = v[off+k-1] + 1 // right: remove a[x]
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, a, b, off), true
			}
		}
	}
	return nil, false
}

func backtrack(trace [][]int, a, b []string, off int) []edit {
	var rev []edit
	x, y := len(a), len(b)
	for d := len(trace) - 1; d > 0; d-- {
		v := trace[d]
		k := x - y
		prevK := k - 1
		if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
			prevK = k + 1
		}
		prevX := v[off+prevK]
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			rev = append(rev, edit{kind: same, line: a[x-1]})
			x, y = x-1, y-1
		}
		if x == prevX {
			rev = append(rev, edit{kind: insert, line: b[y-1]})
		} else {
			rev = append(rev, edit{kind: remove, line: a[x-1]})
		}
		x, y = prevX, prevY
	}
	for x > 0 && y > 0 {
		rev = append(rev, edit{kind: same, line: a[x-1]})
		x, y = x-1, y-1
	}
	slices.Reverse(rev)
	return rev
}

// format prints the changed lines with context lines around them, one hunk per group.
func format(edits []edit) string {
	show := make([]bool, len(edits))
	for i, e := range edits {
		if e.kind != same {
			for j := max(0, i-context); j <= min(len(edits)-1, i+context); j++ {
				show[j] = true
			}
		}
	}
	var b strings.Builder
	for i, e := range edits {
		if !show[i] {
			continue
		}
		if i == 0 || !show[i-1] {
			fmt.Fprintf(&b, "@@ golden line %d, got line %d @@\n", e.wantNo, e.gotNo)
		}
		if b.Len() > maxBytes {
			b.WriteString("... (more differences)\n")
			break
		}
		b.WriteByte(e.kind)
		b.WriteByte(' ')
		b.WriteString(e.line)
		b.WriteByte('\n')
	}
	return b.String()
}
