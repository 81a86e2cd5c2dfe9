// Command reloader runs beside FRR: it watches a rendered frr.conf and keeps
// the FRR instance running it, applying only the difference through vtysh.
// With --routing-daemon bird it keeps a BIRD 2 running a rendered bird.conf
// instead (bird.go). See docs/reloader.md and docs/bird.md.
//
// Two subcommands serve the chart: `reloader install DST` copies the binary (install.go; the routelb
// image has no cp) and `reloader frr-init` is PID 1 of the FRR container (frrinit.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/routelb/routelb/internal/metricsauth"
	"github.com/routelb/routelb/reloader"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "install":
		err = install(os.Args[2])
	case len(os.Args) >= 2 && os.Args[1] == "frr-init":
		// PID 1 of the FRR container handles its signals itself.
		err = frrInit(os.Args[2:])
	default:
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "reloader:", err)
		os.Exit(1)
	}
}

// options are the reloader's flags.
type options struct {
	config, statusDir, scratch, daemon string
	metricsAddr                        string // "0" disables, as for the other binaries
	deprecatedMetricsAddr              *string
	metrics                            metricsauth.Options
	kubeconfig                         string // for --metrics-secure only
	healthAddr                         string // "0" disables
	debounce, poll, resync             time.Duration
	logLevel                           string
	metallbMetrics                     bool // also serve MetalLB's metallb_bgp_*/metallb_bfd_* series
	// FRR mode
	pathspace, vtysh, frrConfDir, frrRunDir, frrReload string
	// BIRD mode
	bird, birdc, birdSocket, birdConfig string
}

// parseOptions reads the flags; a deprecated flag is reported on the logger once it exists.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("reloader", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "config", "", "rendered config file to apply (required)")
	fs.StringVar(&o.pathspace, "pathspace", "", "FRR pathspace (-N) of the instance; empty = default instance")
	fs.StringVar(&o.vtysh, "vtysh", "/usr/bin/vtysh", "vtysh binary")
	fs.StringVar(&o.frrConfDir, "frr-config-dir", "", "vtysh --config_dir (where <pathspace>/vtysh.conf lives); empty = vtysh's default")
	fs.StringVar(&o.frrRunDir, "frr-run-dir", "/var/run/frr", "FRR runtime directory (pid files, sockets)")
	fs.StringVar(&o.frrReload, "frr-reload", "/usr/lib/frr/frr-reload.py", "frr-reload.py, used only as full-reload fallback")
	fs.DurationVar(&o.debounce, "debounce", 200*time.Millisecond, "coalesce bursts of writes for at most this long")
	fs.StringVar(&o.statusDir, "status-dir", "", "where status and redacted running config go (default: beside the config)")
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":9121", "address for /metrics; 0 disables")
	o.deprecatedMetricsAddr = fs.String("metrics-addr", "", "deprecated: use --metrics-bind-address (here an empty value disables)")
	o.metrics.RegisterFlags(fs)
	fs.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"),
		"with --metrics-secure: kubeconfig of the API server that checks scrapers' tokens (default $KUBECONFIG); empty: in-cluster config")
	fs.StringVar(&o.healthAddr, "health-probe-bind-address", "0", "address of /healthz (plain HTTP, for the liveness probe); 0 disables it")
	fs.DurationVar(&o.poll, "poll", time.Second, "how often daemon restarts are checked")
	fs.DurationVar(&o.resync, "resync", time.Minute, "how often FRR's running config is checked for drift; 0 disables")
	fs.StringVar(&o.scratch, "scratch-dir", "", "private working directory (default: a new temporary directory)")
	fs.StringVar(&o.daemon, "routing-daemon", "frr", "routing daemon to keep configured: frr or bird")
	fs.StringVar(&o.bird, "bird", "/usr/sbin/bird", "bird binary, for parse-only checks (bird -p) in BIRD mode")
	fs.StringVar(&o.birdc, "birdc", "/usr/sbin/birdc", "birdc binary in BIRD mode")
	fs.StringVar(&o.birdSocket, "bird-socket", "/run/bird/bird.ctl", "BIRD's control socket in BIRD mode")
	fs.StringVar(&o.birdConfig, "bird-config", "/etc/bird/bird.conf", "the file BIRD runs (its -c) in BIRD mode; the reloader writes only validated configs there")
	fs.BoolVar(&o.metallbMetrics, "metallb-metrics", true, "also serve MetalLB's metallb_bgp_*/metallb_bfd_* metrics (in BIRD mode those BIRD has data for), for existing dashboards and alerts")
	fs.StringVar(&o.logLevel, "zap-log-level", "info", "log verbosity: debug, info, error, or an integer (higher logs more)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["metrics-addr"] {
		o.deprecatedMetricsAddr = nil
	} else if !set["metrics-bind-address"] {
		o.metricsAddr = *o.deprecatedMetricsAddr
		if o.metricsAddr == "" {
			o.metricsAddr = "0"
		}
	}
	switch {
	case o.config == "":
		return nil, errors.New("--config is required")
	case o.daemon != "frr" && o.daemon != "bird":
		return nil, fmt.Errorf("--routing-daemon %q: want frr or bird", o.daemon)
	}
	return o, o.metrics.Validate()
}

// run is the reloader: it parses args, then keeps the daemon configured until ctx ends.
func run(ctx context.Context, args []string, _, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	base, err := newLogger(o.logLevel, stderr)
	if err != nil {
		return err
	}
	log := base.WithName("reloader")
	if o.deprecatedMetricsAddr != nil {
		log.Info("Flag --metrics-addr is deprecated, use --metrics-bind-address (0 disables)", "metricsBindAddress", o.metricsAddr)
	}
	dir, err := scratchDir(o.scratch)
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // scratch space; nothing to do if it lingers
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	if err := startServers(ctx, o, reg, base.WithName("metrics")); err != nil {
		return err
	}
	if o.daemon == "bird" {
		return runBIRD(ctx, log, reg, o, dir)
	}
	return runFRR(ctx, log, reg, o, dir)
}

// runFRR is the reloader's FRR mode: deltas applied through vtysh.
func runFRR(ctx context.Context, log logr.Logger, reg *prometheus.Registry, o *options, scratch string) error {
	frr := &reloader.FRR{Vtysh: o.vtysh, Pathspace: o.pathspace, ConfigDir: o.frrConfDir, RunDir: o.frrRunDir,
		FrrReload: o.frrReload}
	if o.metricsAddr != "0" {
		reg.MustRegister(&reloader.FRRCollector{FRR: frr, Timeout: 5 * time.Second, NoMetalLB: !o.metallbMetrics})
	}
	r := &reloader.Reloader{ConfigPath: o.config, StatusDir: o.statusDir, Debounce: o.debounce, Poll: o.poll,
		Resync: o.resync, Log: log, Applier: &reloader.Applier{FRR: frr, Scratch: scratch, Log: log},
		Sessions: &reloader.SessionReporter{FRR: frr, Log: log.WithName("sessions")}}
	log.Info("Starting", "config", o.config, "pathspace", o.pathspace, "debounce", o.debounce)
	return r.Run(ctx)
}

func scratchDir(dir string) (string, error) {
	if dir != "" {
		return filepath.Join(dir, fmt.Sprintf("reloader-%d", os.Getpid())), nil
	}
	return os.MkdirTemp("", "reloader-")
}

// newRegistry is the registry /metrics serves: the reloader's own metrics plus the Go runtime and
// process collectors that dashboards expect from every Kubernetes component.
func newRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, reloader.RegisterMetrics(reg)
}

// startServers binds /metrics (HTTPS with authentication and authorization under --metrics-secure)
// and /healthz, and serves them until ctx ends. A port in use, a bad certificate or a missing
// kubeconfig stops the reloader here, at start.
func startServers(ctx context.Context, o *options, reg *prometheus.Registry, log logr.Logger) error {
	if o.metricsAddr != "0" {
		var cfg *rest.Config
		if o.metrics.Secure {
			var err error
			if cfg, err = restConfig(o.kubeconfig); err != nil {
				return fmt.Errorf("--metrics-secure needs the API server: %w", err)
			}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv, err := metricsauth.NewServer(mux, o.metrics, cfg, log)
		if err != nil {
			return err
		}
		if err := serve(ctx, o.metricsAddr, srv.Serve, log); err != nil {
			return err
		}
	}
	if o.healthAddr != "0" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
		health, _ := metricsauth.NewServer(mux, metricsauth.Options{}, nil, log.WithName("health"))
		return serve(ctx, o.healthAddr, health.Serve, log)
	}
	return nil
}

// serve listens on addr now and runs s on it in the background; a later failure is logged.
func serve(ctx context.Context, addr string, s func(context.Context, net.Listener) error, log logr.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		if err := s(ctx, l); err != nil {
			log.Error(err, "Server stopped", "address", addr)
		}
	}()
	return nil
}

// restConfig is the kubeconfig's API server, or the pod's (in-cluster) when path is empty.
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", path)
}
