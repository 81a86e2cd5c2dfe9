package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

// TestFlags reads the controller's flags into its one options value, refuses what it does not
// know, and prints the flags on -h.
func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"--namespace", "lb", "--metrics-bind-address", "0", "--webhook-service-name", "hook", "--workers=3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Namespace != "lb" || o.MetricsBindAddress != "0" || o.Workers != 3 || !o.LeaderElect ||
		o.ConversionService.Name != "hook" || o.ConversionService.Namespace != "lb" || o.ConversionService.Port != 443 {
		t.Errorf("options %+v", o.ControllerOptions)
	}
	for _, args := range [][]string{{"--metrics-addr", ":1"}, {"stray"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	var help strings.Builder
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-metrics-bind-address") {
		t.Errorf("-h: %v, printed %q", err, help.String())
	}
}
