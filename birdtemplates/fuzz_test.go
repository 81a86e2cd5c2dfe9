package birdtemplates_test

import (
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/birdtemplates"
	"github.com/routelb/routelb/internal/model"
)

// grammar is every line the renderer may write. A string (W) is printable ASCII without spaces or
// double quotes; a symbol (S) is what names are built from (DNS names, dashes, dots, underscores).
var grammar = func() *regexp.Regexp {
	const W, S, N, IP = `[!#-~]+`, `'[a-z0-9._-]+'`, `[0-9]+`, `[0-9a-f.:]+`
	P := IP + `/[0-9]+`
	lines := []string{
		``, `# .*`, `hostname "` + W + `";`, `router id [0-9.]+;`, `log stderr all;`, `timeformat log iso long ms;`,
		`protocol device 'routelb_device' \{`, `\}`,
		`define ` + S + ` = \[`, `  ` + P + `,?`, `\];`,
		`filter ` + S + ` \{`, `  if net ~ ` + S + ` then (bgp_community.add\(\(` + N + `,` + N + `\)\)|bgp_large_community.add\(\(` +
			N + `,` + N + `,` + N + `\)\)|bgp_local_pref = ` + N + `|accept);`, `  reject;`,
		`protocol static 'routelb_vips_v[46]' \{`, `  ipv[46] \{ import all; export none; \};`, `  route ` + P + ` blackhole;`,
		`protocol bfd ` + S + ` \{`, `  vrf "` + W + `";`,
		`protocol bgp ` + S + ` \{`, `  description "` + W + `";`, `  local as ` + N + `;`,
		`  neighbor ` + IP + `( port ` + N + `)? (as ` + N + `|internal|external);`, `  router id [0-9.]+;`,
		`  source address ` + IP + `;`, `  (multihop|direct|graceful restart on);`,
		`  (hold|keepalive|connect retry) time ` + N + `;`, `  password "` + W + `";`,
		`  bfd \{`, `    min (rx|tx) interval ` + N + ` ms;`, `    multiplier ` + N + `;`, `    passive on;`, `  \};`,
		`  error wait time 1, 10;`, `  ipv[46] \{`, `    import none;`, `    export filter ` + S + `;`, `    next hop self;`,
	}
	return regexp.MustCompile(`^(` + strings.Join(lines, `|`) + `)$`)
}()

// FuzzRender drives object strings that reach the config (names, password, VRF, interface, BFD
// profile, community alias, node name, VIP) through model.Build, model.ForBIRD, model.BuildNode and
// Render. Whatever the strings, the output is only lines of the grammar, with exactly one hostname,
// one BGP protocol per neighbour and one neighbor line in each: no object can add or split a line.
func FuzzRender(f *testing.F) {
	f.Add("router", "s3cret", "", "", "fast", "tag", "tag", "node1", "203.0.113.5")
	f.Add("router", "pw\";\n  neighbor 192.0.2.1 as 1", "red", "", "fast", "tag", "64512:1", "node1", "203.0.113.5")
	f.Add("r", "x", "red\"; }\nprotocol bgp x {", "eth0", "fast'\n}", "a b", "1:1\n}", "node1\nhostname x", "2001:db8::1")
	f.Add("r\n", "\x00", "\r", "eth0\x0b", "", "big", "large:1:2:3", "n", "fe80::1%eth0")
	f.Add("peer.one", "#!", "v", "", "p", "x", "x", "node1", "::ffff:203.0.113.9")
	f.Fuzz(func(t *testing.T, peerName, password, vrf, iface, bfdName, aliasName, community, nodeName, vip string) {
		in := fuzzInput(peerName, password, vrf, iface, bfdName, aliasName, community, nodeName)
		cfg, _ := model.Build(in, nil)
		cfg, _ = model.ForBIRD(cfg, nil)
		svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "s"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: vip}, {IP: "203.0.113.5"}}
		n, _ := model.BuildNode(cfg, model.NodeInput{Node: &in.Nodes[0], Services: []corev1.Service{svc}})
		out, err := birdtemplates.Render(n)
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
		switch {
		case strings.HasPrefix(line, "hostname "):
			counts["hostname"]++
		case strings.HasPrefix(line, "protocol bgp "):
			counts["protocol"]++
		case strings.HasPrefix(line, "  neighbor "):
			counts["neighbor"]++
		}
	}
	neighbors := 0
	for _, r := range n.Routers {
		neighbors += len(r.Neighbors)
	}
	if counts["hostname"] != 1 || counts["protocol"] != neighbors || counts["neighbor"] != neighbors {
		t.Fatalf("structure mismatch: %v for %d neighbours:\n%s", counts, neighbors, out)
	}
}
