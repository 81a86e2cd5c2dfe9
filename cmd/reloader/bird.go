package main

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/reloader"
)

// runBIRD is the reloader's BIRD mode: the same watch, status file and metrics, applied with
// `bird -p` and `birdc configure`.
func runBIRD(ctx context.Context, log logr.Logger, reg *prometheus.Registry, o *options, scratch string) error {
	b := &reloader.BIRD{Bird: o.bird, Birdc: o.birdc, Socket: o.birdSocket}
	if o.metricsAddr != "0" {
		reg.MustRegister(&reloader.BIRDCollector{BIRD: b, Timeout: 5 * time.Second, NoMetalLB: !o.metallbMetrics})
	}
	r := &reloader.BIRDReloader{ConfigPath: o.config, StatusDir: o.statusDir, Debounce: o.debounce, Poll: o.poll, Log: log,
		Applier:  &reloader.BIRDApplier{BIRD: b, ConfigPath: o.birdConfig, Scratch: scratch, Log: log},
		Sessions: &reloader.SessionReporter{Read: reloader.ReadBIRDSessions(b), Log: log.WithName("sessions")}}
	log.Info("Starting in BIRD mode", "config", o.config, "birdConfig", o.birdConfig, "socket", b.Socket, "debounce", o.debounce)
	return r.Run(ctx)
}
