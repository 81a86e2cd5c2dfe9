package speaker

import (
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// MetalLB's protocol label values (its config.Proto).
const (
	protoBGP    = "bgp"
	protoLayer2 = "layer2"
)

// metallbAnnounced is MetalLB's speaker gauge: 1 per (Service, protocol, node, ip) this node
// announces. As in MetalLB it is desired state: a BGP series does not say a router took the route.
var metallbAnnounced = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: "metallb", Subsystem: "speaker", Name: "announced",
	Help: "Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.",
}, []string{"service", "protocol", "node", "ip"})

// announcedSeries remembers, per protocol, the label sets last set, so that a withdrawn VIP's series
// is deleted rather than left at 1.
var announcedSeries = struct {
	sync.Mutex
	by map[string]map[[4]string]bool
}{by: map[string]map[[4]string]bool{}}

// RegisterMetalLBMetrics puts the speaker's metallb_* series on reg: announced and the k8s
// client's (the responder registers the layer 2 counters, given l2responder.Config.MetalLBMetrics).
func RegisterMetalLBMetrics(reg prometheus.Registerer) error {
	if err := controllers.RegisterAll(reg, metallbAnnounced); err != nil {
		return err
	}
	return controllers.RegisterMetalLBK8sClientMetrics(reg)
}

// setAnnounced makes protocol's series exactly want, each [service, protocol, node, ip].
func setAnnounced(protocol string, want map[[4]string]bool) {
	announcedSeries.Lock()
	defer announcedSeries.Unlock()
	for k := range announcedSeries.by[protocol] {
		if !want[k] {
			metallbAnnounced.DeleteLabelValues(k[:]...)
		}
	}
	for k := range want {
		metallbAnnounced.WithLabelValues(k[:]...).Set(1)
	}
	announcedSeries.by[protocol] = want
}

func observeBGPAnnounced(n *model.NodeBGP) {
	want := map[[4]string]bool{}
	for _, s := range n.Services {
		for _, p := range s.Prefixes {
			want[[4]string{s.Key(), protoBGP, n.NodeName, p.Addr().String()}] = true
		}
	}
	setAnnounced(protoBGP, want)
}

func observeL2Announced(node string, vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) {
	want := map[[4]string]bool{}
	for vip := range answering {
		v := vips[vip]
		if v == nil {
			continue
		}
		for _, s := range v.Services {
			want[[4]string{s.String(), protoLayer2, node, vip.String()}] = true
		}
	}
	setAnnounced(protoLayer2, want)
}
