package statusview

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/routelb/routelb/l2responder/ownership"
)

type svcKey struct{ ns, name string }

func (k svcKey) String() string { return k.ns + "/" + k.name }

// claim is one VIP in a node's Lease.
type claim struct {
	node    string
	renewed time.Time
	expired bool
}

// vips lists every address of every LoadBalancer Service, then the claims no Service explains.
func (b *builder) vips() []VIP {
	bgp := b.announcers()
	l2 := b.l2Statuses()
	claims := b.claims()
	var out []VIP
	seen := map[netip.Addr]bool{}
	for _, svc := range b.in.Services {
		k := svcKey{svc.Namespace, svc.Name}
		for _, ip := range ingressIPs(svc) {
			seen[ip] = true
			v := VIP{IP: ip.String(), Service: k.String(), BGP: bgp[k]}
			st, isL2 := l2[k]
			if c, ok := claims[ip]; ok || isL2 {
				v.Layer2 = b.l2Owner(c, ok, st)
			}
			out = append(out, v)
		}
	}
	for ip, c := range claims {
		if !seen[ip] {
			out = append(out, VIP{IP: ip.String(), Layer2: b.l2Owner(c, true, nil)})
		}
	}
	slices.SortFunc(out, func(a, b VIP) int {
		return cmp.Or(netip.MustParseAddr(a.IP).Compare(netip.MustParseAddr(b.IP)), cmp.Compare(a.Service, b.Service))
	})
	return out
}

func ingressIPs(svc corev1.Service) []netip.Addr {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return nil
	}
	var out []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// statusKey reads a status object's Service and node from its labels, as the speaker finds them,
// or from its status when a label is missing.
func statusKey(labels map[string]string, ns, name, node string) (svcKey, string) {
	k := svcKey{cmp.Or(labels[LabelServiceNamespace], ns), cmp.Or(labels[LabelServiceName], name)}
	return k, cmp.Or(labels[LabelNode], node)
}

func (b *builder) announcers() map[svcKey][]Announcer {
	sessions := map[[2]string]string{} // node, peer -> state
	for _, p := range b.in.Peers {
		for _, s := range p.Status.Sessions {
			sessions[[2]string{s.Node, p.Name}] = s.State
		}
	}
	out := map[svcKey][]Announcer{}
	for _, st := range b.in.BGPStatuses {
		k, node := statusKey(st.Labels, st.Status.ServiceNamespace, st.Status.ServiceName, st.Status.Node)
		if node == "" || k.ns == "" || k.name == "" {
			b.problems = append(b.problems, fmt.Sprintf("ServiceBGPStatus %s/%s: no node or Service in its labels or status", st.Namespace, st.Name))
			continue
		}
		a := Announcer{Node: node, Peers: []PeerRef{}}
		for _, p := range slices.Sorted(slices.Values(st.Status.Peers)) {
			a.Peers = append(a.Peers, PeerRef{Name: p, State: sessions[[2]string{node, p}]})
		}
		out[k] = append(out[k], a)
		b.node(node)
	}
	for _, list := range out {
		slices.SortFunc(list, func(a, b Announcer) int { return cmp.Compare(a.Node, b.Node) })
	}
	return out
}

type l2Status struct {
	node       string
	interfaces []string
}

func (b *builder) l2Statuses() map[svcKey]*l2Status {
	out := map[svcKey]*l2Status{}
	for _, st := range b.in.L2Statuses {
		k, node := statusKey(st.Labels, st.Status.ServiceNamespace, st.Status.ServiceName, st.Status.Node)
		if k.ns == "" || k.name == "" {
			b.problems = append(b.problems, fmt.Sprintf("ServiceL2Status %s/%s: no Service in its labels or status", st.Namespace, st.Name))
			continue
		}
		s := &l2Status{node: node}
		for _, i := range st.Status.Interfaces {
			s.interfaces = append(s.interfaces, i.Name)
		}
		out[k] = s
	}
	return out
}

// claims reads each node's Lease: the VIPs it claims, when it was last renewed, whether it lapsed.
func (b *builder) claims() map[netip.Addr]claim {
	out := map[netip.Addr]claim{}
	for _, l := range b.in.Leases {
		if l.Labels[LeaseComponentLabel] != LeaseComponentValue || l.Spec.HolderIdentity == nil {
			continue
		}
		ips, err := ownership.DecodeClaims(l.Annotations[AnnotationClaims])
		if err != nil {
			b.problems = append(b.problems, fmt.Sprintf("Lease %s/%s: annotation %s: %v", l.Namespace, l.Name, AnnotationClaims, err))
			continue
		}
		c := claim{node: *l.Spec.HolderIdentity}
		if l.Spec.RenewTime != nil {
			c.renewed = l.Spec.RenewTime.UTC()
			c.expired = b.in.Now.After(c.renewed.Add(leaseDuration(l)))
		}
		b.node(c.node)
		for _, ip := range ips {
			out[ip] = c
		}
	}
	return out
}

// leaseDuration prefers the exact duration the speaker writes in milliseconds.
func leaseDuration(l coordinationv1.Lease) time.Duration {
	if ms, err := strconv.ParseInt(l.Annotations[AnnotationDurationMillis], 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	if l.Spec.LeaseDurationSeconds != nil {
		return time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return 0
}

func (b *builder) l2Owner(c claim, claimed bool, st *l2Status) *L2Owner {
	o := &L2Owner{}
	if claimed {
		o.Owner, o.LeaseExpired = c.node, c.expired
		if !c.renewed.IsZero() {
			r := c.renewed
			o.LeaseRenewed, o.LeaseAgeSeconds = &r, b.age(r)
		}
	}
	if st != nil {
		o.StatusNode, o.Interfaces = st.node, st.interfaces
	}
	return o
}
