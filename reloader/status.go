package reloader

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Status is the JSON document written beside the config after every apply.
type Status struct {
	Time            time.Time `json:"time"`
	Result          string    `json:"result"`
	Error           string    `json:"error,omitempty"`
	Reason          string    `json:"reason"`          // what triggered the apply: file, frr-restart, drift, retry
	AppliedSHA256   string    `json:"appliedSHA256"`   // config FRR now runs (last good)
	FileSHA256      string    `json:"fileSHA256"`      // config file this attempt read
	Commands        int       `json:"commands"`        // lines in the delta
	ApplySeconds    float64   `json:"applySeconds"`    // until the delta was applied
	DurationSeconds float64   `json:"durationSeconds"` // whole apply, read-back check included
	Differences     []string  `json:"differences,omitempty"`
	// Diverged: FRR accepted the file but runs something else even after a full reload (see
	// Differences); the reloader retries at NextRetry, backing off exponentially.
	Diverged   bool      `json:"diverged,omitempty"`
	NextRetry  time.Time `json:"nextRetry,omitzero"`
	FRRVersion string    `json:"frrVersion,omitempty"` // release read with `show version`
}

// Names of the files the reloader writes beside the config.
const (
	StatusFile  = "reloader-status.json"
	RunningFile = "running.conf"
)

var secretRE = regexp.MustCompile(`\b(password|secret|key-string|authentication-key)\s+(\d\s+)?\S+`)

// Redact hides passwords in a config, for the running config shown to
// operators.
func Redact(cfg string) string {
	return secretRE.ReplaceAllString(cfg, "$1 <redacted>")
}

// writeAtomic writes a file by rename, so readers never see half of it.
func writeAtomic(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeStatus(dir string, st Status) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, StatusFile), append(b, '\n'))
}
