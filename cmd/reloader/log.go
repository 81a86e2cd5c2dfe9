package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger is a JSON zap logger behind logr, as the other binaries write through controller-runtime
// (same format, same --zap-log-level values), without linking controller-runtime into the sidecar.
// level is debug, info, error, or an integer N > 0 for logr's V(N); lines go to w.
func newLogger(level string, w io.Writer) (logr.Logger, error) {
	var lvl zapcore.Level
	if n, err := strconv.Atoi(level); err == nil && n > 0 {
		lvl = zapcore.Level(-n)
	} else if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return logr.Logger{}, fmt.Errorf("--zap-log-level %q: want debug, info, error or a positive integer", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	// Every apply is logged (no sampling), and errors here are operating conditions logged with
	// their context (a refused config, FRR not up yet): no stack trace to bury them.
	sink := zapcore.Lock(zapcore.AddSync(w))
	z := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), sink, zap.NewAtomicLevelAt(lvl)),
		zap.AddCaller(), zap.ErrorOutput(sink))
	return zapr.NewLogger(z), nil
}
