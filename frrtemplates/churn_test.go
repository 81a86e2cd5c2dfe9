package frrtemplates_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

// TestChurnChangesOnlyNetworkLines renders a node before and after a Service comes (or goes) and
// checks that the only line that differs is the VIP's `network` line, whatever the number of peers,
// communities and local preferences: lists, route-maps, neighbours and activation never move, so FRR
// ingests one line per VIP and never resets a session for Service churn.
func TestChurnChangesOnlyNetworkLines(t *testing.T) {
	in := templatetest.ScaleInput(200)
	// A localPref beside "all"'s none is refused for the same prefixes (MetalLB's rule) unless the
	// advertisement selects Services; an empty selector selects them all.
	in.BGPAdvs = append(in.BGPAdvs, v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "pref", Namespace: "metallb-system"},
		Spec: v1beta1.BGPAdvertisementSpec{LocalPref: 150, Peers: []v1beta1.ObjectName{"tor-1"}, Communities: []v1beta1.CommunityRef{"large:1:2:3"},
			ServiceSelectors: []metav1.LabelSelector{{}}}})
	before := render(t, in)
	extra := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "new"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	extra.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.1.77"}}
	in.Services = append([]corev1.Service{extra}, in.Services...)
	in.EndpointSlices = append(in.EndpointSlices, templatetest.Served([]corev1.Service{extra})...)
	after := render(t, in)

	added, removed := lineDiff(before, after)
	if len(removed) != 0 {
		t.Errorf("adding a Service removed lines: %q", removed)
	}
	if len(added) != 1 || !strings.HasPrefix(added[0], "  network 198.18.1.77/32 route-map rlb_net_") {
		t.Errorf("adding a Service added %q, want its network line only", added)
	}
	// Its route-map is the one every other VIP of the pool uses.
	if name := strings.TrimPrefix(added[0], "  network 198.18.1.77/32 route-map "); len(added) == 1 && strings.Count(after, "route-map "+name+"\n") != 201 {
		t.Errorf("the new VIP's route-map %s is not shared by the pool's 200 other VIPs", name)
	}
	// And back: removing it is the mirror image.
	if a, r := lineDiff(after, before); len(a) != 0 || len(r) != len(added) {
		t.Errorf("removing the Service: added %q, removed %d lines", a, len(r))
	}
}

func render(t *testing.T, in nodeconfig.SpeakerInput) string {
	t.Helper()
	return string(templatetest.MustCompute(t, in, nodeconfig.DaemonFRR).Rendered)
}

// lineDiff compares two configs as multisets of lines with their context (the stanza a line is in), so
// a moved line counts as changed.
func lineDiff(a, b string) (added, removed []string) {
	count := map[string]int{}
	for _, l := range contextual(a) {
		count[l]--
	}
	for _, l := range contextual(b) {
		count[l]++
	}
	for l, n := range count {
		_, line, _ := strings.Cut(l, "\x00")
		for ; n > 0; n-- {
			added = append(added, line)
		}
		for ; n < 0; n++ {
			removed = append(removed, line)
		}
	}
	return added, removed
}

func contextual(conf string) []string {
	var out []string
	stanza := ""
	for _, l := range strings.Split(conf, "\n") {
		if l != "" && l[0] != ' ' && l != "!" && l != "exit" {
			stanza = l
		}
		out = append(out, fmt.Sprintf("%s\x00%s", stanza, l))
	}
	return out
}
