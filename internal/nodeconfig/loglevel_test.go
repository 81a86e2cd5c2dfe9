package nodeconfig

import (
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

func TestFRRLogLevel(t *testing.T) {
	for in, want := range map[string]string{"": "informational", "info": "informational", "debug": "debugging",
		"all": "debugging", "warn": "warnings", "error": "errors", "none": "emergencies", "notifications": "notifications"} {
		if got, err := FRRLogLevel(in); err != nil || got != want {
			t.Errorf("FRRLogLevel(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := FRRLogLevel("verbose"); err == nil {
		t.Error("FRRLogLevel(verbose): no error")
	}
}

func TestLogLevelOf(t *testing.T) {
	for verbosity, want := range map[int]string{0: "informational", 1: "debugging", 5: "debugging"} {
		log := funcr.New(func(string, string) {}, funcr.Options{Verbosity: verbosity})
		if got := LogLevelOf(log); got != want {
			t.Errorf("verbosity %d: %q, want %q", verbosity, got, want)
		}
	}
	if got := LogLevelOf(logrDiscard()); got != "errors" {
		t.Errorf("a logger that logs nothing: %q, want errors", got)
	}
}

func logrDiscard() logr.Logger { return logr.Discard() }
