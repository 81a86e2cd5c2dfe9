package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/routelb/routelb/internal/manifest"
	"github.com/routelb/routelb/internal/nodeconfig"
)

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// render prints the frr.conf (or bird.conf) for one node. Any problem in the input (an object the speaker would
// leave out, or keep at its last good version in a running cluster) fails the command, naming the
// object and field, with nothing on stdout: a preview must not hide that the cluster would differ.
func render(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("routelb render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	node := fs.String("node", "", "node to render for (required)")
	lbClass := fs.String("lb-class", "", "the speaker's --lb-class")
	daemon := fs.String("routing-daemon", nodeconfig.DaemonFRR, "the speaker's --routing-daemon: frr prints frr.conf, bird prints bird.conf (BIRD 2)")
	fs.Var(&files, "f", "YAML file of objects (pools, peers, advertisements, BFD profiles, communities, Secrets, Nodes, Services, EndpointSlices); repeatable; - is stdin")
	fs.Usage = func() {
		_, _ = fmt.Fprintln(stderr, "usage: routelb render --node NAME [--routing-daemon frr|bird] -f FILE [-f FILE ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *node == "" || len(files) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if err := nodeconfig.CheckDaemon(*daemon); err != nil {
		_, _ = fmt.Fprintf(stderr, "routelb render: --routing-daemon: %v\n", err)
		return 2
	}
	in := nodeconfig.SpeakerInput{NodeName: *node, LBClass: *lbClass}
	for _, name := range files {
		if err := decodeFile(&in, name, stdin); err != nil {
			return fail(stderr, "routelb render: %v\n", err)
		}
	}
	res, err := nodeconfig.ComputeNodeConfig(in, nil, *daemon)
	if errors.Is(err, nodeconfig.ErrNodeNotFound) {
		return fail(stderr, "routelb render: Node %s: not in the given files (add the Node object, its labels select peers and advertisements)\n", *node)
	}
	if err != nil {
		return fail(stderr, "routelb render: %v\n", err)
	}
	if len(res.Problems) > 0 {
		msg := fmt.Sprintf("routelb render: %d problem(s) in the input:\n", len(res.Problems))
		for _, p := range res.Problems {
			msg += "  " + p.Error() + "\n"
		}
		return fail(stderr, "%s", msg)
	}
	if _, err := stdout.Write(res.Rendered); err != nil {
		return fail(stderr, "routelb render: %v\n", err)
	}
	return 0
}

func decodeFile(in *nodeconfig.SpeakerInput, name string, stdin io.Reader) error {
	if name == "-" {
		return manifest.DecodeObjects(in, stdin, "stdin")
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose on close
	return manifest.DecodeObjects(in, f, name)
}

// fail reports to stderr and returns exit status 1; stderr write errors have nowhere to go.
func fail(stderr io.Writer, format string, args ...any) int {
	_, _ = fmt.Fprintf(stderr, format, args...)
	return 1
}
