package templatetest

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/testing/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files (.conf, and .problems where there are problems) from the current output")

// Golden is a renderer's golden test: each testdata/*.yaml is a set of objects as `routelb render`
// reads them (see DecodeFile) and the matching .conf is the exact file expected.
type Golden struct {
	Daemon   string // nodeconfig.DaemonFRR or nodeconfig.DaemonBIRD
	MinCases int    // fewer cases means testdata went missing
	// ProblemFiles: a case's problems, one per line, must equal its .problems file (which must
	// exist when there are problems). Otherwise only cases named *problem* may have problems.
	ProblemFiles bool
	Parser       Parser
}

// Run checks every case: the rendered file equals the golden one, rendering twice gives the same
// bytes (no map order leaks into the file), and the daemon's own parser accepts the golden file.
func (g Golden) Run(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < g.MinCases && !*update {
		t.Fatalf("only %d golden cases, want at least %d", len(cases), g.MinCases)
	}
	for _, in := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) { g.check(t, in) })
	}
}

func (g Golden) check(t *testing.T, in string) {
	got, problems := g.render(t, in)
	base := strings.TrimSuffix(in, ".yaml")
	golden.Compare(t, base+".conf", got, *update)
	switch {
	case g.ProblemFiles && (problems != "" || fileExists(base+".problems")):
		golden.Compare(t, base+".problems", []byte(problems), *update)
	case !g.ProblemFiles && problems != "" && !strings.Contains(filepath.Base(in), "problem"):
		t.Errorf("unexpected problems:\n%s", problems)
	}
	if again, _ := g.render(t, in); !bytes.Equal(again, got) {
		t.Errorf("rendering is not deterministic")
	}
	g.Parser.Check(t, base+".conf")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// render returns a case's config file and its problems, one per line.
func (g Golden) render(t *testing.T, path string) ([]byte, string) {
	t.Helper()
	res, err := nodeconfig.ComputeNodeConfig(DecodeFile(t, path), nil, g.Daemon)
	if err != nil {
		t.Fatal(err)
	}
	var problems strings.Builder
	for _, p := range res.Problems {
		problems.WriteString(p.Error() + "\n")
	}
	return res.Rendered, problems.String()
}

// Parser is a daemon's own config parser, which needs no running daemon.
type Parser struct {
	Daemon  string   // as the failure names it
	Package string   // the Debian package that installs Command[0]
	Command []string // the config file's path is appended
	// Version, when chrooted, runs Command inside its root (the file is copied in for the check).
	Version *netlab.FRRVersion
}

// FRRParserOf is vtysh's dry run of FRR version v: FRR 10's vtysh checks a file with --dryrun
// (its -C needs running daemons).
func FRRParserOf(v *netlab.FRRVersion) Parser {
	if !v.Chrooted() {
		return FRRParser
	}
	return Parser{Daemon: "FRR " + v.Name, Package: "frr (hack/frr-root.sh trixie)",
		Command: []string{"vtysh", "--dryrun", "-f"}, Version: v}
}

var (
	// FRRParser is vtysh's dry run.
	FRRParser = Parser{Daemon: "FRR", Package: "frr", Command: []string{"vtysh", "-C", "-f"}}
	// BIRDParser is BIRD 2's parse-only mode.
	BIRDParser = Parser{Daemon: "BIRD 2", Package: "bird2", Command: []string{"bird", "-p", "-c"}}
)

// Check fails the test when the parser rejects the file or is not installed.
func (p Parser) Check(t *testing.T, path string) {
	t.Helper()
	if p.Version != nil && p.Version.Chrooted() {
		p.checkIn(t, path)
		return
	}
	bin, err := exec.LookPath(p.Command[0])
	if err != nil {
		t.Fatalf("%s (%s) is needed to check golden files: apt-get install %s (%v)", p.Command[0], p.Daemon, p.Package, err)
	}
	args := append(append([]string{}, p.Command[1:]...), path)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s rejects %s: %v\n%s", p.Daemon, path, err, out)
	}
}

// checkIn runs the parser of a chrooted version on a copy of the file inside its root, in a
// directory of its own (the root is shared by concurrent tests) removed afterwards.
func (p Parser) checkIn(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(p.Version.HostPath("/tmp"), "f10-parse-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	file := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := p.Version.Command(append(append([]string{}, p.Command...), strings.TrimPrefix(file, p.Version.Root))...)
	if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s rejects %s: %v\n%s", p.Daemon, path, err, out)
	}
}
