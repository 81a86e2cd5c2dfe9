package main

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/reloader"
)

type birdOptions struct {
	config, statusDir, scratch, metricsAddr, birdConfig string
	debounce, poll                                      time.Duration
	bird                                                *reloader.BIRD
	noMetalLB                                           bool
}

// runBIRD is the reloader's BIRD mode: the same watch, status file and metrics, applied with
// `bird -p` and `birdc configure`.
func runBIRD(ctx context.Context, log logr.Logger, reg *prometheus.Registry, o birdOptions) error {
	if o.metricsAddr != "" {
		reg.MustRegister(&reloader.BIRDCollector{BIRD: o.bird, Timeout: 5 * time.Second, NoMetalLB: o.noMetalLB})
		go serveMetrics(ctx, o.metricsAddr, reg, log.Error)
	}
	r := &reloader.BIRDReloader{ConfigPath: o.config, StatusDir: o.statusDir, Debounce: o.debounce, Poll: o.poll, Log: log,
		Applier:  &reloader.BIRDApplier{BIRD: o.bird, ConfigPath: o.birdConfig, Scratch: o.scratch, Log: log},
		Sessions: &reloader.SessionReporter{Read: reloader.ReadBIRDSessions(o.bird), Log: log.WithName("sessions")}}
	log.Info("Starting in BIRD mode", "config", o.config, "birdConfig", o.birdConfig, "socket", o.bird.Socket, "debounce", o.debounce)
	return r.Run(ctx)
}
