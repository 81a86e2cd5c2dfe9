package ipam

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/allocator"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// caseCtx runs one table case in its own namespace with its own pools; "{n}" in any string becomes the
// case number, so every case's addresses (198.18.n.0/24, 2001:db8:n::/64) and names are its own.
type caseCtx struct {
	*ipamEnv
	t  *testing.T
	n  int
	ns string
}

type ipamStep func(h *caseCtx)

func (h *caseCtx) s(x string) string { return strings.ReplaceAll(x, "{n}", strconv.Itoa(h.n)) }

func (h *caseCtx) ctx() context.Context { return context.Background() }

type poolOpt func(*v1beta1.IPAddressPoolSpec)

func noAuto(s *v1beta1.IPAddressPoolSpec) { f := false; s.AutoAssign = &f }
func buggy(s *v1beta1.IPAddressPoolSpec)  { s.AvoidBuggyIPs = true }
func alloc(a v1beta1.ServiceAllocation) poolOpt {
	return func(s *v1beta1.IPAddressPoolSpec) { s.AllocateTo = &a }
}

func mkPool(name string, addrs []string, opts ...poolOpt) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		p := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: h.s(name), Namespace: testenv.Namespace}}
		for _, a := range addrs {
			p.Spec.Addresses = append(p.Spec.Addresses, v1beta1.PoolAddress(h.s(a)))
		}
		for _, o := range opts {
			o(&p.Spec)
		}
		if a := p.Spec.AllocateTo; a != nil {
			for i, ns := range a.Namespaces {
				a.Namespaces[i] = h.s(ns)
			}
			for _, sels := range [][]metav1.LabelSelector{a.NamespaceSelectors, a.ServiceSelectors} {
				for _, sl := range sels {
					for k, v := range sl.MatchLabels {
						sl.MatchLabels[k] = h.s(v)
					}
				}
			}
		}
		if err := h.c.Create(h.ctx(), p); err != nil {
			h.t.Fatal(err)
		}
		h.waitPoolLoaded(p.Name)
	}
}

func editPool(name string, addrs []string, opts ...poolOpt) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		var p v1beta1.IPAddressPool
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := h.c.Get(h.ctx(), client.ObjectKey{Namespace: testenv.Namespace, Name: h.s(name)}, &p); err != nil {
				return err
			}
			p.Spec = v1beta1.IPAddressPoolSpec{}
			for _, a := range addrs {
				p.Spec.Addresses = append(p.Spec.Addresses, v1beta1.PoolAddress(h.s(a)))
			}
			for _, o := range opts {
				o(&p.Spec)
			}
			return h.c.Update(h.ctx(), &p)
		})
		if err != nil {
			h.t.Fatal(err)
		}
		h.waitPoolLoaded(p.Name)
	}
}

func delPool(name string) ipamStep {
	return func(h *caseCtx) {
		p := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: h.s(name), Namespace: testenv.Namespace}}
		if err := h.c.Delete(h.ctx(), p); err != nil {
			h.t.Fatal(err)
		}
	}
}

type svcOpt func(*corev1.Service)

func ann(k, v string) svcOpt {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}
func lbIP(ip string) svcOpt { return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip } }
func label(k, v string) svcOpt {
	return func(s *corev1.Service) { s.Labels = map[string]string{k: v} }
}
func port(p int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.Ports = []corev1.ServicePort{{Name: "p", Port: p, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(p)}}
	}
}
func local(sel string) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.Selector = map[string]string{"app": sel}
	}
}
func families(pol corev1.IPFamilyPolicy, fams ...corev1.IPFamily) svcOpt {
	return func(s *corev1.Service) { s.Spec.IPFamilyPolicy, s.Spec.IPFamilies = &pol, fams }
}
func class(c string) svcOpt { return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &c } }

func mkSvc(name string, opts ...svcOpt) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeLoadBalancer,
				Selector: map[string]string{"app": name},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		for _, o := range opts {
			o(svc)
		}
		for k, v := range svc.Annotations {
			svc.Annotations[k] = h.s(v)
		}
		svc.Spec.LoadBalancerIP = h.s(svc.Spec.LoadBalancerIP)
		if err := h.c.Create(h.ctx(), svc); err != nil {
			h.t.Fatal(err)
		}
	}
}

func updSvc(name string, opts ...svcOpt) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var svc corev1.Service
			if err := h.c.Get(h.ctx(), client.ObjectKey{Namespace: h.ns, Name: name}, &svc); err != nil {
				return err
			}
			for _, o := range opts {
				o(&svc)
			}
			for k, v := range svc.Annotations {
				svc.Annotations[k] = h.s(v)
			}
			return h.c.Update(h.ctx(), &svc)
		})
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

func delSvc(name string) ipamStep {
	return func(h *caseCtx) {
		if err := h.c.Delete(h.ctx(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns}}); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *caseCtx) svc(name string) (*corev1.Service, error) {
	var svc corev1.Service
	err := h.c.Get(h.ctx(), client.ObjectKey{Namespace: h.ns, Name: name}, &svc)
	return &svc, err
}

// wantIPs waits for the Service's status to show exactly these addresses, and checks MetalLB's
// annotation names the pool.
func wantIPs(name, pool string, ips ...string) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		want := h.s(strings.Join(ips, ","))
		eventually(h.t, name+" gets "+want, func() (bool, string) {
			svc, err := h.svc(name)
			if err != nil {
				return false, err.Error()
			}
			got := ingressIPs(svc)
			from := svc.Annotations[allocator.AnnotationAllocatedFrom]
			return got == want && from == h.s(pool), fmt.Sprintf("status %q from pool %q", got, from)
		})
	}
}

// wantFail waits for an AllocationFailed event naming the reason, and checks the Service has no address.
func wantFail(name string, reason allocator.Reason) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		eventually(h.t, name+" fails with "+string(reason), func() (bool, string) {
			notes := h.events(h.ns, name, EventAllocationFailed)
			for _, n := range notes {
				if strings.Contains(n, string(reason)) {
					svc, err := h.svc(name)
					if err != nil {
						return false, err.Error()
					}
					return ingressIPs(svc) == "", "status " + ingressIPs(svc)
				}
			}
			return false, fmt.Sprintf("events %q", notes)
		})
	}
}

// wantNothing checks, after a later Service was served (so the controller has seen this one), that the
// Service has no address and no event from us.
func wantNothing(name, sentinel string) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		eventually(h.t, sentinel+" served", func() (bool, string) {
			svc, err := h.svc(sentinel)
			return err == nil && ingressIPs(svc) != "", "waiting"
		})
		time.Sleep(200 * time.Millisecond) // let in-flight reconciles of the other Service finish
		svc, err := h.svc(name)
		if err != nil {
			h.t.Fatal(err)
		}
		if ingressIPs(svc) != "" || len(h.events(h.ns, name, EventIPAllocated))+len(h.events(h.ns, name, EventAllocationFailed)) > 0 {
			h.t.Fatalf("%s was handled: status %q", name, ingressIPs(svc))
		}
	}
}

func wantEvent(name, reason, substr string) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		eventually(h.t, name+" event "+reason, func() (bool, string) {
			notes := h.events(h.ns, name, reason)
			for _, n := range notes {
				if strings.Contains(n, h.s(substr)) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("events %q", notes)
		})
	}
}

func wantCounts(pool string, a4, a6, v4, v6 int64) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		want := v1beta1.IPAddressPoolStatus{AssignedIPv4: a4, AssignedIPv6: a6, AvailableIPv4: v4, AvailableIPv6: v6}
		eventually(h.t, pool+" counts", func() (bool, string) {
			st, _, err := h.poolStatus(h.s(pool))
			if err != nil {
				return false, err.Error()
			}
			st.Conditions = nil
			return equality.Semantic.DeepEqual(st, want), fmt.Sprintf("%+v", st)
		})
	}
}

func wantCondition(pool string, status metav1.ConditionStatus, substr string) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		eventually(h.t, pool+" condition", func() (bool, string) {
			st, _, err := h.poolStatus(h.s(pool))
			if err != nil {
				return false, err.Error()
			}
			for _, c := range st.Conditions {
				if c.Type == ConditionValid && c.Status == status && strings.Contains(c.Message, h.s(substr)) {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%+v", st.Conditions)
		})
	}
}

func wantMetric(name, pool string, value float64) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		eventually(h.t, name, func() (bool, string) {
			got, ok := gauge(name, h.s(pool))
			return ok && got == value, fmt.Sprint(got)
		})
	}
}

func gauge(name, pool string) (float64, bool) {
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if labelValue(m, "pool") == pool {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func restartManager(h *caseCtx) { h.restart() }

func stopManager(h *caseCtx) { h.stopManager() }

func startManagerWithClass(c string) ipamStep {
	return func(h *caseCtx) { h.stopManager(); h.lbClass = c; h.startManager() }
}

// setStatus writes a Service's status as another controller (MetalLB) left it.
func setStatus(name, pool string, ips ...string) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		svc, err := h.svc(name)
		if err != nil {
			h.t.Fatal(err)
		}
		svc.Annotations = map[string]string{allocator.AnnotationAllocatedFrom: h.s(pool)}
		if err := h.c.Update(h.ctx(), svc); err != nil {
			h.t.Fatal(err)
		}
		for _, ip := range ips {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: h.s(ip)})
		}
		if err := h.c.Status().Update(h.ctx(), svc); err != nil {
			h.t.Fatal(err)
		}
	}
}

func labelNamespace(k, v string) ipamStep {
	return func(h *caseCtx) {
		h.t.Helper()
		var ns corev1.Namespace
		if err := h.c.Get(h.ctx(), client.ObjectKey{Name: h.ns}, &ns); err != nil {
			h.t.Fatal(err)
		}
		ns.Labels[k] = h.s(v)
		if err := h.c.Update(h.ctx(), &ns); err != nil {
			h.t.Fatal(err)
		}
	}
}

func sel(k, v string) metav1.LabelSelector {
	return metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
}

const (
	v4 = corev1.IPv4Protocol
	v6 = corev1.IPv6Protocol
)

var (
	single  = corev1.IPFamilyPolicySingleStack
	prefer  = corev1.IPFamilyPolicyPreferDualStack
	require = corev1.IPFamilyPolicyRequireDualStack
)

func ipamCases() []struct {
	name  string
	steps []ipamStep
} {
	pool4 := []string{"198.18.{n}.0/30"}
	return []struct {
		name  string
		steps []ipamStep
	}{
		{"CIDR pool gives addresses in order", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkSvc("b"), wantIPs("b", "c{n}-a", "198.18.{n}.1"),
			wantEvent("a", EventIPAllocated, "198.18.{n}.0 from pool c{n}-a"),
		}},
		{"range pool, then exhausted", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.10-198.18.{n}.11"}),
			mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.10"), mkSvc("b"), wantIPs("b", "c{n}-a", "198.18.{n}.11"),
			mkSvc("c"), wantFail("c", allocator.ReasonExhausted),
		}},
		{"IPv6 CIDR for an IPv6 Service", []ipamStep{
			mkPool("c{n}-a", []string{"2001:db8:{n}::/120"}),
			mkSvc("a", families(single, v6)), wantIPs("a", "c{n}-a", "2001:db8:{n}::"),
		}},
		{"IPv6 range", []ipamStep{
			mkPool("c{n}-a", []string{"2001:db8:{n}::5-2001:db8:{n}::6"}),
			mkSvc("a", families(single, v6)), wantIPs("a", "c{n}-a", "2001:db8:{n}::5"),
			mkSvc("b", families(single, v6)), wantIPs("b", "c{n}-a", "2001:db8:{n}::6"),
		}},
		{"avoidBuggyIPs skips .0 and .255", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.254-198.18.{n}.255", "198.18.{n}.0/31"}, buggy),
			mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.254"), mkSvc("b"), wantIPs("b", "c{n}-a", "198.18.{n}.1"),
			mkSvc("c"), wantFail("c", allocator.ReasonExhausted),
			wantCounts("c{n}-a", 2, 0, 0, 0),
		}},
		{"autoAssign false serves only explicit requests", []ipamStep{
			mkPool("c{n}-a", pool4, noAuto),
			mkSvc("auto"), wantFail("auto", allocator.ReasonNoPool),
			mkSvc("byname", ann(allocator.AnnotationAddressPool, "c{n}-a")), wantIPs("byname", "c{n}-a", "198.18.{n}.0"),
			mkSvc("byip", ann(allocator.AnnotationLoadBalancerIPs, "198.18.{n}.3")), wantIPs("byip", "c{n}-a", "198.18.{n}.3"),
		}},
		{"lower priority value first, no priority last", []ipamStep{
			mkPool("c{n}-none", []string{"198.18.{n}.0/32"}),
			mkPool("c{n}-p20", []string{"198.18.{n}.20/32"}, alloc(v1beta1.ServiceAllocation{Priority: 20})),
			mkPool("c{n}-p10", []string{"198.18.{n}.10/32"}, alloc(v1beta1.ServiceAllocation{Priority: 10})),
			mkSvc("a", ann(allocator.AnnotationAddressPool, "")), // a pool annotation left empty means none
			wantIPs("a", "c{n}-p10", "198.18.{n}.10"),
			mkSvc("b"), wantIPs("b", "c{n}-p20", "198.18.{n}.20"),
			mkSvc("c"), wantIPs("c", "c{n}-none", "198.18.{n}.0"),
		}},
		{"serviceAllocation namespaces", []ipamStep{
			mkPool("c{n}-mine", []string{"198.18.{n}.10/32"}, alloc(v1beta1.ServiceAllocation{Priority: 1, Namespaces: []string{"ipam-{n}"}})),
			mkPool("c{n}-theirs", []string{"198.18.{n}.20/32"}, alloc(v1beta1.ServiceAllocation{Priority: 1, Namespaces: []string{"elsewhere"}})),
			mkSvc("a"), wantIPs("a", "c{n}-mine", "198.18.{n}.10"),
			mkSvc("b", ann(allocator.AnnotationAddressPool, "c{n}-theirs")), wantFail("b", allocator.ReasonNotAllowed),
			mkSvc("c"), wantFail("c", allocator.ReasonExhausted),
		}},
		{"serviceAllocation namespaceSelectors follow namespace labels", []ipamStep{
			mkPool("c{n}-a", pool4, alloc(v1beta1.ServiceAllocation{NamespaceSelectors: []metav1.LabelSelector{sel("team", "t{n}")}})),
			mkSvc("a"), wantFail("a", allocator.ReasonNoPool),
			labelNamespace("team", "t{n}"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
		}},
		{"serviceAllocation serviceSelectors", []ipamStep{
			mkPool("c{n}-a", pool4, alloc(v1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{sel("tier", "web")}})),
			mkSvc("web", label("tier", "web")), wantIPs("web", "c{n}-a", "198.18.{n}.0"),
			mkSvc("db", label("tier", "db")), wantFail("db", allocator.ReasonNoPool),
			mkSvc("db2", label("tier", "db"), ann(allocator.AnnotationLoadBalancerIPs, "198.18.{n}.2")), wantFail("db2", allocator.ReasonNotAllowed),
		}},
		{"spec.loadBalancerIP", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a", lbIP("198.18.{n}.2")), wantIPs("a", "c{n}-a", "198.18.{n}.2"),
		}},
		{"metallb.io/loadBalancerIPs", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a", ann(allocator.AnnotationLoadBalancerIPs, "198.18.{n}.3")),
			wantIPs("a", "c{n}-a", "198.18.{n}.3"),
		}},
		{"legacy metallb.universe.tf annotations", []ipamStep{
			mkPool("c{n}-a", pool4, noAuto), mkPool("c{n}-b", []string{"198.18.{n}.8/30"}, noAuto),
			mkSvc("ip", ann("metallb.universe.tf/loadBalancerIPs", "198.18.{n}.1")), wantIPs("ip", "c{n}-a", "198.18.{n}.1"),
			mkSvc("pool", ann("metallb.universe.tf/address-pool", "c{n}-b")), wantIPs("pool", "c{n}-b", "198.18.{n}.8"),
			mkSvc("s1", port(1), ann("metallb.universe.tf/allow-shared-ip", "k"), ann(allocator.AnnotationAddressPool, "c{n}-b")),
			wantIPs("s1", "c{n}-b", "198.18.{n}.9"),
			mkSvc("s2", port(2), ann("metallb.universe.tf/allow-shared-ip", "k"), ann(allocator.AnnotationAddressPool, "c{n}-b")),
			wantIPs("s2", "c{n}-b", "198.18.{n}.9"),
			wantEvent("ip", EventDeprecatedAnnotation, "Service uses deprecated annotation metallb.universe.tf/loadBalancerIPs"),
		}},
		{"request outside every pool", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a", ann(allocator.AnnotationLoadBalancerIPs, "198.18.{n}.200")),
			wantFail("a", allocator.ReasonNotInPool),
		}},
		{"request for a taken address", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkSvc("b", lbIP("198.18.{n}.0")), wantFail("b", allocator.ReasonInUse),
		}},
		{"request of the wrong family", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.0/30", "2001:db8:{n}::/126"}),
			mkSvc("a", families(single, v4), ann(allocator.AnnotationLoadBalancerIPs, "2001:db8:{n}::1")),
			wantFail("a", allocator.ReasonWrongFamily),
		}},
		{"request for a pool that does not exist", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a", ann(allocator.AnnotationAddressPool, "c{n}-nope")),
			wantFail("a", allocator.ReasonUnknownPool),
		}},
		{"sharing: same key, different ports", []ipamStep{
			mkPool("c{n}-a", pool4),
			mkSvc("a", port(80), ann(allocator.AnnotationAllowSharedIP, "k")), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkSvc("b", port(443), ann(allocator.AnnotationAllowSharedIP, "k")), wantIPs("b", "c{n}-a", "198.18.{n}.0"),
			wantCounts("c{n}-a", 1, 0, 3, 0),
		}},
		{"sharing: a port clash takes another address, or fails on request", []ipamStep{
			mkPool("c{n}-a", pool4),
			mkSvc("a", port(80), ann(allocator.AnnotationAllowSharedIP, "k")), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkSvc("b", port(80), ann(allocator.AnnotationAllowSharedIP, "k")), wantIPs("b", "c{n}-a", "198.18.{n}.1"),
			mkSvc("c", port(80), ann(allocator.AnnotationAllowSharedIP, "k"), lbIP("198.18.{n}.0")), wantFail("c", allocator.ReasonInUse),
		}},
		{"sharing: different keys or no key never share", []ipamStep{
			mkPool("c{n}-a", pool4),
			mkSvc("a", port(80), ann(allocator.AnnotationAllowSharedIP, "k1")), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkSvc("b", port(81), ann(allocator.AnnotationAllowSharedIP, "k2"), lbIP("198.18.{n}.0")), wantFail("b", allocator.ReasonInUse),
			mkSvc("c", port(82), lbIP("198.18.{n}.0")), wantFail("c", allocator.ReasonInUse),
		}},
		{"sharing: externalTrafficPolicy Local needs the same selector", []ipamStep{
			mkPool("c{n}-a", pool4),
			mkSvc("a", port(80), local("x"), ann(allocator.AnnotationAllowSharedIP, "k")), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkSvc("b", port(81), local("x"), ann(allocator.AnnotationAllowSharedIP, "k"), lbIP("198.18.{n}.0")), wantIPs("b", "c{n}-a", "198.18.{n}.0"),
			mkSvc("c", port(82), local("y"), ann(allocator.AnnotationAllowSharedIP, "k"), lbIP("198.18.{n}.0")), wantFail("c", allocator.ReasonInUse),
			mkSvc("d", port(83), ann(allocator.AnnotationAllowSharedIP, "k"), lbIP("198.18.{n}.0")), wantFail("d", allocator.ReasonInUse),
		}},
		{"RequireDualStack takes both families from one pool", []ipamStep{
			mkPool("c{n}-v4", []string{"198.18.{n}.0/30"}, alloc(v1beta1.ServiceAllocation{Priority: 1})),
			mkPool("c{n}-dual", []string{"198.18.{n}.8/30", "2001:db8:{n}::/126"}, alloc(v1beta1.ServiceAllocation{Priority: 2})),
			mkSvc("a", families(require, v4, v6)), wantIPs("a", "c{n}-dual", "198.18.{n}.8", "2001:db8:{n}::"),
			// IPv6 first in spec.ipFamilies: the pair is still written IPv4 first, as MetalLB does.
			mkSvc("b", families(require, v6, v4)), wantIPs("b", "c{n}-dual", "198.18.{n}.9", "2001:db8:{n}::1"),
			wantCounts("c{n}-dual", 2, 2, 2, 2),
		}},
		{"PreferDualStack falls back to its primary family", []ipamStep{
			mkPool("c{n}-v4", pool4), mkSvc("a", families(prefer, v4, v6)), wantIPs("a", "c{n}-v4", "198.18.{n}.0"),
		}},
		{"RequireDualStack without a dual pool fails", []ipamStep{
			mkPool("c{n}-v4", pool4), mkSvc("a", families(require, v4, v6)), wantFail("a", allocator.ReasonExhausted),
		}},
		{"SingleStack IPv6 from a dual pool", []ipamStep{
			mkPool("c{n}-dual", []string{"198.18.{n}.0/30", "2001:db8:{n}::/126"}),
			mkSvc("a", families(single, v6)), wantIPs("a", "c{n}-dual", "2001:db8:{n}::"),
			mkSvc("b", families(single, v4)), wantIPs("b", "c{n}-dual", "198.18.{n}.0"),
		}},
		{"dual-stack request of both addresses", []ipamStep{
			mkPool("c{n}-dual", []string{"198.18.{n}.0/30", "2001:db8:{n}::/126"}),
			mkSvc("a", families(require, v4, v6), ann(allocator.AnnotationLoadBalancerIPs, "198.18.{n}.2,2001:db8:{n}::3")),
			wantIPs("a", "c{n}-dual", "198.18.{n}.2", "2001:db8:{n}::3"),
			mkSvc("b", families(require, v4, v6), ann(allocator.AnnotationLoadBalancerIPs, "198.18.{n}.1")), wantFail("b", allocator.ReasonWrongFamily),
		}},
		{"another loadBalancerClass is left alone", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("other", class("example.com/other")), mkSvc("mine"),
			wantNothing("other", "mine"),
		}},
		{"--lb-class handles only its class", []ipamStep{
			mkPool("c{n}-a", pool4), startManagerWithClass("routelb.io/lb"),
			mkSvc("classless"), mkSvc("mine", class("routelb.io/lb")), wantIPs("mine", "c{n}-a", "198.18.{n}.0"),
			wantNothing("classless", "mine"),
			// The default manager does not know the other class's Service holds .0: separate pools per class.
			startManagerWithClass(""), wantIPs("classless", "c{n}-a", "198.18.{n}.0"),
		}},
		{"delete releases the address", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.0/32"}), mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			wantCounts("c{n}-a", 1, 0, 0, 0), delSvc("a"), wantCounts("c{n}-a", 0, 0, 1, 0),
			mkSvc("b"), wantIPs("b", "c{n}-a", "198.18.{n}.0"),
		}},
		{"a waiting Service gets a freed address", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.0/32"}), mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkSvc("b"), wantFail("b", allocator.ReasonExhausted), delSvc("a"), wantIPs("b", "c{n}-a", "198.18.{n}.0"),
		}},
		{"no longer a LoadBalancer: status cleared, address released", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.0/32"}), mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			updSvc("a", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }), wantIPs("a", ""),
			mkSvc("b"), wantIPs("b", "c{n}-a", "198.18.{n}.0"),
		}},
		{"pool edited: kept where it still fits, reallocated where not", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.0/30"}), mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkSvc("b"), wantIPs("b", "c{n}-a", "198.18.{n}.1"),
			editPool("c{n}-a", []string{"198.18.{n}.1/32", "198.18.{n}.8/30"}),
			wantIPs("b", "c{n}-a", "198.18.{n}.1"), wantIPs("a", "c{n}-a", "198.18.{n}.8"),
			wantCounts("c{n}-a", 2, 0, 3, 0),
		}},
		{"pool narrowed: the address is cleared and reallocated (MetalLB's ClearAssignment)", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			mkPool("c{n}-b", []string{"198.18.{n}.8/30"}),
			editPool("c{n}-a", pool4, alloc(v1beta1.ServiceAllocation{Namespaces: []string{"elsewhere"}})),
			wantIPs("a", "c{n}-b", "198.18.{n}.8"),
			wantEvent("a", EventClearAssignment, `pool "c{n}-a" no longer serves this Service`),
			mkSvc("b"), wantIPs("b", "c{n}-b", "198.18.{n}.9"),
		}},
		{"pinned pools before generic ones, whatever their names", []ipamStep{
			mkPool("c{n}-a-generic", pool4),
			mkPool("c{n}-z-team", []string{"198.18.{n}.8/30"}, alloc(v1beta1.ServiceAllocation{Namespaces: []string{"ipam-{n}"}})),
			mkSvc("a"), wantIPs("a", "c{n}-z-team", "198.18.{n}.8"),
		}},
		{"PreferDualStack gains its second family once one is free", []ipamStep{
			mkPool("c{n}-dual", []string{"198.18.{n}.0/32", "2001:db8:{n}::/128"}),
			mkSvc("hog", families(single, v6)), wantIPs("hog", "c{n}-dual", "2001:db8:{n}::"),
			mkSvc("a", families(prefer, v4, v6)), wantIPs("a", "c{n}-dual", "198.18.{n}.0"),
			updSvc("a", label("touch", "1")),
			wantEvent("a", EventAdditionalAssignFailed, "no available IPv6 address in pool c{n}-dual"),
			delSvc("hog"), wantIPs("a", "c{n}-dual", "198.18.{n}.0", "2001:db8:{n}::"),
		}},
		{"pool deleted: moved to another pool, or none", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.0/32"}, alloc(v1beta1.ServiceAllocation{Priority: 1})),
			mkPool("c{n}-b", []string{"198.18.{n}.8/32"}),
			mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"), mkSvc("b"), wantIPs("b", "c{n}-b", "198.18.{n}.8"),
			delPool("c{n}-a"), wantFail("a", allocator.ReasonExhausted), wantIPs("b", "c{n}-b", "198.18.{n}.8"),
			delSvc("b"), wantIPs("a", "c{n}-b", "198.18.{n}.8"),
		}},
		{"changed request moves the Service", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a"), wantIPs("a", "c{n}-a", "198.18.{n}.0"),
			updSvc("a", ann(allocator.AnnotationLoadBalancerIPs, "198.18.{n}.3")), wantIPs("a", "c{n}-a", "198.18.{n}.3"),
			mkSvc("b"), wantIPs("b", "c{n}-a", "198.18.{n}.0"),
		}},
		{"restart keeps every address and duplicates none", []ipamStep{
			mkPool("c{n}-a", pool4), mkSvc("a"), mkSvc("b", lbIP("198.18.{n}.2")),
			wantIPs("a", "c{n}-a", "198.18.{n}.0"), wantIPs("b", "c{n}-a", "198.18.{n}.2"),
			delSvc("a"), restartManager, mkSvc("c"), wantIPs("c", "c{n}-a", "198.18.{n}.0"),
			mkSvc("d"), wantIPs("d", "c{n}-a", "198.18.{n}.1"), wantIPs("b", "c{n}-a", "198.18.{n}.2"),
		}},
		{"migration from MetalLB keeps every address", []ipamStep{
			mkPool("c{n}-a", pool4), stopManager,
			mkSvc("old1"), setStatus("old1", "c{n}-a", "198.18.{n}.3"),
			mkSvc("old2"), setStatus("old2", "c{n}-a", "198.18.{n}.0"),
			mkSvc("new"), restartManager,
			wantIPs("old1", "c{n}-a", "198.18.{n}.3"), wantIPs("old2", "c{n}-a", "198.18.{n}.0"), wantIPs("new", "c{n}-a", "198.18.{n}.1"),
		}},
		{"pool status: counts per family, IPv6 capped, metrics", []ipamStep{
			mkPool("c{n}-a", []string{"198.18.{n}.0/30", "2001:db8:{n}::/64"}),
			mkSvc("a", families(require, v4, v6)), wantIPs("a", "c{n}-a", "198.18.{n}.0", "2001:db8:{n}::"),
			wantCounts("c{n}-a", 1, 1, 3, math.MaxInt64-1),
			wantMetric("routelb_allocator_addresses_in_use_total", "c{n}-a", 2),
			wantCondition("c{n}-a", metav1.ConditionTrue, ""),
		}},
		{"overlapping newer pool is reported and unused", []ipamStep{
			// Named in creation order: within one second of creation time, the name breaks the tie.
			mkPool("c{n}-a-old", pool4, noAuto), mkPool("c{n}-b-new", []string{"198.18.{n}.2/31"}),
			wantCondition("c{n}-b-new", metav1.ConditionFalse, "overlaps addresses of IPAddressPool c{n}-a-old"),
			wantCondition("c{n}-a-old", metav1.ConditionTrue, ""),
			mkSvc("a", ann(allocator.AnnotationAddressPool, "c{n}-b-new")), wantFail("a", allocator.ReasonUnknownPool),
		}},
	}
}

// TestIPAMAllocation runs the allocation table against a real API server and one controller manager
// (restarted by some cases). Each case has its own namespace and addresses.
func TestIPAMAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts an API server")
	}
	e := startIPAMEnv(t, false)
	e.startManager()
	for i, c := range ipamCases() {
		n := i + 1
		t.Run(c.name, func(t *testing.T) {
			h := &caseCtx{ipamEnv: e, t: t, n: n, ns: fmt.Sprintf("ipam-%d", n)}
			outer := e.t
			e.t = t
			defer func() { e.t = outer }()
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns, Labels: map[string]string{"case": strconv.Itoa(n)}}}
			if err := e.c.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			// Deferred, so that a failed case too leaves a running default manager and none of its
			// pools: otherwise they serve the next cases' Services and every later case fails.
			defer func() {
				if e.stop == nil || e.lbClass != "" {
					h.lbClass = ""
					h.restart()
				}
				h.cleanup()
			}()
			for _, s := range c.steps {
				s(h)
			}
		})
	}
}

// cleanup deletes the case's Services and pools, so the next case's pools are the only ones.
func (h *caseCtx) cleanup() {
	var svcs corev1.ServiceList
	if err := h.c.List(h.ctx(), &svcs, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	for i := range svcs.Items {
		if err := h.c.Delete(h.ctx(), &svcs.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			h.t.Fatal(err)
		}
	}
	var pools v1beta1.IPAddressPoolList
	if err := h.c.List(h.ctx(), &pools, client.InNamespace(testenv.Namespace)); err != nil {
		h.t.Fatal(err)
	}
	for i := range pools.Items {
		if err := h.c.Delete(h.ctx(), &pools.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			h.t.Fatal(err)
		}
	}
}
