// Command speaker runs on every node. It watches the cluster and makes the node announce the VIPs of
// LoadBalancer Services: in BGP mode by writing frr.conf for the FRR sidecar (see docs/bgp.md).
// main only wires: each mode adds its reconcilers to the one manager in its own file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/controllers/speaker"
)

// options are the speaker's flags, shared by every mode's setup function.
type options struct {
	NodeName               string
	Namespace              string
	LBClass                string
	FRRConfigDir           string
	MetricsBindAddress     string
	HealthProbeBindAddress string
	PodName, PodUID        string // the speaker's pod, owner of the objects it writes
	IgnoreExcludeLB        bool
	MetalLBMetrics         bool // serve metallb_* beside routelb_*
}

func main() {
	if err := run(ctrl.SetupSignalHandler(), os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		_, _ = fmt.Fprintln(os.Stderr, "speaker:", err)
		os.Exit(1)
	}
}

// run parses the flags, builds the manager, adds each mode's reconcilers, and runs until ctx ends.
// skipNameValidation lets the tests call run more than once in one process: controller-runtime
// otherwise refuses a second controller with the same name. The binary runs one manager.
var skipNameValidation = false

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	// Flags registered at package level (each mode's own, e.g. l2.go's) live on flag.CommandLine.
	flag.CommandLine.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	fs.StringVar(&o.NodeName, "node-name", os.Getenv("NODE_NAME"), "name of the node this speaker runs on (default $NODE_NAME)")
	fs.StringVar(&o.PodName, "pod-name", os.Getenv("POD_NAME"), "this speaker's pod, set as owner of its status objects and Lease (default $POD_NAME)")
	fs.StringVar(&o.PodUID, "pod-uid", os.Getenv("POD_UID"), "UID of that pod (default $POD_UID); without name and UID the objects have no owner")
	fs.StringVar(&o.Namespace, "namespace", "metallb-system", "namespace of the metallb.io objects and their Secrets")
	fs.StringVar(&o.LBClass, "lb-class", "", "spec.loadBalancerClass to announce; empty: only Services without a class")
	fs.BoolVar(&o.IgnoreExcludeLB, "ignore-exclude-lb", false,
		"ignore the node.kubernetes.io/exclude-from-external-load-balancers label (as MetalLB's flag): labelled nodes still announce")
	fs.StringVar(&o.FRRConfigDir, "frr-config-dir", "/etc/frr-rendered", "directory shared with the FRR sidecar, where frr.conf is written")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":7473", "address of the Prometheus metrics endpoint; 0 disables it")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8082", "address of /healthz and /readyz; 0 disables them")
	fs.BoolVar(&o.MetalLBMetrics, "metallb-metrics", true, "also serve MetalLB's metallb_* metrics (names, types and labels), for existing dashboards and alerts")
	if fs.Lookup(config.KubeconfigFlagName) == nil {
		config.RegisterFlags(fs) // --kubeconfig; ctrl.GetConfig also honours $KUBECONFIG and in-cluster config
	}
	zo := zap.Options{}
	zo.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
	log := ctrl.Log.WithName("setup")
	if o.NodeName == "" {
		return errors.New("--node-name (or $NODE_NAME) is required")
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	if err := speaker.RegisterMetrics(metrics.Registry); err != nil {
		return fmt.Errorf("registering the speaker's metrics: %w", err)
	}
	if o.MetalLBMetrics {
		if err := speaker.RegisterMetalLBMetrics(metrics.Registry); err != nil {
			return fmt.Errorf("registering MetalLB's metrics: %w", err)
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 controllers.Scheme(),
		Cache:                  speaker.SpeakerCacheOptions(o.Namespace, o.NodeName),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress: o.HealthProbeBindAddress,
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
	})
	if err != nil {
		return fmt.Errorf("building the manager: %w", err)
	}
	if err := setupBGP(mgr, o); err != nil {
		return fmt.Errorf("setting up BGP mode: %w", err)
	}
	if err := setupL2(mgr, o); err != nil {
		return fmt.Errorf("setting up Layer 2 mode: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("Starting speaker", "node", o.NodeName, "namespace", o.Namespace, "lbClass", o.LBClass, "ignoreExcludeLB", o.IgnoreExcludeLB, "frrConfigDir", o.FRRConfigDir)
	return mgr.Start(ctx)
}
