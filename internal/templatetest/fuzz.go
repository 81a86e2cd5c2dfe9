package templatetest

import (
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/model"
)

// Fuzz is a renderer's fuzz test over the object strings that reach a config: names, password,
// VRF, interface, BFD profile, community alias, node name and a VIP.
type Fuzz struct {
	// Adapt turns the built model into what the renderer takes (BIRD: model.ForBIRD); nil keeps it.
	Adapt  func(*model.Config) *model.Config
	Render func(*model.NodeBGP) ([]byte, error)
	// Check judges output the renderer accepted to write.
	Check func(t *testing.T, n *model.NodeBGP, out string)
}

// Run fuzzes f from the seeds the caller added (nine strings: FuzzInput's arguments, then the
// VIP), which should try to break the daemon's syntax, and from seeds any renderer must survive:
// plain values, control characters and both daemons' comment characters.
func (z Fuzz) Run(f *testing.F) {
	f.Add("router", "s3cret", "", "", "fast", "tag", "tag", "node1", "203.0.113.5")
	f.Add("r\n", "\x00", "\r", "eth0\x0b", "", "big", "large:1:2:3", "n", "fe80::1%eth0")
	f.Add("peer.one", "#!", "v", "", "p", "x", "x", "node1", "::ffff:203.0.113.9")
	f.Add("peer.one", "!#", "v", "", "p", "x", "x", "node1", "::ffff:203.0.113.9")
	f.Fuzz(func(t *testing.T, peerName, password, vrf, iface, bfdName, aliasName, community, nodeName, vip string) {
		in := FuzzInput(peerName, password, vrf, iface, bfdName, aliasName, community, nodeName)
		cfg, _ := model.Build(in, nil)
		if z.Adapt != nil {
			cfg = z.Adapt(cfg)
		}
		svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip}, {IP: "203.0.113.5"}}
		svcs := []corev1.Service{svc}
		n, _ := model.BuildNode(cfg, model.NodeInput{Node: &in.Nodes[0], Services: svcs, EndpointSlices: Served(svcs)})
		out, err := z.Render(n)
		if err != nil {
			return // refusing to render is safe; the speaker keeps the file it has
		}
		z.Check(t, n, string(out))
	})
}

// FuzzInput is one peer carrying the fuzzed strings (by interface when iface is set) and a plain
// peer in the same VRF, with a BFD profile, a community alias, two advertisements and the node.
func FuzzInput(peerName, password, vrf, iface, bfdName, aliasName, community, nodeName string) model.Input {
	ns := "metallb-system"
	p := v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: peerName, Namespace: ns}, Spec: v1beta2.BGPPeerSpec{
		MyASN: 64513, ASN: 64512, Password: v1beta1.ConfigToken(password), VRFName: v1beta1.VRFName(vrf),
		BFDProfile: v1beta1.ObjectName(bfdName),
	}}
	if iface != "" {
		p.Spec.Interface = v1beta1.InterfaceName(iface)
	} else {
		p.Spec.Address = "198.51.100.1"
	}
	return model.Input{
		Pools: []v1beta1.IPAddressPool{{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24", "2001:db8::/64"}}}},
		Peers: []v1beta2.BGPPeer{p, {ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.2", VRFName: v1beta1.VRFName(vrf)}}},
		BFDProfiles: []v1beta1.BFDProfile{{ObjectMeta: metav1.ObjectMeta{Name: bfdName, Namespace: ns}}},
		Communities: []v1beta1.Community{{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: ns},
			Spec: v1beta1.CommunitySpec{Communities: []v1beta1.CommunityAlias{{Name: aliasName, Value: "large:1:2:3"}}}}},
		BGPAdvs: []v1beta1.BGPAdvertisement{{ObjectMeta: metav1.ObjectMeta{Name: "adv", Namespace: ns},
			Spec: v1beta1.BGPAdvertisementSpec{Communities: []v1beta1.CommunityRef{v1beta1.CommunityRef(community)}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns}}},
		Nodes: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}},
	}
}

// GrammarLines fails the test unless out is newline-terminated lines that each match grammar, and
// counts the lines by kind (kind returns "" for lines not counted).
func GrammarLines(t *testing.T, grammar *regexp.Regexp, out string, kind func(line string) string) map[string]int {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline:\n%s", out)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !grammar.MatchString(line) {
			t.Fatalf("line outside the grammar: %q\nin:\n%s", line, out)
		}
		if k := kind(line); k != "" {
			counts[k]++
		}
	}
	return counts
}

// Neighbors is how many neighbours the node's routers have in all.
func Neighbors(n *model.NodeBGP) int {
	count := 0
	for _, r := range n.Routers {
		count += len(r.Neighbors)
	}
	return count
}

// Grammar is the regexp matching exactly one of lines (each a regexp) as a whole line.
func Grammar(lines ...string) *regexp.Regexp {
	return regexp.MustCompile(`^(` + strings.Join(lines, `|`) + `)$`)
}
