package speaker

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/internal/model"
	"github.com/routelb/routelb/internal/nodeconfig"
)

// MetalLB's protocol label values (its config.Proto).
const (
	protoBGP    = "bgp"
	protoLayer2 = "layer2"
)

// announcedCollector is MetalLB's speaker gauge metallb_speaker_announced: 1 per (Service,
// protocol, node, ip) the node announces; as in MetalLB it is desired state (a BGP series does not
// say a router took the route). The series are made at each scrape from the sets the reconcilers
// last gave: a GaugeVec child per series, kept between scrapes, held 7 MB of label pairs at 10,000
// Services (docs/benchmarks.md, "Speaker at 10,000 Services"), where a set is a few hundred KB.
// Sets are by protocol and node: several speakers may share a registry (the tests do).
type announcedCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	sets map[[2]string][]announcement // by [protocol, node]
}

type announcement struct {
	service string // namespace/name
	ip      netip.Addr
}

func newAnnounced() *announcedCollector {
	return &announcedCollector{
		desc: prometheus.NewDesc("metallb_speaker_announced",
			"Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.",
			[]string{"service", "protocol", "node", "ip"}, nil),
		sets: map[[2]string][]announcement{},
	}
}

func (c *announcedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *announcedCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, set := range c.sets {
		for _, a := range set {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1, a.service, k[0], k[1], a.ip.String())
		}
	}
}

// set makes protocol's series of node exactly want (which it sorts and de-duplicates: a series
// collected twice fails the whole scrape).
func (c *announcedCollector) set(protocol, node string, want []announcement) {
	slices.SortFunc(want, func(a, b announcement) int {
		return cmp.Or(strings.Compare(a.service, b.service), a.ip.Compare(b.ip))
	})
	want = slices.Compact(want)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(want) == 0 {
		delete(c.sets, [2]string{protocol, node})
		return
	}
	c.sets[[2]string{protocol, node}] = slices.Clip(want)
}

func (m *Metrics) observeBGPAnnounced(n *model.NodeBGP) {
	var want []announcement
	for _, s := range n.Services {
		key := s.Key()
		for _, p := range s.Prefixes {
			want = append(want, announcement{service: key, ip: p.Addr()})
		}
	}
	m.announced.set(protoBGP, n.NodeName, want)
}

func (m *Metrics) observeL2Announced(node string, vips map[netip.Addr]*nodeconfig.L2VIP, answering map[netip.Addr]bool) {
	var want []announcement
	for vip := range answering {
		v := vips[vip]
		if v == nil {
			continue
		}
		for _, s := range v.Services {
			want = append(want, announcement{service: s.String(), ip: vip})
		}
	}
	m.announced.set(protoLayer2, node, want)
}
