package allocator

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The annotations MetalLB reads and writes, under both its current and its legacy prefix.
const (
	AnnotationLoadBalancerIPs = "metallb.io/loadBalancerIPs"
	AnnotationAddressPool     = "metallb.io/address-pool"
	AnnotationAllowSharedIP   = "metallb.io/allow-shared-ip"
	AnnotationAllocatedFrom   = "metallb.io/ip-allocated-from-pool"
	legacyPrefix              = DeprecatedAnnotationPrefix
	currentPrefix             = "metallb.io/"
)

// DeprecatedAnnotationPrefix is MetalLB's legacy annotation prefix, still read, reported when used.
const DeprecatedAnnotationPrefix = "metallb.universe.tf/"

// annotation reads a metallb.io annotation, falling back to its legacy metallb.universe.tf name.
func annotation(svc *corev1.Service, name string) string {
	if v, ok := svc.Annotations[name]; ok {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(svc.Annotations[legacyPrefix+strings.TrimPrefix(name, currentPrefix)])
}

// Key is the allocator's key for a Service.
func Key(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// FromService turns a Service into a Request. nsLabels are its namespace's labels.
func FromService(svc *corev1.Service, nsLabels map[string]string) (Request, error) {
	req := Request{
		Key: Key(svc), Namespace: svc.Namespace, Labels: svc.Labels, NamespaceLabels: nsLabels,
		Pool: annotation(svc, AnnotationAddressPool), SharingKey: annotation(svc, AnnotationAllowSharedIP),
	}
	for _, f := range svc.Spec.IPFamilies {
		req.Families = append(req.Families, map[corev1.IPFamily]Family{corev1.IPv4Protocol: IPv4, corev1.IPv6Protocol: IPv6}[f])
	}
	if len(req.Families) == 0 { // the API server always fills ipFamilies; a bare object gets MetalLB's guess
		req.Families = familiesOfClusterIPs(svc)
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		req.Policy = map[corev1.IPFamilyPolicy]Policy{
			corev1.IPFamilyPolicyPreferDualStack: PreferDualStack, corev1.IPFamilyPolicyRequireDualStack: RequireDualStack,
		}[*p]
	}
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		req.BackendKey = labels.Set(svc.Spec.Selector).String()
	}
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		req.Ports = append(req.Ports, Port{Protocol: string(proto), Port: p.Port})
	}
	ips, err := requestedIPs(svc)
	req.IPs = ips
	return req, err
}

func familiesOfClusterIPs(svc *corev1.Service) []Family {
	var out []Family
	for _, s := range svc.Spec.ClusterIPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, familyOf(ip))
		}
	}
	if len(out) == 0 {
		out = []Family{IPv4}
	}
	return out
}

// requestedIPs reads metallb.io/loadBalancerIPs, or else the deprecated spec.loadBalancerIP.
func requestedIPs(svc *corev1.Service) ([]netip.Addr, error) {
	raw := annotation(svc, AnnotationLoadBalancerIPs)
	if raw == "" {
		raw = strings.TrimSpace(svc.Spec.LoadBalancerIP)
	}
	if raw == "" {
		return nil, nil
	}
	if svc.Spec.LoadBalancerIP != "" && annotation(svc, AnnotationLoadBalancerIPs) != "" {
		return nil, fail(ReasonBadRequest, "spec.loadBalancerIP and %s are both set; use only the annotation", AnnotationLoadBalancerIPs)
	}
	var out []netip.Addr
	for _, s := range strings.Split(raw, ",") {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, fail(ReasonBadRequest, "requested address %q is not an IP address", strings.TrimSpace(s))
		}
		out = append(out, ip.Unmap())
	}
	if len(out) > 2 {
		return nil, fail(ReasonBadRequest, "at most two addresses (one per family) may be requested, got %d", len(out))
	}
	return out, nil
}

// StatusIPs reads the addresses a Service's status shows.
func StatusIPs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// String describes a result for events and logs.
func (r Result) String() string { return fmt.Sprintf("%s from pool %s", joinIPs(r.IPs), r.Pool) }
