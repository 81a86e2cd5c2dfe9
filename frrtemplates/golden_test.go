package frrtemplates_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/routelb/routelb/controllers"
)

var update = flag.Bool("update", false, "rewrite the golden .conf files from the current output")

// Each testdata/*.yaml is a set of objects as `routelb render` reads them; its first line names the
// node ("# node: NAME", node1 if absent). The matching .conf is the exact frr.conf expected.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 && !*update {
		t.Fatalf("only %d golden cases; the issue asks for at least 30", len(cases))
	}
	for _, in := range cases {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			got := renderCase(t, in)
			golden := strings.TrimSuffix(in, ".yaml") + ".conf"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered config differs from %s (run with -update if intended):\n%s", golden, diff(string(want), string(got)))
			}
			// Rendering twice gives the same bytes: no map order leaks into the file.
			if again := renderCase(t, in); !bytes.Equal(again, got) {
				t.Errorf("rendering is not deterministic")
			}
			checkWithFRR(t, golden)
		})
	}
}

func renderCase(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	in := controllers.SpeakerInput{NodeName: "node1"}
	if first, _ := os.ReadFile(path); bytes.HasPrefix(first, []byte("# node: ")) {
		line, _, _ := strings.Cut(string(first), "\n")
		in.NodeName = strings.TrimSpace(strings.TrimPrefix(line, "# node: "))
	}
	if err := controllers.DecodeObjects(&in, f, path); err != nil {
		t.Fatal(err)
	}
	res, err := controllers.ComputeNodeBGP(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 && !strings.Contains(path, "problem") {
		t.Fatalf("unexpected problems:\n%v", res.Problems)
	}
	return res.FRRConfig
}

// checkWithFRR runs FRR's own parser (vtysh -C) over the file. It needs no running daemon.
func checkWithFRR(t *testing.T, path string) {
	t.Helper()
	vtysh, err := exec.LookPath("vtysh")
	if err != nil {
		t.Fatalf("vtysh (FRR) is needed to check golden files: apt-get install frr (%v)", err)
	}
	out, err := exec.Command(vtysh, "-C", "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("FRR rejects %s: %v\n%s", path, err, out)
	}
}

// diff shows the first differing lines, enough to see what changed.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}
