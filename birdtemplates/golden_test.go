package birdtemplates_test

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

var update = flag.Bool("update", false, "rewrite the golden .conf and .problems files from the current output")

// Each testdata/*.yaml is a set of objects as `routelb render --routing-daemon bird` reads them (the
// FRR cases of ../frrtemplates/testdata plus BIRD-specific ones); its first line names the node
// ("# node: NAME", node1 if absent). The matching .conf is the exact bird.conf expected, checked by
// BIRD's own parser. A case whose objects use what BIRD cannot express also has a .problems file:
// the exact problems reported on the objects.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 40 && !*update {
		t.Fatalf("only %d golden cases", len(cases))
	}
	for _, in := range cases {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			got, problems := renderCase(t, in)
			base := strings.TrimSuffix(in, ".yaml")
			golden.Compare(t, base+".conf", got, *update)
			if problems != "" || fileExists(base+".problems") {
				golden.Compare(t, base+".problems", []byte(problems), *update)
			}
			// Rendering twice gives the same bytes: no map order leaks into the file.
			if again, _ := renderCase(t, in); !bytes.Equal(again, got) {
				t.Errorf("rendering is not deterministic")
			}
			checkWithBIRD(t, base+".conf")
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// renderCase returns the bird.conf for a case and its problems, one per line.
func renderCase(t *testing.T, path string) ([]byte, string) {
	t.Helper()
	in := decodeCase(t, path)
	res, err := controllers.ComputeNodeConfig(in, nil, controllers.DaemonBIRD)
	if err != nil {
		t.Fatal(err)
	}
	var problems strings.Builder
	for _, p := range res.Problems {
		problems.WriteString(p.Error() + "\n")
	}
	return res.FRRConfig, problems.String()
}

func decodeCase(t *testing.T, path string) controllers.SpeakerInput {
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
	return in
}

// checkWithBIRD runs BIRD's own parser (bird -p) over the file. It needs no running daemon.
func checkWithBIRD(t *testing.T, path string) {
	t.Helper()
	bird, err := exec.LookPath("bird")
	if err != nil {
		t.Fatalf("bird (BIRD 2) is needed to check golden files: apt-get install bird2 (%v)", err)
	}
	out, err := exec.Command(bird, "-p", "-c", path).CombinedOutput()
	if err != nil {
		t.Fatalf("BIRD rejects %s: %v\n%s", path, err, out)
	}
}
