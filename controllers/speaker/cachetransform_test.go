package speaker

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// TestTrimServiceKeepsSpecAndStatus: the speaker reads a Service's identity, spec and status.
func TestTrimServiceKeepsSpecAndStatus(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", UID: "u", ResourceVersion: "7",
		Annotations: map[string]string{"metallb.io/loadBalancerIPs": "203.0.113.1"}, ManagedFields: []metav1.ManagedFieldsEntry{{}}},
		Spec:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}}}}}
	want := svc.DeepCopy()
	want.Annotations, want.ManagedFields = nil, nil
	if _, err := trimService(svc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(svc, want) {
		t.Errorf("trimmed Service %+v, want %+v", svc, want)
	}
}
