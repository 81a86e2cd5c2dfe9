package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
)

// Runner lets the lab (and netlab, testenv, which take a testing.TB) live longer than one test: in
// TestMain, for the whole test binary, or in the demo and bench programs. While a test is attached
// (Attach), failures and logs go to that test; otherwise a fatal error panics with Fatal, which Main
// recovers after running the cleanups.
type Runner struct {
	testing.TB // never called: it only supplies testing.TB's unexported method

	mu        sync.Mutex
	cur       testing.TB
	cleanups  []func()
	failed    bool
	out       io.Writer
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// Fatal is the panic value of a fatal error outside any test.
type Fatal struct{ Msg string }

func (f Fatal) Error() string { return f.Msg }

// NewRunner returns a Runner logging to out (os.Stderr when nil).
func NewRunner(out io.Writer) *Runner {
	if out == nil {
		out = os.Stderr
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{out: out, ctx: ctx, cancel: cancel}
}

// Attach routes failures and logs to t until the returned function is called.
func (r *Runner) Attach(t testing.TB) (detach func()) {
	r.mu.Lock()
	r.cur = t
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		r.cur = nil
		r.mu.Unlock()
	}
}

func (r *Runner) current() testing.TB {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

func (r *Runner) Helper()      {}
func (r *Runner) Name() string { return "lab" }

func (r *Runner) Context() context.Context { return r.ctx }

func (r *Runner) Logf(format string, args ...any) {
	if t := r.current(); t != nil {
		t.Logf(format, args...)
		return
	}
	_, _ = fmt.Fprintf(r.out, format+"\n", args...)
}

func (r *Runner) Log(args ...any) { r.Logf("%s", fmt.Sprint(args...)) }

func (r *Runner) Errorf(format string, args ...any) {
	if t := r.current(); t != nil {
		t.Errorf(format, args...)
		return
	}
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	_, _ = fmt.Fprintf(r.out, "ERROR: "+format+"\n", args...)
}

func (r *Runner) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *Runner) Fatalf(format string, args ...any) {
	if t := r.current(); t != nil {
		t.Fatalf(format, args...)
		return
	}
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	panic(Fatal{Msg: fmt.Sprintf(format, args...)})
}

func (r *Runner) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }
func (r *Runner) Fail()             { r.Errorf("failed") }
func (r *Runner) FailNow()          { r.Fatalf("failed") }

// Failed reports a failure outside tests; tests dump their own state when they fail.
func (r *Runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Cleanup registers f to run, last registered first, at Close.
func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}

func (r *Runner) TempDir() string {
	d, err := os.MkdirTemp("", "routelb-lab-")
	if err != nil {
		r.Fatalf("%v", err)
	}
	r.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// Close runs the cleanups, each even if an earlier one panicked. A concurrent call (a signal handler)
// waits for the first to finish.
func (r *Runner) Close() { r.closeOnce.Do(r.close) }

func (r *Runner) close() {
	r.cancel()
	r.mu.Lock()
	r.cur = nil
	fs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if p := recover(); p != nil {
					_, _ = fmt.Fprintf(r.out, "ERROR: during teardown: %v\n", p)
				}
			}()
			fs[i]()
		}()
	}
}

// Run calls fn, turning a Fatal panic into an error, and runs the cleanups when fn fails.
func (r *Runner) Run(fn func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(Fatal)
			if !ok {
				r.Close()
				panic(p)
			}
			err = f
		}
	}()
	fn()
	return nil
}
