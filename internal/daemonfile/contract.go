// Package daemonfile is the file contract between the speaker and the reloader sidecar: the names
// of the files they share in the config directory, how often each side looks at them, the JSON the
// reloader writes and the speaker reads, and the one atomic writer both use. It is types only (no
// Kubernetes, no daemon): both binaries link it, and neither links the other.
package daemonfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Names of the files the reloader writes beside the rendered config.
const (
	StatusFile   = "reloader-status.json" // Status: the verdict on the last apply
	SessionsFile = "sessions.json"        // Sessions: each BGP neighbour's state
	RunningFile  = "running.conf"         // the daemon's running config, secrets redacted
)

// Mode is the mode of every file of the contract and of the rendered config: the config holds BGP
// passwords, and the status files are the operator's and the speaker's (both root in the pod).
const Mode = 0o600

// Polling intervals of both sides. SessionsInterval is how often the reloader asks the daemon for
// its neighbours (one vtysh or birdc run, cheap at this pace, quick enough for an operator watching
// a session come up) and how often the speaker publishes them; StatusInterval is how often the
// speaker reads Status.
const (
	SessionsInterval = 3 * time.Second
	StatusInterval   = 3 * time.Second
)

// Outcomes of one apply: Status.Result.
const (
	OutcomeApplied    = "applied"     // delta applied, running config matches
	OutcomeUnchanged  = "unchanged"   // running config already matched
	OutcomeFullReload = "full-reload" // delta left a mismatch; a full reload fixed it (FRR)
	OutcomeInvalid    = "invalid"     // the daemon's parser refused the file; nothing applied
	OutcomeFailed     = "failed"      // daemon unreachable, or no way to reach the target
)

// Status is StatusFile: written after every apply attempt.
type Status struct {
	Time            time.Time `json:"time"`
	Result          string    `json:"result"` // one of the Outcome constants
	Error           string    `json:"error,omitempty"`
	Reason          string    `json:"reason"`          // what triggered the apply: file, frr-restart, drift, retry
	AppliedSHA256   string    `json:"appliedSHA256"`   // config the daemon now runs (last good)
	FileSHA256      string    `json:"fileSHA256"`      // config file this attempt read
	Commands        int       `json:"commands"`        // lines in the delta
	ApplySeconds    float64   `json:"applySeconds"`    // until the delta was applied
	DurationSeconds float64   `json:"durationSeconds"` // whole apply, read-back check included
	Differences     []string  `json:"differences,omitempty"`
	// Diverged: the daemon accepted the file but runs something else even after a full reload (see
	// Differences); the reloader retries at NextRetry, backing off exponentially.
	Diverged   bool      `json:"diverged,omitempty"`
	NextRetry  time.Time `json:"nextRetry,omitzero"`
	FRRVersion string    `json:"frrVersion,omitempty"` // release read with `show version`
}

// OK reports whether the daemon runs the file the reloader last read.
func (s Status) OK() bool {
	return s.Result == OutcomeApplied || s.Result == OutcomeUnchanged || s.Result == OutcomeFullReload
}

// Sessions is SessionsFile: rewritten when a neighbour's state changes.
type Sessions struct {
	Time     time.Time `json:"time"`            // when the content last changed
	Error    string    `json:"error,omitempty"` // the daemon could not be asked; Sessions is then empty
	Sessions []Session `json:"sessions"`
}

// Session is one BGP neighbour of the node's routing daemon.
type Session struct {
	VRF          string    `json:"vrf"`      // "" is the default VRF
	Neighbor     string    `json:"neighbor"` // address, or interface name for an unnumbered session
	State        string    `json:"state"`    // BGP's: Idle, Connect, Active, OpenSent, OpenConfirm, Established
	BFDState     string    `json:"bfdState,omitempty"`
	PrefixesSent int64     `json:"prefixesSent"`
	LastError    string    `json:"lastError,omitempty"`
	Since        time.Time `json:"since"` // when the session last came up or went down
}

// WriteJSON writes v, indented and newline-terminated, to dir/name with WriteFile.
func WriteJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	return WriteFile(filepath.Join(dir, name), append(b, '\n'))
}

// ReadJSON reads dir/name into v; a missing file is an fs.ErrNotExist error.
func ReadJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parsing %s: %w", name, err)
	}
	return nil
}

// ReadStatus reads dir's StatusFile.
func ReadStatus(dir string) (Status, error) {
	var st Status
	err := ReadJSON(dir, StatusFile, &st)
	return st, err
}

// ReadSessions reads dir's SessionsFile.
func ReadSessions(dir string) (Sessions, error) {
	var s Sessions
	err := ReadJSON(dir, SessionsFile, &s)
	return s, err
}
