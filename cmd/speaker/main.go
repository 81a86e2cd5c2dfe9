// Command speaker runs on every node. It watches the cluster and makes the node announce the VIPs of
// LoadBalancer Services: in BGP mode by writing frr.conf for the FRR sidecar (see docs/bgp.md).
// main only wires: each mode adds its reconcilers to the one manager in its own file.
package main

import (
	"flag"
	"os"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/controllers"
)

// options are the speaker's flags, shared by every mode's setup function.
type options struct {
	NodeName               string
	Namespace              string
	LBClass                string
	FRRConfigDir           string
	MetricsBindAddress     string
	HealthProbeBindAddress string
}

func main() {
	var o options
	flag.StringVar(&o.NodeName, "node-name", os.Getenv("NODE_NAME"), "name of the node this speaker runs on (default $NODE_NAME)")
	flag.StringVar(&o.Namespace, "namespace", "metallb-system", "namespace of the metallb.io objects and their Secrets")
	flag.StringVar(&o.LBClass, "lb-class", "", "spec.loadBalancerClass to announce; empty: only Services without a class")
	flag.StringVar(&o.FRRConfigDir, "frr-config-dir", "/etc/frr-rendered", "directory shared with the FRR sidecar, where frr.conf is written")
	flag.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":7473", "address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8082", "address of /healthz and /readyz; 0 disables them")
	zo := zap.Options{}
	zo.BindFlags(flag.CommandLine)
	flag.Parse() // --kubeconfig is registered by controller-runtime's config package
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
	log := ctrl.Log.WithName("setup")
	if o.NodeName == "" {
		log.Error(nil, "--node-name (or $NODE_NAME) is required")
		os.Exit(1)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Loading kubeconfig")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme(),
		Cache:                  controllers.SpeakerCacheOptions(o.Namespace, o.NodeName),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress: o.HealthProbeBindAddress,
	})
	if err != nil {
		log.Error(err, "Building the manager")
		os.Exit(1)
	}
	if err := setupBGP(mgr, o); err != nil {
		log.Error(err, "Setting up BGP mode")
		os.Exit(1)
	}
	if err := setupL2(mgr, o); err != nil {
		log.Error(err, "Setting up Layer 2 mode")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Adding health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Adding ready check")
		os.Exit(1)
	}
	log.Info("Starting speaker", "node", o.NodeName, "namespace", o.Namespace, "lbClass", o.LBClass, "frrConfigDir", o.FRRConfigDir)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}

func scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme, v1beta2.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}
