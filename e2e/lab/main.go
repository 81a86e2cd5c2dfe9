package lab

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// Main runs a test binary's scenarios on one lab started with o (the lab takes ~30 s to come up and
// the scenarios leave it as they found it), and returns the exit code. The lab is torn down at the
// end, and also when the binary is interrupted (Ctrl-C, or killed by a CI step). started receives
// the lab before any test runs.
func Main(m *testing.M, o Options, started func(*Cluster)) int {
	if testing.Short() {
		return m.Run() // every scenario skips under -short
	}
	r := NewRunner(os.Stderr)
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
		started(Start(r, o))
		code = m.Run()
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the lab did not start: %v\n", err)
		code = 1
	}
	r.Close()
	return code
}

// Use attaches t to the shared lab: lab helpers fail t, and on failure t gets a dump of the lab.
func (c *Cluster) Use(t *testing.T) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("the lab needs root, routing daemons and the API server; skipped under -short")
	}
	detach := c.R.Attach(t)
	t.Cleanup(func() {
		if t.Failed() {
			c.Dump(t.Logf)
		}
		detach()
	})
	return c
}
