package speaker

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// MetalLB's protocol label values (its config.Proto).
const (
	protoBGP    = "bgp"
	protoLayer2 = "layer2"
)

// newAnnounced is MetalLB's speaker gauge: 1 per (Service, protocol, node, ip) this node
// announces. As in MetalLB it is desired state: a BGP series does not say a router took the route.
func newAnnounced() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "metallb", Subsystem: "speaker", Name: "announced",
		Help: "Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.",
	}, []string{"service", "protocol", "node", "ip"})
}

// setAnnounced makes protocol's series exactly want, each [service, protocol, node, ip].
func (m *Metrics) setAnnounced(protocol string, want map[[4]string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.series[protocol] {
		if !want[k] {
			m.announced.DeleteLabelValues(k[:]...)
		}
	}
	for k := range want {
		m.announced.WithLabelValues(k[:]...).Set(1)
	}
	m.series[protocol] = want
}

func (m *Metrics) observeBGPAnnounced(n *model.NodeBGP) {
	want := map[[4]string]bool{}
	for _, s := range n.Services {
		for _, p := range s.Prefixes {
			want[[4]string{s.Key(), protoBGP, n.NodeName, p.Addr().String()}] = true
		}
	}
	m.setAnnounced(protoBGP, want)
}

func (m *Metrics) observeL2Announced(node string, vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) {
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
	m.setAnnounced(protoLayer2, want)
}
