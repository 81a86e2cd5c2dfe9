package ipam

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/metricsauth"
	"github.com/routelb/routelb/internal/metricsauth/ctrlmetrics"
)

// ControllerOptions configure the controller binary's manager.
type ControllerOptions struct {
	Scheme                 *runtime.Scheme
	Namespace              string // routelb's namespace: pools, the leader lease
	LBClass                string
	LeaderElect            bool
	LeaderElectionID       string
	MetricsBindAddress     string              // "0" disables
	HealthProbeBindAddress string              // "0" disables
	MetricsAuth            metricsauth.Options // --metrics-secure, --metrics-cert-dir
	DisableWebhook         bool
	WebhookHost            string
	WebhookPort            int
	CertDir                string
	Workers                int
	SkipNameValidation     bool // tests that restart the manager in one process
	// PodName and PodUID name the controller's pod (downward API): the leader makes it the
	// owner of the leader Lease. Empty: the Lease has no owner (a controller run outside a pod).
	PodName, PodUID string
	// ConversionService, when its Name is set, is written into the BGPPeer CRD as its conversion
	// webhook at start (see EnsureConversionWebhook). Empty: the CRD is left as installed.
	ConversionService ConversionService
	// MetalLBMetrics serves MetalLB's metallb_* series beside routelb's own (--metallb-metrics).
	MetalLBMetrics bool
	// Logger and Registerer are the binary's (main's): the manager and every reconciler log
	// through Logger, and the metrics go on Registerer. Registerer must be what /metrics serves,
	// controller-runtime's metrics.Registry; nil means that one. A zero Logger discards.
	Logger     logr.Logger
	Registerer prometheus.Registerer
}

// setDefaults fills the fields left zero.
func (o *ControllerOptions) setDefaults() {
	if o.Scheme == nil {
		o.Scheme = controllers.Scheme()
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "routelb-controller"
	}
	if o.Registerer == nil {
		o.Registerer = metrics.Registry
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
}

// NewControllerManager builds the manager of cmd/controller: the IPAM controllers (under leader
// election) and the validating webhook (on every replica).
func NewControllerManager(cfg *rest.Config, o ControllerOptions) (ctrl.Manager, error) {
	o.setDefaults()
	metricsOpts, err := ctrlmetrics.ServerOptions(o.MetricsBindAddress, o.MetricsAuth, o.Logger.WithName("metrics"))
	if err != nil {
		return nil, err
	}
	mo := ctrl.Options{
		Scheme:                        o.Scheme,
		Logger:                        o.Logger,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		// The pools live in one namespace, and the chart grants no more than a Role there.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&v1beta1.IPAddressPool{}:      {Namespaces: map[string]cache.Config{o.Namespace: {}}},
			&v1beta1.ConfigurationState{}: {Namespaces: map[string]cache.Config{o.Namespace: {}}},
		}},
	}
	if !o.DisableWebhook {
		mo.WebhookServer = webhook.NewServer(webhook.Options{Host: o.WebhookHost, Port: o.WebhookPort, CertDir: o.CertDir})
	}
	if err := RegisterMetrics(o.Registerer); err != nil {
		return nil, fmt.Errorf("registering the allocator's metrics: %w", err)
	}
	if o.MetalLBMetrics {
		if err := RegisterMetalLBMetrics(o.Registerer); err != nil {
			return nil, fmt.Errorf("registering MetalLB's metrics: %w", err)
		}
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	ipam := &IPAM{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("routelb-controller"),
		Namespace: o.Namespace, LBClass: o.LBClass, Workers: o.Workers, SkipNameValidation: o.SkipNameValidation,
	}
	if err := ipam.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the IPAM controllers: %w", err)
	}
	if !o.DisableWebhook {
		mgr.GetWebhookServer().Register(WebhookPath, NewValidator(mgr.GetAPIReader(), mgr.GetScheme(), o.Namespace))
		if err := registerConversion(mgr); err != nil {
			return nil, fmt.Errorf("registering the BGPPeer conversion: %w", err)
		}
		if o.ConversionService.Name != "" {
			// Every replica serves conversions; the leader sets the CRD. A failure stops the
			// controller: without it v1beta1 BGPPeers would be stored unconverted.
			svc, dir := o.ConversionService, o.CertDir
			err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
				return EnsureConversionWebhook(ctx, mgr.GetClient(), svc, dir)
			}))
			if err != nil {
				return nil, err
			}
		}
	}
	if o.LeaderElect && o.PodName != "" && o.PodUID != "" {
		lo := &leaseOwner{
			client: mgr.GetClient(), reader: mgr.GetAPIReader(),
			key:      types.NamespacedName{Namespace: o.Namespace, Name: o.LeaderElectionID},
			owner:    metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: o.PodName, UID: types.UID(o.PodUID)},
			interval: 10 * time.Second, log: mgr.GetLogger().WithName("lease-owner"),
		}
		if err := mgr.Add(lo); err != nil {
			return nil, err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	ready := healthz.Ping
	if !o.DisableWebhook {
		ready = mgr.GetWebhookServer().StartedChecker()
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return nil, err
	}
	return mgr, nil
}
