package speaker

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/model"
)

// TestTrimEndpointSliceKeepsServing checks that the cache's trimmed slices give the serving index
// the same answers as the full ones, for every kind of endpoint the index distinguishes.
func TestTrimEndpointSliceKeepsServing(t *testing.T) {
	yes, no := true, false
	n1, n2 := "node1", "node2"
	full := []discoveryv1.EndpointSlice{
		{ObjectMeta: metav1.ObjectMeta{Name: "a-1", Namespace: "ns", Annotations: map[string]string{"x": "y"},
			Labels:        map[string]string{discoveryv1.LabelServiceName: "a", "other": "label"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kcm"}}},
			Ports: []discoveryv1.EndpointPort{{}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.0.0.1", "10.0.0.2"}, NodeName: &n1, TargetRef: &corev1.ObjectReference{Name: "pod"}},
				{Addresses: []string{"10.0.0.3"}, NodeName: &n2, Conditions: discoveryv1.EndpointConditions{Ready: &no}},
			}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "b"}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.0.0.4"}, NodeName: &n2, Conditions: discoveryv1.EndpointConditions{Ready: &no, Serving: &yes}},
				{NodeName: &n1},                   // no address: cannot serve
				{Addresses: []string{"10.0.0.5"}}, // serves on no known node
			}},
		{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "ns", Labels: map[string]string{"other": "label"}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.6"}, NodeName: &n1}}},
	}
	trimmed := make([]discoveryv1.EndpointSlice, len(full))
	for i := range full {
		c := full[i].DeepCopy()
		if _, err := trimEndpointSlice(c); err != nil {
			t.Fatal(err)
		}
		trimmed[i] = *c
	}
	if got, want := model.IndexServing(trimmed), model.IndexServing(full); !reflect.DeepEqual(got, want) {
		t.Errorf("serving index of trimmed slices:\n%+v\nwant (full slices):\n%+v", got, want)
	}
	if s := trimmed[0]; s.ManagedFields != nil || s.Annotations != nil || s.Ports != nil || len(s.Labels) != 1 || s.Endpoints[0].TargetRef != nil {
		t.Errorf("slice not trimmed: %+v", s)
	}
}

// TestTrimServiceKeepsDecisions: a trimmed Service gives every answer the speaker takes from a
// Service (announced at all, its VIPs, whether its endpoints allow it on a node, which
// advertisements select it, what events name) exactly as the full one does, and holds none of
// the bulk.
func TestTrimServiceKeepsDecisions(t *testing.T) {
	class, local := "routelb", corev1.ServiceExternalTrafficPolicyLocal
	full := func(mod func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", UID: "u", ResourceVersion: "7",
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"metallb.io/loadBalancerIPs": "203.0.113.1"}, ManagedFields: []metav1.ManagedFieldsEntry{{}}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}},
				Selector: map[string]string{"app": "web"}, ClusterIP: "198.18.0.10", ClusterIPs: []string{"198.18.0.10"},
				IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "203.0.113.1", Ports: []corev1.PortStatus{{Port: 80}}}, {Hostname: "web.example"}, {IP: "2001:db8::1"}, {IP: "bad"}}},
				Conditions: []metav1.Condition{{Type: "x"}}}}
		if mod != nil {
			mod(s)
		}
		return s
	}
	cases := map[string]*corev1.Service{
		"cluster policy":      full(nil),
		"local policy":        full(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = local }),
		"class":               full(func(s *corev1.Service) { s.Spec.LoadBalancerClass = &class }),
		"not a load balancer": full(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }),
		"no ingress":          full(func(s *corev1.Service) { s.Status = corev1.ServiceStatus{} }),
	}
	webOnly, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	adv := &model.BGPAdvertisement{ServiceSelectors: []labels.Selector{webOnly}}
	serving := []model.Serving{{}, {Anywhere: true}, {Anywhere: true, Nodes: map[string]bool{"node1": true}}}
	for name, svc := range cases {
		t.Run(name, func(t *testing.T) {
			trimmed := svc.DeepCopy()
			if _, err := trimService(trimmed); err != nil {
				t.Fatal(err)
			}
			for _, lbClass := range []string{"", class} {
				if got, want := model.Announces(trimmed, lbClass), model.Announces(svc, lbClass); got != want {
					t.Errorf("Announces(%q) = %v, full Service %v", lbClass, got, want)
				}
			}
			var psT, psF model.Problems
			if got, want := model.IngressVIPs(trimmed, &psT), model.IngressVIPs(svc, &psF); !reflect.DeepEqual(got, want) {
				t.Errorf("IngressVIPs = %v, full Service %v", got, want)
			}
			for _, sv := range serving {
				for _, node := range []string{"node1", "node2"} {
					if got, want := sv.WithdrawReason(trimmed, node), sv.WithdrawReason(svc, node); got != want || sv.Announceable(trimmed) != sv.Announceable(svc) {
						t.Errorf("serving %+v on %s: %q, full Service %q", sv, node, got, want)
					}
				}
			}
			if adv.SelectsService(trimmed) != adv.SelectsService(svc) {
				t.Errorf("SelectsService differs")
			}
			if trimmed.Name != svc.Name || trimmed.Namespace != svc.Namespace || trimmed.UID != svc.UID || trimmed.ResourceVersion != svc.ResourceVersion {
				t.Errorf("identity changed: %+v", trimmed.ObjectMeta)
			}
			if trimmed.Annotations != nil || trimmed.ManagedFields != nil || trimmed.Spec.Ports != nil || trimmed.Spec.Selector != nil ||
				trimmed.Spec.ClusterIPs != nil || trimmed.Status.Conditions != nil {
				t.Errorf("Service not trimmed: %+v", trimmed)
			}
		})
	}
}

// TestTrimStatusObject: the speaker's status objects keep what it matches and compares (labels,
// identity, status) and lose their owner references.
func TestTrimStatusObject(t *testing.T) {
	o := &v1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{Name: "bgp-x", Namespace: "routelb", UID: "u", ResourceVersion: "3",
		Labels:          map[string]string{LabelNode: "node1", LabelServiceName: "a", LabelServiceNamespace: "ns"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "Pod", Name: "speaker"}}, ManagedFields: []metav1.ManagedFieldsEntry{{}}},
		Status: v1beta1.MetalLBServiceBGPStatus{Node: "node1", ServiceName: "a", ServiceNamespace: "ns", Peers: []string{"p"}}}
	want := o.DeepCopy()
	want.OwnerReferences, want.ManagedFields = nil, nil
	if _, err := trimStatusObject(o); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("trimmed %+v, want %+v", o, want)
	}
}

// TestSpeakerCacheOptionsOneEntryPerKind guards the cache restrictions against the transforms: each
// kind has one ByObject entry, and the namespaced kinds keep their namespace (and label) next to
// their transform. A second entry of a kind once made the status caches list cluster-wide, which
// the chart's RBAC refuses.
func TestSpeakerCacheOptionsOneEntryPerKind(t *testing.T) {
	opts := SpeakerCacheOptions("metallb-system", "node-a")
	seen := map[reflect.Type]cache.ByObject{}
	for obj, bo := range opts.ByObject {
		typ := reflect.TypeOf(obj)
		if _, dup := seen[typ]; dup {
			t.Errorf("two cache entries for %v", typ)
		}
		seen[typ] = bo
	}
	for _, tc := range []struct {
		obj                   client.Object
		namespaced, transform bool
		label                 bool
	}{
		{&v1beta1.ServiceBGPStatus{}, true, true, true},
		{&v1beta1.ServiceL2Status{}, true, true, false},
		{&v1beta1.ConfigurationState{}, true, false, true},
		{&v1beta1.IPAddressPool{}, true, false, false},
		{&corev1.Service{}, false, true, false},
		{&discoveryv1.EndpointSlice{}, false, true, false},
		{&corev1.Node{}, false, true, false},
	} {
		bo, ok := seen[reflect.TypeOf(tc.obj)]
		if !ok {
			t.Errorf("%T: no cache entry", tc.obj)
			continue
		}
		if _, inNS := bo.Namespaces["metallb-system"]; inNS != tc.namespaced || (tc.namespaced && len(bo.Namespaces) != 1) {
			t.Errorf("%T: namespaces %v, want only metallb-system: %v", tc.obj, bo.Namespaces, tc.namespaced)
		}
		if (bo.Transform != nil) != tc.transform {
			t.Errorf("%T: transform set %v, want %v", tc.obj, bo.Transform != nil, tc.transform)
		}
		if (bo.Label != nil) != tc.label {
			t.Errorf("%T: label selector %v, want one: %v", tc.obj, bo.Label, tc.label)
		}
	}
}
