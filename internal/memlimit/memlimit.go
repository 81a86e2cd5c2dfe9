// Package memlimit decides how much memory the Go runtime holds: it sets the runtime's soft memory
// limit from the container's memory limit, and (IdleReturner) gives free heap back to the OS once
// a process has gone quiet after a burst.
//
// Without a limit the GC lets the heap grow to twice the live heap (GOGC=100), so a speaker holding
// 90 MB of live objects sits near 180 MB; under a container limit below that it would be killed
// while the GC still had room to collect. The chart passes the container's limit through the
// downward API (EnvVar, resourceFieldRef limits.memory, in bytes); GOMEMLIMIT cannot take it
// directly, as it would leave no room for what the runtime does not count (the binary's pages,
// cgo, thread stacks).
package memlimit

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
)

// EnvVar holds the container's memory limit in bytes.
const EnvVar = "ROUTELB_MEMORY_LIMIT"

// Share is the part of the container's limit given to the Go runtime.
const Share = 0.9

// Set applies Share of the limit in EnvVar as the runtime's soft memory limit, unless GOMEMLIMIT is
// set (the operator's choice wins) or EnvVar is unset. It returns the limit set, 0 if none.
func Set() (int64, error) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	v := os.Getenv(EnvVar)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want the container's memory limit in bytes", EnvVar, v)
	}
	limit := int64(float64(n) * Share)
	debug.SetMemoryLimit(limit)
	return limit, nil
}
