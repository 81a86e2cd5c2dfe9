package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/routelb/routelb/e2e/lab"
)

var cluster *lab.Cluster

// TestMain starts one lab for every scenario: the lab takes ~30 s to come up and the scenarios leave
// it as they found it.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every scenario skips under -short
	}
	r := lab.NewRunner(os.Stderr)
	// Interrupted (Ctrl-C, or killed by a CI step), still remove the namespaces and processes.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: tearing the lab down\n", s)
		r.Close()
		os.Exit(1)
	}()
	code := 1
	err := r.Run(func() {
		cluster = lab.Start(r, lab.Options{Out: os.Stderr, SpeakerArgs: l2SpeakerArgs()})
		code = m.Run()
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the lab did not start: %v\n", err)
		code = 1
	}
	r.Close()
	os.Exit(code)
}

// use attaches t to the shared lab: lab helpers fail t, and on failure t gets a dump of the lab.
func use(t *testing.T) *lab.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("the lab needs root, FRR and the API server; skipped under -short")
	}
	detach := cluster.R.Attach(t)
	t.Cleanup(func() {
		if t.Failed() {
			cluster.Dump(t.Logf)
		}
		detach()
	})
	return cluster
}
