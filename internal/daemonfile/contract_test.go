package daemonfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		write any
		read  func(dir string) (any, error)
	}{
		{"status applied", Status{Time: at, Result: OutcomeApplied, Reason: "file", AppliedSHA256: "a", FileSHA256: "a",
			Commands: 3, ApplySeconds: 0.5, DurationSeconds: 1, FRRVersion: "10.3"},
			func(dir string) (any, error) { return ReadStatus(dir) }},
		{"status diverged", Status{Time: at, Result: OutcomeFailed, Error: "x", Reason: "retry", Differences: []string{"+ a"},
			Diverged: true, NextRetry: at.Add(time.Minute)},
			func(dir string) (any, error) { return ReadStatus(dir) }},
		{"sessions", Sessions{Time: at, Sessions: []Session{{VRF: "red", Neighbor: "198.51.100.1", State: "Established",
			BFDState: "up", PrefixesSent: 2, Since: at}, {Neighbor: "eth0", State: "Active", LastError: "refused", Since: at}}},
			func(dir string) (any, error) { return ReadSessions(dir) }},
		{"sessions error", Sessions{Time: at, Error: "vtysh: exit 1", Sessions: []Session{}},
			func(dir string) (any, error) { return ReadSessions(dir) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			name := StatusFile
			if _, ok := c.write.(Sessions); ok {
				name = SessionsFile
			}
			if err := WriteJSON(dir, name, c.write); err != nil {
				t.Fatal(err)
			}
			got, err := c.read(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.write) {
				t.Errorf("read back %+v, wrote %+v", got, c.write)
			}
		})
	}
}

// TestWireNames pins the JSON names both sides depend on: the speaker of one release reads the
// reloader of another during a rolling update.
func TestWireNames(t *testing.T) {
	dir := t.TempDir()
	if err := WriteJSON(dir, StatusFile, Status{Result: OutcomeInvalid, Error: "e", Diverged: true}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"time"`, `"result": "invalid"`, `"error": "e"`, `"reason"`, `"appliedSHA256"`,
		`"fileSHA256"`, `"commands"`, `"applySeconds"`, `"durationSeconds"`, `"diverged": true`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("%s lacks %s:\n%s", StatusFile, k, b)
		}
	}
	if strings.Contains(string(b), "nextRetry") || !strings.HasSuffix(string(b), "}\n") {
		t.Errorf("%s: want no zero nextRetry and a final newline:\n%s", StatusFile, b)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadStatus(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no file: got %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(filepath.Join(dir, SessionsFile), []byte("{"), Mode); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSessions(dir); err == nil || !strings.Contains(err.Error(), SessionsFile) {
		t.Errorf("bad JSON: got %v, want an error naming %s", err, SessionsFile)
	}
}

func TestStatusOK(t *testing.T) {
	for r, want := range map[string]bool{OutcomeApplied: true, OutcomeUnchanged: true, OutcomeFullReload: true,
		OutcomeInvalid: false, OutcomeFailed: false, "": false} {
		if got := (Status{Result: r}).OK(); got != want {
			t.Errorf("Status{Result: %q}.OK() = %v, want %v", r, got, want)
		}
	}
}
