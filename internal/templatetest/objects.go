// Package templatetest is the test harness the FRR and BIRD renderer tests share: objects and
// router configs for labs, rendering with failures on problems, BIRD nodes configured through the
// reloader, the golden-file driver, the fuzz driver and the scale input of the benchmarks.
package templatetest

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Objects joins YAML documents into one stream, as `routelb render` reads them.
func Objects(docs ...string) string { return strings.Join(docs, "\n---\n") + "\n" }

// Node is a Node document; labels is a YAML flow mapping body or "".
func Node(name, labels string) string {
	if labels != "" {
		labels = ", labels: {" + labels + "}"
	}
	return fmt.Sprintf("apiVersion: v1\nkind: Node\nmetadata: {name: %s%s}", name, labels)
}

// Pool is the IPAddressPool "vips" with the given ranges.
func Pool(cidrs ...string) string {
	return "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: vips, namespace: metallb-system}\n" +
		"spec: {addresses: [" + strings.Join(cidrs, ", ") + "]}"
}

// FastBFD is the BFDProfile "fast": 300 ms intervals, so a link failure shows within a second.
const FastBFD = `apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}`

// Peer is a BGPPeer from AS 64513 (the nodes) to AS 64512 (the routers); spec adds to its spec.
func Peer(name, spec string) string {
	return "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: " + name + ", namespace: metallb-system}\n" +
		"spec: {myASN: 64513, peerASN: 64512, " + spec + "}"
}

// Advertisement is the BGPAdvertisement "all"; spec is a YAML flow mapping body or "".
func Advertisement(spec string) string {
	doc := "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: all, namespace: metallb-system}"
	if spec != "" {
		doc += "\nspec: {" + spec + "}"
	}
	return doc
}

// Service is a LoadBalancer Service in namespace default whose status holds the given VIPs, and its
// EndpointSlice with one ready pod (a Service no endpoint serves is withdrawn, as in MetalLB).
func Service(name string, vips ...string) string {
	ingress := make([]string, len(vips))
	for i, v := range vips {
		ingress[i] = fmt.Sprintf("{ip: %q}", v)
	}
	return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: default}\n" +
		"spec: {type: LoadBalancer, ports: [{port: 80}]}\nstatus: {loadBalancer: {ingress: [" + strings.Join(ingress, ", ") + "]}}" +
		"\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n" +
		"metadata: {name: " + name + "-pods, namespace: default, labels: {kubernetes.io/service-name: " + name + "}}\n" +
		"addressType: IPv4\nendpoints: [{addresses: [10.0.0.9], nodeName: pods, conditions: {ready: true}}]"
}

// Served is one EndpointSlice per Service, each with one ready pod on node "pods": the Services'
// VIPs are announced wherever the rest of the input allows.
func Served(svcs []corev1.Service) []discoveryv1.EndpointSlice {
	out := make([]discoveryv1.EndpointSlice, len(svcs))
	for i, s := range svcs {
		out[i] = discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name + "-pods", Labels: map[string]string{discoveryv1.LabelServiceName: s.Name}},
			Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}, NodeName: ptr("pods")}},
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// LabObjects is a two-node cluster peering with one router over IPv4 and IPv6 (BFD on both, with a
// TCP-MD5 password and short timers on IPv4) and with a second router no advertisement names, and
// one dual-stack Service. communities is the advertisement's list, as a YAML flow sequence body.
func LabObjects(communities string) string {
	return Objects(Node("node1", "rack: a"), Node("node2", "rack: a"), Pool("203.0.113.0/24", "2001:db8:ff::/120"), FastBFD,
		Peer("router", `peerAddress: 198.51.100.1, bfdProfile: fast, holdTime: 9s, keepaliveTime: 3s, password: 's3!cret'`),
		Peer("router-v6", `peerAddress: "2001:db8::1", bfdProfile: fast`),
		Peer("router2", "peerAddress: 198.51.100.2"),
		Advertisement("communities: ["+communities+"], peers: [router, router-v6]"),
		Service("web", "203.0.113.10", "2001:db8:ff::10"))
}

// LabExtraService is one more Service for LabObjects, to add and remove a VIP.
var LabExtraService = "---\n" + Service("api", "203.0.113.11") + "\n"

// RouterConfig is frr.conf for an FRR router of AS 64512 with the given router ID; body follows
// `router bgp`, whose policy requirement is off so that the router takes what the nodes send.
func RouterConfig(hostname, routerID, body string) string {
	return "frr defaults traditional\nhostname " + hostname + "\n!\nrouter bgp 64512\n bgp router-id " + routerID +
		"\n no bgp ebgp-requires-policy\n" + body + "exit\n"
}

// LabRouter is LabObjects' router: both nodes over IPv4 (password, BFD) and IPv6 (BFD), with ECMP.
var LabRouter = RouterConfig("router", "198.51.100.1", ` no bgp default ipv4-unicast
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 password s3!cret
 neighbor 198.51.100.11 bfd
 neighbor 198.51.100.12 remote-as 64513
 neighbor 198.51.100.12 password s3!cret
 neighbor 198.51.100.12 bfd
 neighbor 2001:db8::11 remote-as 64513
 neighbor 2001:db8::11 bfd
 neighbor 2001:db8::12 remote-as 64513
 neighbor 2001:db8::12 bfd
 !
 address-family ipv4 unicast
  neighbor 198.51.100.11 activate
  neighbor 198.51.100.12 activate
  maximum-paths 8
 exit-address-family
 !
 address-family ipv6 unicast
  neighbor 2001:db8::11 activate
  neighbor 2001:db8::12 activate
  maximum-paths 8
 exit-address-family
`)

// LabRouter2 peers with both nodes, but no advertisement names it: its sessions come up and it gets
// nothing, which checks that a peer's lists holding only the "deny any" sentinel deny everything.
var LabRouter2 = RouterConfig("router2", "198.51.100.2", ` no bgp default ipv4-unicast
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.12 remote-as 64513
 !
 address-family ipv4 unicast
  neighbor 198.51.100.11 activate
  neighbor 198.51.100.12 activate
 exit-address-family
`)
