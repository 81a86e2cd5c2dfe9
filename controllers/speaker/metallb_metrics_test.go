package speaker

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// announcedSeries gathers reg and lists its metallb_speaker_announced series as
// "protocol node service ip", in the registry's order (by label values: ip, node, protocol, service).
func announcedSeries(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			out = append(out, strings.Join([]string{l["protocol"], l["node"], l["service"], l["ip"]}, " "))
		}
	}
	return strings.Join(out, "\n")
}

// TestAnnouncedCollector: each (protocol, node) set replaces only its own series, a duplicate is
// collected once (twice would fail the scrape), and an empty set removes its series.
func TestAnnouncedCollector(t *testing.T) {
	c := newAnnounced()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	vip := netip.MustParseAddr("203.0.113.1")
	c.set(protoBGP, "node1", []announcement{{"ns/a", vip}, {"ns/a", vip}, {"ns/b", vip}})
	c.set(protoLayer2, "node1", []announcement{{"ns/c", netip.MustParseAddr("2001:db8::1")}})
	c.set(protoBGP, "node2", []announcement{{"ns/a", vip}})
	c.set(protoBGP, "node1", []announcement{{"ns/b", vip}})
	want := "layer2 node1 ns/c 2001:db8::1\nbgp node1 ns/b 203.0.113.1\nbgp node2 ns/a 203.0.113.1"
	if got := announcedSeries(t, reg); got != want {
		t.Errorf("series:\n%s\nwant:\n%s", got, want)
	}
	c.set(protoBGP, "node1", nil)
	c.set(protoLayer2, "node1", nil)
	if got, want := announcedSeries(t, reg), "bgp node2 ns/a 203.0.113.1"; got != want {
		t.Errorf("after emptying node1's sets:\n%s\nwant:\n%s", got, want)
	}
}
