// Command controller gives LoadBalancer Services their addresses from the metallb.io IPAddressPools,
// as MetalLB's controller does, and serves the validating webhook for rules across metallb.io objects.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/routelb/routelb/controllers/ipam"
)

func main() {
	o := ipam.ControllerOptions{}
	flag.StringVar(&o.Namespace, "namespace", "metallb-system", "namespace of the metallb.io objects and of the leader lease")
	flag.StringVar(&o.LBClass, "lb-class", "", "spec.loadBalancerClass to handle; empty: only Services without a class")
	flag.BoolVar(&o.LeaderElect, "leader-elect", true, "elect a leader so only one replica allocates")
	flag.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":7472", "address of the Prometheus metrics endpoint; 0 disables it")
	flag.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz; 0 disables them")
	flag.StringVar(&o.WebhookHost, "webhook-bind-address", "", "IP address the validating webhook listens on (its port is --webhook-port); empty: every address")
	flag.IntVar(&o.WebhookPort, "webhook-port", 9443, "port of the validating webhook")
	flag.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with the webhook's tls.crt and tls.key")
	flag.BoolVar(&o.DisableWebhook, "disable-webhook", false, "do not serve the validating webhook")
	flag.StringVar(&o.ConversionService.Name, "webhook-service-name", "",
		"Service (in --namespace, port 443) in front of the webhook; when set, the BGPPeer CRD is pointed at its conversion webhook")
	flag.IntVar(&o.Workers, "workers", 8, "Services reconciled in parallel")
	flag.StringVar(&o.PodName, "pod-name", "", "this pod's name (downward API): the leader owns the leader Lease, so it goes with the chart")
	flag.StringVar(&o.PodUID, "pod-uid", "", "this pod's UID (downward API), with --pod-name")
	flag.BoolVar(&o.MetalLBMetrics, "metallb-metrics", true, "also serve MetalLB's metallb_* metrics (names, types and labels), for existing dashboards and alerts")
	zo := zap.Options{}
	zo.BindFlags(flag.CommandLine)
	flag.Parse() // --kubeconfig is registered by controller-runtime's config package
	o.ConversionService.Namespace, o.ConversionService.Port = o.Namespace, 443
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zo)))
	log := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "Loading kubeconfig")
		os.Exit(1)
	}
	log.Info("Starting controller", "namespace", o.Namespace, "lbClass", o.LBClass, "leaderElect", o.LeaderElect)
	if err := ipam.RunController(ctrl.SetupSignalHandler(), cfg, o, log); err != nil {
		log.Error(err, "Manager stopped")
		os.Exit(1)
	}
}
