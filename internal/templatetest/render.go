package templatetest

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/routelb/routelb/internal/manifest"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// Decode reads objects for node as `routelb render` does, failing the test on error.
func Decode(tb testing.TB, node string, r io.Reader, name string) nodeconfig.SpeakerInput {
	tb.Helper()
	in := nodeconfig.SpeakerInput{NodeName: node}
	if err := manifest.DecodeObjects(&in, r, name); err != nil {
		tb.Fatal(err)
	}
	return in
}

// DecodeFile reads a case file whose first line may name the node ("# node: NAME", node1 if
// absent).
func DecodeFile(tb testing.TB, path string) nodeconfig.SpeakerInput {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	node, logLevel := "node1", ""
	// Header lines: "# node: NAME" and "# log-level: LEVEL" (the speaker's, nodeconfig.FRRLogLevel).
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "# ") {
			break
		}
		if v, ok := strings.CutPrefix(line, "# node: "); ok {
			node = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "# log-level: "); ok {
			logLevel = strings.TrimSpace(v)
		}
	}
	in := Decode(tb, node, bytes.NewReader(b), path)
	in.LogLevel = logLevel
	return in
}

// MustCompute computes the node's config for daemon, failing the test on an error or a problem:
// with a problem, objects are left out and the config would not be the one the test means.
func MustCompute(tb testing.TB, in nodeconfig.SpeakerInput, daemon string) nodeconfig.NodeBGPResult {
	tb.Helper()
	res, err := nodeconfig.ComputeNodeConfig(in, nil, daemon)
	if err != nil || len(res.Problems) > 0 {
		tb.Fatalf("computing %s's %s config: %v %v", in.NodeName, daemon, err, res.Problems)
	}
	return res
}

// Render is node's config file for daemon from objects (YAML), failing the test on any problem.
func Render(tb testing.TB, daemon, node, objects string) []byte {
	tb.Helper()
	return MustCompute(tb, Decode(tb, node, strings.NewReader(objects), "lab objects"), daemon).Rendered
}
