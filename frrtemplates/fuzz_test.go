package frrtemplates_test

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/model"
)

// grammar is every line the renderer may write. A word (W) is printable ASCII without spaces.
var grammar = func() *regexp.Regexp {
	const W, N, P = `[!-~]+`, `[0-9]+`, `[0-9a-f.:]+/[0-9]+`
	lines := []string{
		`frr defaults traditional`, `hostname ` + W, `log timestamp precision 3`, `ip(v6)? nht resolve-via-default`, `!`,
		`bfd`, ` profile ` + W, `  (receive-interval|transmit-interval|detect-multiplier|minimum-ttl) ` + N,
		`  echo-mode`, `  echo (transmit|receive)-interval ` + N, `  passive-mode`, ` exit`, `exit`,
		`ip(v6)? prefix-list ` + W + ` seq ` + N + ` (permit ` + P + `|deny any)`,
		`route-map ` + W + ` permit ` + N, ` match ip(v6)? address prefix-list ` + W,
		` set community (` + N + `:` + N + `|[a-zA-Z0-9-]+) additive`, ` set large-community ` + N + `:` + N + `:` + N + ` additive`,
		` set local-preference ` + N, ` on-match next`,
		`router bgp ` + N + `( vrf ` + W + `)?`, ` bgp router-id [0-9.]+`,
		` no bgp (ebgp-requires-policy|network import-check|default ipv4-unicast)`,
		` neighbor ` + W + `( interface)? remote-as (` + N + `|internal|external)`,
		` neighbor ` + W + ` (description ` + W + `|local-as ` + N + ` no-prepend replace-as|port ` + N +
			`|update-source [0-9a-f.:]+|ebgp-multihop 255|timers ` + N + ` ` + N + `|timers connect ` + N +
			`|password ` + W + `|bfd profile ` + W + `|graceful-restart)`,
		` !`, ` address-family ipv(4|6) unicast`, `  network ` + P, `  neighbor ` + W + ` activate`,
		`  neighbor ` + W + ` route-map ` + W + ` out`, ` exit-address-family`,
	}
	return regexp.MustCompile(`^(` + strings.Join(lines, `|`) + `)$`)
}()

// FuzzRender drives object strings that reach the config (names, password, VRF, interface, BFD
// profile, community alias, node name, VIP) through model.Build, model.BuildNode and Render. Whatever
// the strings, the output is only lines of the grammar, with exactly one hostname, one router line
// per router and one remote-as line per neighbour: no object can add or split a line.
func FuzzRender(f *testing.F) {
	f.Add("router", "s3cret", "", "", "fast", "tag", "tag", "node1", "203.0.113.5")
	f.Add("router", "pw\n neighbor 192.0.2.1 remote-as 1", "red", "", "fast", "tag", "64512:1", "node1", "203.0.113.5")
	f.Add("r", "x", "red\nrouter bgp 1", "eth0 interface", "fast\n!", "a b", "1:1\nexit", "node1\nhostname x", "2001:db8::1")
	f.Add("r\n", "\x00", "\r", "eth0\x0b", "", "big", "large:1:2:3", "n", "fe80::1%eth0")
	f.Add("peer.one", "!#", "v", "", "p", "x", "x", "node1", "::ffff:203.0.113.9")
	f.Fuzz(func(t *testing.T, peerName, password, vrf, iface, bfdName, aliasName, community, nodeName, vip string) {
		in := fuzzInput(peerName, password, vrf, iface, bfdName, aliasName, community, nodeName)
		cfg, _ := model.Build(in, nil)
		svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip}, {IP: "203.0.113.5"}}
		n, _ := model.BuildNode(cfg, model.NodeInput{Node: &in.Nodes[0], Services: []corev1.Service{svc}})
		out, err := frrtemplates.Render(n)
		if err != nil {
			return // refusing to render is safe; the speaker keeps the file it has
		}
		checkGrammar(t, n, string(out))
	})
}

func fuzzInput(peerName, password, vrf, iface, bfdName, aliasName, community, nodeName string) model.Input {
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

func checkGrammar(t *testing.T, n *model.NodeBGP, out string) {
	t.Helper()
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline:\n%s", out)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !grammar.MatchString(line) {
			t.Fatalf("line outside the grammar: %q\nin:\n%s", line, out)
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "hostname":
			counts["hostname"]++
		case f[0] == "router" && f[1] == "bgp":
			counts["router"]++
		case f[0] == "neighbor" && strings.Contains(line, " remote-as "):
			counts["neighbor"]++
		}
	}
	neighbors := 0
	for _, r := range n.Routers {
		neighbors += len(r.Neighbors)
		for _, nb := range r.Neighbors {
			for _, p := range append(nb.All.V4, nb.All.V6...) {
				if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr() != p.Addr().Unmap() && p.Addr().Is4In6() {
					t.Fatalf("bad prefix %v", p)
				}
			}
		}
	}
	if counts["hostname"] != 1 || counts["router"] != len(n.Routers) || counts["neighbor"] != neighbors {
		t.Fatalf("structure mismatch: %v for %d routers, %d neighbours:\n%s", counts, len(n.Routers), neighbors, out)
	}
	_ = netip.Prefix{}
}
