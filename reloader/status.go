package reloader

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
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

var secretRE = regexp.MustCompile(`\b(password|secret|key-string|authentication-key)\s+(\d\s+)?(\S+)`)

// redacted replaces a secret in everything the reloader shows.
const redacted = "<redacted>"

// Redact hides passwords in a config, for the running config shown to
// operators.
func Redact(cfg string) string {
	return secretRE.ReplaceAllString(cfg, "$1 "+redacted)
}

// Secrets lists the secret values the configs hold (the words after password and its kin), so
// that text which quotes them in another shape (a daemon's error message, a difference) can
// still be scrubbed.
func Secrets(cfgs ...[]byte) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cfgs {
		for _, m := range secretRE.FindAllSubmatch(c, -1) {
			v := strings.Trim(string(m[3]), `";`) // BIRD quotes its passwords
			if v != "" && v != redacted && !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// minScrubLen is the shortest secret replaced wherever it appears: a shorter one would turn every
// address and hash of the text into noise (and is found in any text anyway); it is still hidden
// after its keyword.
const minScrubLen = 4

// Scrub hides secrets in free text (errors, log values, differences): every known value
// wherever it appears, then any word after a secret keyword.
func Scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= minScrubLen {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return Redact(s)
}

// scrubbedError is an error whose text had its secrets hidden; errors.Is and errors.As still
// see the original chain.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubErr hides secrets in an error's text.
func scrubErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: Scrub(err.Error(), secrets), err: err}
}

// scrubAll hides secrets in each line.
func scrubAll(lines, secrets []string) []string {
	if lines == nil {
		return nil
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = Scrub(l, secrets)
	}
	return out
}

// FileMode is the mode of every file the reloader writes: the daemon's config holds passwords,
// and the status files are the operator's and the speaker's (both root in the pod), nobody else's.
const FileMode = 0o600

// writeAtomic writes a file by rename, so readers never see half of it.
func writeAtomic(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	// WriteFile keeps the mode of a leftover temporary file: remove it first.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(tmp, b, FileMode); err != nil {
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
