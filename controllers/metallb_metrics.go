package controllers

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// MetalLB's k8s client metrics (its internal/k8s/controllers), under MetalLB's names, so that the
// MetalLBStaleConfig and MetalLBConfigNotLoaded alerts of MetalLB's chart keep working after the
// swap. Both binaries export them, as both of MetalLB's do. They are updated whether or not they
// are registered; only a registered one is served.
var (
	k8sUpdates = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "metallb", Subsystem: "k8s_client", Name: "updates_total",
		Help: "Number of k8s object updates that have been processed.",
	})
	k8sUpdateErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "metallb", Subsystem: "k8s_client", Name: "update_errors_total",
		Help: "Number of k8s object updates that failed for some reason.",
	})
	k8sConfigLoaded = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "metallb", Subsystem: "k8s_client", Name: "config_loaded_bool",
		Help: "1 if the MetalLB configuration was successfully loaded at least once.",
	})
	k8sConfigStale = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "metallb", Subsystem: "k8s_client", Name: "config_stale_bool",
		Help: "1 if running on a stale configuration, because the latest config failed to load.",
	})
)

// RegisterMetalLBK8sClientMetrics puts the metallb_k8s_client_* series on reg. Registering twice on
// one registry is not an error: tests build several managers per process.
func RegisterMetalLBK8sClientMetrics(reg prometheus.Registerer) error {
	return RegisterAll(reg, k8sUpdates, k8sUpdateErrors, k8sConfigLoaded, k8sConfigStale)
}

// RegisterAll registers each collector, tolerating one already there.
func RegisterAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
	}
	return nil
}

// ObserveConfig records a load of the metallb.io objects. routelb keeps the last good version of
// each invalid object where MetalLB keeps its whole last good configuration, so any problem means
// part of what runs is not the latest: MetalLB's "stale". Loaded stays 1 once set, as in MetalLB.
func ObserveConfig(problems int) {
	k8sConfigLoaded.Set(1)
	if problems > 0 {
		k8sConfigStale.Set(1)
		return
	}
	k8sConfigStale.Set(0)
}

// CountUpdates wraps a reconciler so that each reconcile counts as one processed update, and each
// failed one as an update error, as MetalLB counts its reconciles.
func CountUpdates(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		k8sUpdates.Inc()
		if err != nil {
			k8sUpdateErrors.Inc()
		}
		return res, err
	})
}
