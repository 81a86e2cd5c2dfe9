package frrtemplates_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/golden"
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
			conf := strings.TrimSuffix(in, ".yaml") + ".conf"
			golden.Compare(t, conf, got, *update)
			// Rendering twice gives the same bytes: no map order leaks into the file.
			if again := renderCase(t, in); !bytes.Equal(again, got) {
				t.Errorf("rendering is not deterministic")
			}
			checkWithFRR(t, conf)
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
