package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestParseOptions: --metrics-bind-address follows the other binaries (0 disables); the old
// --metrics-addr still works, its empty value meaning disabled, and loses to the new name.
func TestParseOptions(t *testing.T) {
	for _, c := range []struct {
		name       string
		args       []string
		addr       string
		deprecated bool
		err        string
	}{
		{"default", []string{"--config", "f"}, ":9121", false, ""},
		{"new name", []string{"--config", "f", "--metrics-bind-address", "127.0.0.1:1"}, "127.0.0.1:1", false, ""},
		{"new name disabled", []string{"--config", "f", "--metrics-bind-address", "0"}, "0", false, ""},
		{"old name", []string{"--config", "f", "--metrics-addr", ":2"}, ":2", true, ""},
		{"old name empty disables", []string{"--config", "f", "--metrics-addr="}, "0", true, ""},
		{"new name wins", []string{"--config", "f", "--metrics-addr", ":2", "--metrics-bind-address", ":3"}, ":3", true, ""},
		{"no config", nil, "", false, "--config is required"},
		{"bad daemon", []string{"--config", "f", "--routing-daemon", "quagga"}, "", false, `--routing-daemon "quagga"`},
		{"stray argument", []string{"--config", "f", "extra"}, "", false, "unexpected arguments"},
		{"unknown flag", []string{"--config", "f", "--nope"}, "", false, "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseOptions(c.args, &stderr)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want an error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.metricsAddr != c.addr || (o.deprecatedMetricsAddr != nil) != c.deprecated {
				t.Errorf("metrics address %q (deprecated flag used: %v), want %q (%v)", o.metricsAddr,
					o.deprecatedMetricsAddr != nil, c.addr, c.deprecated)
			}
		})
	}
}

// TestRunLogsDeprecation: the old flag's use is said in the log the operator reads, before the
// reloader starts (here it stops at once: the context is already done).
func TestRunLogsDeprecation(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr bytes.Buffer
	err := run(ctx, []string{"--config", dir + "/frr.conf", "--metrics-addr=", "--scratch-dir", dir, "--vtysh", "/nonexistent"},
		&bytes.Buffer{}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "--metrics-addr is deprecated") {
		t.Errorf("no deprecation line in the log:\n%s", stderr.String())
	}
}
