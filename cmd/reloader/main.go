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
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/routelb/routelb/reloader"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "install":
		err = install(os.Args[2])
	case len(os.Args) >= 2 && os.Args[1] == "frr-init":
		err = frrInit(os.Args[2:])
	default:
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "reloader:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		config      = flag.String("config", "", "rendered FRR config file to apply (required)")
		pathspace   = flag.String("pathspace", "", "FRR pathspace (-N) of the instance; empty = default instance")
		vtysh       = flag.String("vtysh", "/usr/bin/vtysh", "vtysh binary")
		frrConfDir  = flag.String("frr-config-dir", "", "vtysh --config_dir (where <pathspace>/vtysh.conf lives); empty = vtysh's default")
		frrRunDir   = flag.String("frr-run-dir", "/var/run/frr", "FRR runtime directory (pid files, sockets)")
		frrReload   = flag.String("frr-reload", "/usr/lib/frr/frr-reload.py", "frr-reload.py, used only as full-reload fallback")
		debounce    = flag.Duration("debounce", 200*time.Millisecond, "coalesce bursts of writes for at most this long")
		statusDir   = flag.String("status-dir", "", "where status and redacted running config go (default: beside the config)")
		metricsAddr = flag.String("metrics-addr", ":9121", "address for /metrics; empty disables")
		mlbMetrics  = flag.Bool("metallb-metrics", true, "also serve MetalLB's metallb_bgp_*/metallb_bfd_* metrics (in BIRD mode those BIRD has data for), for existing dashboards and alerts")
		poll        = flag.Duration("poll", time.Second, "how often FRR daemon restarts are checked")
		resync      = flag.Duration("resync", time.Minute, "how often the running config is checked for drift; 0 disables")
		scratch     = flag.String("scratch-dir", "", "private working directory (default: a new temporary directory)")
		daemon      = flag.String("routing-daemon", "frr", "routing daemon to keep configured: frr or bird")
		bird        = flag.String("bird", "/usr/sbin/bird", "bird binary, for parse-only checks (bird -p) in BIRD mode")
		birdc       = flag.String("birdc", "/usr/sbin/birdc", "birdc binary in BIRD mode")
		birdSocket  = flag.String("bird-socket", "/run/bird/bird.ctl", "BIRD's control socket in BIRD mode")
		birdConfig  = flag.String("bird-config", "/etc/bird/bird.conf", "the file BIRD runs (its -c) in BIRD mode; the reloader writes only validated configs there")
	)
	logLevel := flag.String("zap-log-level", "info", "log verbosity: debug, info, error, or an integer (higher logs more)")
	flag.Parse()
	if *config == "" {
		return errors.New("--config is required")
	}
	base, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	log := base.WithName("reloader")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	dir, err := scratchDir(*scratch)
	if err != nil {
		return err
	}
	reg, err := newRegistry()
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // scratch space; nothing to do if it lingers
	if *daemon == "bird" {
		return runBIRD(ctx, log, reg, birdOptions{config: *config, statusDir: *statusDir, scratch: dir, metricsAddr: *metricsAddr,
			debounce: *debounce, poll: *poll, bird: &reloader.BIRD{Bird: *bird, Birdc: *birdc, Socket: *birdSocket}, birdConfig: *birdConfig, noMetalLB: !*mlbMetrics})
	}
	if *daemon != "frr" {
		return fmt.Errorf("--routing-daemon %q: want frr or bird", *daemon)
	}
	frr := &reloader.FRR{Vtysh: *vtysh, Pathspace: *pathspace, ConfigDir: *frrConfDir, RunDir: *frrRunDir,
		FrrReload: *frrReload}
	if *metricsAddr != "" {
		reg.MustRegister(&reloader.FRRCollector{FRR: frr, Timeout: 5 * time.Second, NoMetalLB: !*mlbMetrics})
		go serveMetrics(ctx, *metricsAddr, reg, log.Error)
	}
	r := &reloader.Reloader{ConfigPath: *config, StatusDir: *statusDir, Debounce: *debounce, Poll: *poll,
		Resync: *resync, Log: log, Applier: &reloader.Applier{FRR: frr, Scratch: dir, Log: log},
		Sessions: &reloader.SessionReporter{FRR: frr, Log: log.WithName("sessions")}}
	log.Info("Starting", "config", *config, "pathspace", *pathspace, "debounce", *debounce)
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

func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, logErr func(error, string, ...any)) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logErr(err, "metrics server stopped", "addr", addr)
	}
}
