package main

import (
	"fmt"
	"strconv"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger is a JSON zap logger behind logr, as the other binaries write through controller-runtime
// (same format, same --zap-log-level values), without linking controller-runtime into the sidecar.
// level is debug, info, error, or an integer N > 0 for logr's V(N).
func newLogger(level string) (logr.Logger, error) {
	var lvl zapcore.Level
	if n, err := strconv.Atoi(level); err == nil && n > 0 {
		lvl = zapcore.Level(-n)
	} else if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return logr.Logger{}, fmt.Errorf("--zap-log-level %q: want debug, info, error or a positive integer", level)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil // every apply is logged
	// Errors here are operating conditions logged with their context (a refused config, FRR not up
	// yet); a stack trace on each would bury them.
	cfg.DisableStacktrace = true
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	z, err := cfg.Build()
	if err != nil {
		return logr.Logger{}, err
	}
	return zapr.NewLogger(z), nil
}
