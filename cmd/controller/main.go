// Command controller gives LoadBalancer Services their addresses from the metallb.io IPAddressPools,
// as MetalLB's controller does, and serves the validating webhook for rules across metallb.io objects.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/routelb/routelb/controllers/ipam"
	"github.com/routelb/routelb/internal/memlimit"
)

// options are the controller's flags: the manager's options plus the logger's.
type options struct {
	ipam.ControllerOptions
	Zap zap.Options
}

func main() {
	err := run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		_, _ = fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(1)
	}
}

// run parses args, builds the manager and runs it until ctx ends. Logs go to stderr; -h prints
// the flags on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	log := zap.New(zap.UseFlagOptions(&o.Zap), zap.WriteTo(stderr))
	// controller-runtime's own parts (client warnings, caches) log through its global logger.
	ctrl.SetLogger(log)
	// The registry controller-runtime's metrics server serves is the binary's one registry.
	o.Logger, o.Registerer = log, metrics.Registry
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	setup := log.WithName("setup")
	memLimit, err := memlimit.Set()
	if err != nil {
		return err
	}
	setup.Info("Starting controller", "namespace", o.Namespace, "lbClass", o.LBClass, "leaderElect", o.LeaderElect,
		"goMemoryLimit", memLimit)
	// RunController campaigns again with a new manager when leadership is lost.
	return ipam.RunController(ctx, cfg, o.ControllerOptions, setup)
}

// parseFlags reads args into the options; -h prints the flags on help and returns flag.ErrHelp.
func parseFlags(args []string, help io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; usage is printed on -h only
	fs.StringVar(&o.Namespace, "namespace", "metallb-system", "namespace of the metallb.io objects and of the leader lease")
	fs.StringVar(&o.LBClass, "lb-class", "", "spec.loadBalancerClass to handle; empty: only Services without a class")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "elect a leader so only one replica allocates")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":7472", "address of the Prometheus metrics endpoint; 0 disables it")
	o.MetricsAuth.RegisterFlags(fs)
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz; 0 disables them")
	fs.StringVar(&o.WebhookHost, "webhook-bind-address", "", "IP address the validating webhook listens on (its port is --webhook-port); empty: every address")
	fs.IntVar(&o.WebhookPort, "webhook-port", 9443, "port of the validating webhook")
	fs.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with the webhook's tls.crt and tls.key")
	fs.BoolVar(&o.DisableWebhook, "disable-webhook", false, "do not serve the validating webhook")
	fs.StringVar(&o.ConversionService.Name, "webhook-service-name", "",
		"Service (in --namespace, port 443) in front of the webhook; when set, the BGPPeer CRD is pointed at its conversion webhook")
	fs.IntVar(&o.Workers, "workers", 8, "Services reconciled in parallel")
	fs.StringVar(&o.PodName, "pod-name", "", "this pod's name (downward API): the leader owns the leader Lease, so it goes with the chart")
	fs.StringVar(&o.PodUID, "pod-uid", "", "this pod's UID (downward API), with --pod-name")
	fs.BoolVar(&o.MetalLBMetrics, "metallb-metrics", true, "also serve MetalLB's metallb_* metrics (names, types and labels), for existing dashboards and alerts")
	config.RegisterFlags(fs) // --kubeconfig; ctrl.GetConfig also honours $KUBECONFIG and in-cluster config
	o.Zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(help)
			fs.PrintDefaults()
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.ConversionService.Namespace, o.ConversionService.Port = o.Namespace, 443
	return o, o.MetricsAuth.Validate()
}
