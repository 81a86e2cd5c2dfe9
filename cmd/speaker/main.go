// Command speaker runs on every node. It watches the cluster and makes the node announce the VIPs of
// LoadBalancer Services: in BGP mode by writing frr.conf (or bird.conf) for the routing daemon's
// sidecar (see docs/bgp.md), in Layer 2 mode by answering ARP/NDP (docs/l2.md).
// main only wires: each mode adds its reconcilers to the one manager in its own file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/internal/memlimit"
	"github.com/routelb/routelb/internal/metricsauth"
	"github.com/routelb/routelb/internal/metricsauth/ctrlmetrics"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// options are the speaker's flags, shared by every mode's setup function.
type options struct {
	NodeName               string
	Namespace              string
	LBClass                string
	ConfigDir              string // where frr.conf / bird.conf is written, shared with the sidecar
	RoutingDaemon          string
	BGPExtras              string // ConfigMap appended to frr.conf (MetalLB's bgpextras); empty: none
	MetricsBindAddress     string // "0" disables
	HealthProbeBindAddress string // "0" disables
	PprofBindAddress       string // empty disables
	Metrics                metricsauth.Options
	PodName, PodUID        string // the speaker's pod, owner of the objects it writes
	IgnoreExcludeLB        bool
	MetalLBMetrics         bool          // serve metallb_* beside routelb_*
	SecretRefresh          time.Duration // how often the BGPPeers' Secrets are read again
	L2                     l2Options
	Memberlist             memberlistOptions
	Zap                    zap.Options

	// Deprecated names the deprecated aliases given, each as [old, new], for main to log.
	Deprecated [][2]string
}

// binary is what main hands every part: the logger, the registry /metrics serves, and the
// speaker's series on it.
type binary struct {
	Log      logr.Logger
	Registry prometheus.Registerer
	Metrics  *speaker.Metrics
	Secrets  *speaker.SecretStore // the BGPPeers' Secrets, shared by both modes
}

func main() {
	err := run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		_, _ = fmt.Fprintln(os.Stderr, "speaker:", err)
		os.Exit(1)
	}
}

// skipNameValidation lets the tests call run more than once in one process: controller-runtime
// otherwise refuses a second controller with the same name. The binary runs one manager.
var skipNameValidation = false

// run parses args, builds the manager, adds each mode's reconcilers, and runs until ctx ends.
// Logs go to stderr; -h prints the flags on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	log := zap.New(zap.UseFlagOptions(&o.Zap), zap.WriteTo(stderr))
	// controller-runtime's own parts (client warnings, caches) log through its global logger.
	ctrl.SetLogger(log)
	setup := log.WithName("setup")
	for _, d := range o.Deprecated {
		setup.Info("Flag is deprecated; use its new name", "flag", "--"+d[0], "use", "--"+d[1])
	}
	if o.NodeName == "" {
		return errors.New("--node-name (or $NODE_NAME) is required")
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	// The registry controller-runtime's metrics server serves is the binary's one registry.
	bin := binary{Log: log, Registry: metrics.Registry}
	if bin.Metrics, err = speaker.NewMetrics(bin.Registry, o.MetalLBMetrics); err != nil {
		return fmt.Errorf("registering the speaker's metrics: %w", err)
	}
	metricsOpts, err := ctrlmetrics.ServerOptions(o.MetricsBindAddress, o.Metrics, log.WithName("metrics"))
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 controllers.Scheme(),
		Logger:                 log,
		Cache:                  speaker.SpeakerCacheOptions(o.Namespace, o.NodeName),
		Client:                 speaker.SpeakerClientOptions(),
		Metrics:                metricsOpts,
		HealthProbeBindAddress: o.HealthProbeBindAddress,
		PprofBindAddress:       o.PprofBindAddress,
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
	})
	if err != nil {
		return fmt.Errorf("building the manager: %w", err)
	}
	if bin.Secrets, err = speaker.NewSecretStore(mgr, o.Namespace, o.SecretRefresh); err != nil {
		return err
	}
	if err := setupBGP(mgr, o, bin); err != nil {
		return fmt.Errorf("setting up BGP mode: %w", err)
	}
	if err := setupL2(mgr, o, bin); err != nil {
		return fmt.Errorf("setting up Layer 2 mode: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	memLimit, err := memlimit.Set()
	if err != nil {
		return err
	}
	// After a burst (a cold start, a mass change) the runtime would keep about twice the live heap
	// resident; a quiet speaker gives its free pages back (internal/memlimit).
	if err := mgr.Add(memlimit.IdleReturner{Interval: 30 * time.Second, Threshold: 16 << 20,
		Log: ctrl.Log.WithName("memory")}); err != nil {
		return err
	}
	setup.Info("Starting speaker", "node", o.NodeName, "namespace", o.Namespace, "lbClass", o.LBClass,
		"ignoreExcludeLB", o.IgnoreExcludeLB, "configDir", o.ConfigDir, "routingDaemon", o.RoutingDaemon,
		"goMemoryLimit", memLimit)
	return mgr.Start(ctx)
}

// parseFlags reads args into the options; -h prints the flags on help and returns flag.ErrHelp.
func parseFlags(args []string, help io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; usage is printed on -h only
	fs.StringVar(&o.NodeName, "node-name", os.Getenv("NODE_NAME"), "name of the node this speaker runs on (default $NODE_NAME)")
	fs.StringVar(&o.PodName, "pod-name", os.Getenv("POD_NAME"), "this speaker's pod, set as owner of its status objects and Lease (default $POD_NAME)")
	fs.StringVar(&o.PodUID, "pod-uid", os.Getenv("POD_UID"), "UID of that pod (default $POD_UID); without name and UID the objects have no owner")
	fs.StringVar(&o.Namespace, "namespace", "metallb-system", "namespace of the metallb.io objects and their Secrets")
	fs.StringVar(&o.LBClass, "lb-class", "", "spec.loadBalancerClass to announce; empty: only Services without a class")
	fs.BoolVar(&o.IgnoreExcludeLB, "ignore-exclude-lb", false,
		"ignore the node.kubernetes.io/exclude-from-external-load-balancers label (as MetalLB's flag): labelled nodes still announce")
	fs.StringVar(&o.ConfigDir, "config-dir", "/etc/frr-rendered",
		"directory shared with the routing daemon's sidecar, where frr.conf (or bird.conf) is written")
	alias(fs, "frr-config-dir", "config-dir", &o.Deprecated)
	fs.StringVar(&o.RoutingDaemon, "routing-daemon", nodeconfig.DaemonFRR,
		"routing daemon of the sidecar: frr (frr.conf) or bird (bird.conf, BIRD 2), written into --config-dir")
	fs.StringVar(&o.BGPExtras, "bgp-extras-configmap", "bgpextras",
		"ConfigMap in --namespace whose \"extras\" key is appended verbatim to frr.conf (MetalLB's bgpextras); empty: none")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":7473", "address of the Prometheus metrics endpoint; 0 disables it")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8082", "address of /healthz and /readyz; 0 disables them")
	fs.StringVar(&o.PprofBindAddress, "pprof-bind-address", "",
		"address of Go's /debug/pprof endpoints, for profiling; empty (the default) disables them. Unauthenticated: bind to loopback")
	fs.DurationVar(&o.SecretRefresh, "secret-refresh", speaker.DefaultSecretRefresh,
		"how often the Secrets BGPPeers name are read again (the speaker may get them, not watch them): the longest a rotated password takes to reach the config")
	fs.BoolVar(&o.MetalLBMetrics, "metallb-metrics", true, "also serve MetalLB's metallb_* metrics (names, types and labels), for existing dashboards and alerts")
	o.Metrics.RegisterFlags(fs)
	registerL2Flags(fs, &o.L2)
	registerMemberlistFlags(fs, &o.Memberlist)
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
	return o, o.Metrics.Validate()
}

// alias registers old as a deprecated name of the flag called current: both set one value, and
// each use of old is appended to used so that main can log it once it has a logger.
func alias(fs *flag.FlagSet, old, current string, used *[][2]string) {
	f := fs.Lookup(current)
	fs.Func(old, "deprecated: use --"+current, func(v string) error {
		*used = append(*used, [2]string{old, current})
		return f.Value.Set(v)
	})
}
