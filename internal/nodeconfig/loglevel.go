package nodeconfig

import (
	"fmt"
	"slices"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/model"
)

// FRRLogLevel maps a speaker log level (--zap-log-level's names, MetalLB's --log-level names, or one of
// FRR's own) to the level FRR logs at, as MetalLB's FRR mode does: debug (and "all") becomes
// debugging, info informational, warn warnings, error errors, none emergencies.
func FRRLogLevel(level string) (string, error) {
	switch level {
	case "", "info":
		return "informational", nil
	case "all", "debug":
		return "debugging", nil
	case "warn":
		return "warnings", nil
	case "error":
		return "errors", nil
	case "none":
		return "emergencies", nil
	}
	if slices.Contains(model.FRRLogLevels, level) {
		return level, nil
	}
	return "", fmt.Errorf("log level %q: want all, debug, info, warn, error, none or one of FRR's %v", level, model.FRRLogLevels)
}

// LogLevelOf is the FRR log level matching what the speaker's logger logs: zap's debug level is
// logr's V(1), info V(0); a logger that logs neither logs errors only.
func LogLevelOf(log logr.Logger) string {
	switch {
	case log.V(1).Enabled():
		return "debugging"
	case log.V(0).Enabled():
		return "informational"
	default:
		return "errors"
	}
}
