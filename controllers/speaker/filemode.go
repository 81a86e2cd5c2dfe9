package speaker

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/routelb/routelb/internal/daemonfile"
)

// ConfigFileMode is the rendered frr.conf's or bird.conf's mode, the contract's (daemonfile.Mode):
// it holds the BGP passwords, and its one reader, the reloader, runs as root like the speaker.
const ConfigFileMode = daemonfile.Mode

// restrictMode sets ConfigFileMode on an existing file unless it has it.
func restrictMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() == ConfigFileMode {
		return err
	}
	if err := os.Chmod(path, ConfigFileMode); err != nil {
		return fmt.Errorf("restricting %s to mode %o: %w", path, ConfigFileMode, err)
	}
	return nil
}

// Retries of a config file that cannot be written (a full or read-only directory): short and
// capped, so the file follows within seconds once space comes back. The controller's own rate
// limiter would back off to ~16 minutes.
const (
	writeRetryStart = 500 * time.Millisecond
	writeRetryMax   = 10 * time.Second
)

// writeHealth is the outcome of the last attempt to write the node's config file: /readyz fails
// while it cannot be written (the routing daemon then runs a stale config).
type writeHealth struct {
	mu       sync.Mutex
	err      error
	failures int
}

// record stores the outcome of one write and returns the wait before retrying a failure.
func (h *writeHealth) record(err error) (retry time.Duration, first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
	if err == nil {
		h.failures = 0
		return 0, false
	}
	h.failures++
	return min(writeRetryStart<<min(h.failures-1, 10), writeRetryMax), h.failures == 1
}

// Check is the /readyz check "config-file".
func (h *writeHealth) Check(*http.Request) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return fmt.Errorf("the node's routing config cannot be written (%d attempts): %w", h.failures, h.err)
	}
	return nil
}
