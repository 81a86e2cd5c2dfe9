package reloader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/netlab"
)

func TestScrubHidesSecretsInAnyShape(t *testing.T) {
	cfg := []byte(" neighbor 198.51.100.1 password pw-one\n neighbor 198.51.100.2 password pw-one-longer\n" +
		"protocol bgp p1 { password \"pw-bird\"; }\n")
	secrets := Secrets(cfg)
	for _, c := range []struct{ name, in string }{
		{"config line", " neighbor 198.51.100.1 password pw-one"},
		{"quoted in an error", `line 3: % Unknown command: "pw-one-longer"`},
		{"inside a word", "x=pw-one,y=pw-bird"},
		{"difference", "- neighbor 198.51.100.2 password pw-one-longer"},
	} {
		got := Scrub(c.in, secrets)
		for _, s := range []string{"pw-one", "pw-bird"} {
			if strings.Contains(got, s) {
				t.Errorf("%s: %q scrubbed to %q, still holds %q", c.name, c.in, got, s)
			}
		}
	}
	if got := Scrub("198.51.100.1 password 1", Secrets([]byte("password 1"))); got != "198.51.100.1 password "+redacted {
		t.Errorf("a one-character password: got %q, want only the word after the keyword hidden", got)
	}
	err := scrubErr(fmt.Errorf("apply: %w: pw-one", context.Canceled), secrets)
	if strings.Contains(err.Error(), "pw-one") || !errors.Is(err, context.Canceled) {
		t.Errorf("scrubbed error %q: want no secret and the chain kept", err)
	}
}

// syncBuffer collects a logger's lines from the reloader's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) add(prefix, args string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintln(&s.b, prefix, args)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoPasswordInStatusOrLog, on each FRR version: a reloader applies a config with a BGP
// password, then one whose password FRR refuses (longer than FRR's 80 characters), and neither
// password appears in any file of the status directory nor in any line the reloader logged, at
// every verbosity. Every file there is 0600, and the reloader read the 0600 config.
func TestNoPasswordInStatusOrLog(t *testing.T) {
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		tl := newTestLabOf(t, v, routerConf)
		good := "pw-good-5b1e9c"
		refused := "pw-refused-" + strings.Repeat("x", 70) // 81 characters
		var logs syncBuffer
		tl.applier.Log = funcr.New(logs.add, funcr.Options{Verbosity: 10})
		cfgDir, statusDir := t.TempDir(), t.TempDir()
		path := filepath.Join(cfgDir, "frr.conf")
		results := runReloader(t, &Reloader{ConfigPath: path, StatusDir: statusDir, Debounce: 100 * time.Millisecond,
			Poll: 200 * time.Millisecond, Applier: tl.applier, Log: tl.applier.Log})

		writeSecret(t, path, passwordConfig(good))
		waitResult(t, results, OutcomeApplied)
		writeSecret(t, path, passwordConfig(refused))
		res := waitResult(t, results, OutcomeInvalid, OutcomeFailed)
		t.Logf("refused password: outcome %s, error %v", res.Outcome, res.Err)

		artefacts := map[string]string{"log": logs.String()}
		entries, err := os.ReadDir(statusDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(statusDir, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			artefacts[e.Name()] = string(b)
			assertMode(t, p, daemonfile.Mode)
		}
		if _, ok := artefacts[daemonfile.StatusFile]; !ok {
			t.Fatalf("no %s in the status directory: %v", daemonfile.StatusFile, entries)
		}
		if !strings.Contains(artefacts[daemonfile.RunningFile], "password "+redacted) {
			t.Errorf("running config does not show the password redacted:\n%s", artefacts[daemonfile.RunningFile])
		}
		for name, text := range artefacts {
			for _, pw := range []string{good, refused} {
				if strings.Contains(text, pw) {
					t.Errorf("%s holds the password %q:\n%s", name, pw, text)
				}
			}
		}
	})
}

func passwordConfig(pw string) string {
	return "frr defaults traditional\nhostname node\nrouter bgp 64513\n no bgp ebgp-requires-policy\n" +
		" bgp router-id 198.51.100.11\n neighbor 198.51.100.1 remote-as 64512\n" +
		" neighbor 198.51.100.1 password " + pw + "\nexit\n"
}

// writeSecret writes the config as the speaker does: 0600, renamed into place.
func writeSecret(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}

// runReloader runs r until the test ends; applies are reported on the returned channel.
func runReloader(t *testing.T, r *Reloader) <-chan Result {
	results := make(chan Result, 1000)
	r.OnApply = func(res Result) { results <- res }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return results
}

// TestNoPasswordInBIRDStatusOrLog: the BIRD mode of TestNoPasswordInStatusOrLog, on a real BIRD: a
// config with a password, then one BIRD's parser refuses next to another password; neither
// appears in the status directory or the log, and the file BIRD runs is 0600 too.
func TestNoPasswordInBIRDStatusOrLog(t *testing.T) {
	lab := netlab.New(t)
	nh := lab.AddHost("node", "198.51.100.11/24")
	node := lab.StartBIRD(nh, "node", "")
	good, other := "pw-bird-good-41c7", "pw-bird-other-9e02"
	var logs syncBuffer
	log := funcr.New(logs.add, funcr.Options{Verbosity: 10})
	cfgDir, statusDir := t.TempDir(), t.TempDir()
	path := filepath.Join(cfgDir, "bird.conf")
	bird := &BIRD{Bird: "bird", Birdc: "birdc", Socket: node.Socket}
	results := make(chan Result, 100)
	r := &BIRDReloader{ConfigPath: path, StatusDir: statusDir, Debounce: 50 * time.Millisecond, Poll: 200 * time.Millisecond,
		Log: log, OnApply: func(res Result) { results <- res },
		Applier: &BIRDApplier{BIRD: bird, ConfigPath: node.ConfPath, Scratch: t.TempDir(), Log: log}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	conf := func(pw, extra string) string {
		return strings.Replace(birdNodeConf(1), "  hold time 9;\n", "  hold time 9;\n  password \""+pw+"\";\n", 1) + extra
	}
	writeSecret(t, path, conf(good, ""))
	waitOutcome(t, results, OutcomeApplied)
	writeSecret(t, path, conf(other, "protocol nonsense { password \""+other+"\" }\n"))
	res := waitOutcome(t, results, OutcomeInvalid)
	t.Logf("refused: %v", res.Err)

	artefacts := map[string]string{"log": logs.String()}
	entries, err := os.ReadDir(statusDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(statusDir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		artefacts[e.Name()] = string(b)
		assertMode(t, p, daemonfile.Mode)
	}
	assertMode(t, node.ConfPath, daemonfile.Mode)
	if !strings.Contains(artefacts[daemonfile.RunningFile], "password "+redacted) {
		t.Errorf("running config does not show the password redacted:\n%s", artefacts[daemonfile.RunningFile])
	}
	for name, text := range artefacts {
		for _, pw := range []string{good, other} {
			if strings.Contains(text, pw) {
				t.Errorf("%s holds the password %q:\n%s", name, pw, text)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	in := " neighbor 198.51.100.1 password s3cret\nenable password 8 abc\n neighbor 198.51.100.2 remote-as 1\n"
	out := Redact(in)
	if strings.Contains(out, "s3cret") || strings.Contains(out, "abc") || !strings.Contains(out, "remote-as 1") {
		t.Errorf("redacted:\n%s", out)
	}
}
