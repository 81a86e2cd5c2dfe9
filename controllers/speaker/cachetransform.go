package speaker

import (
	"context"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
)

// The speaker caches every Service, EndpointSlice and Node of the cluster and each reconcile lists
// them: at 10,000 Services the cache is most of its memory. The transforms below drop, before an
// object is stored, what no speaker code reads (docs/benchmarks.md, "Speaker at 10,000 Services").
// The speaker never updates Services, EndpointSlices or Nodes, so a trimmed copy is never written
// back; the objects it does update (its status objects, the conditions of metallb.io objects) are
// written through their status subresource only, which keeps what the trim dropped as it is on the
// server.

// trimService keeps what the speaker reads of a Service: its identity (events name the Service by
// it) and labels (advertisements' serviceSelectors), the three spec fields that decide whether and
// from where it is announced (model.Announces, Serving) and the IPs of its ingress (model.IngressVIPs).
// Annotations are the controller's business; ports, selector, cluster IPs and the rest are a
// Service's bulk at 10,000 Services and decide nothing here.
func trimService(obj any) (any, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	s.ManagedFields, s.Annotations, s.OwnerReferences = nil, nil, nil
	s.Spec = corev1.ServiceSpec{Type: s.Spec.Type, LoadBalancerClass: s.Spec.LoadBalancerClass,
		ExternalTrafficPolicy: s.Spec.ExternalTrafficPolicy}
	var ingress []corev1.LoadBalancerIngress
	for _, ing := range s.Status.LoadBalancer.Ingress {
		if ing.IP != "" {
			ingress = append(ingress, corev1.LoadBalancerIngress{IP: ing.IP})
		}
	}
	s.Status = corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: ingress}}
	return s, nil
}

// trimStatusObject drops the owner references of the speaker's status objects (ServiceBGPStatus,
// ServiceL2Status): the speaker sets them at create and never reads them, and it writes these
// objects only through their status subresource, where the API server keeps everything but the
// status as it was.
func trimStatusObject(obj any) (any, error) {
	if o, ok := obj.(client.Object); ok {
		o.SetManagedFields(nil)
		o.SetOwnerReferences(nil)
	}
	return obj, nil
}

// trimEndpointSlice keeps what model.IndexServing reads: the service-name label and, per endpoint,
// whether it has an address, its conditions and its node. Ports, hints, targetRefs and the
// addresses themselves are most of a slice and are not part of the decision.
func trimEndpointSlice(obj any) (any, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	s.ManagedFields, s.Annotations, s.OwnerReferences = nil, nil, nil
	if name, ok := s.Labels[discoveryv1.LabelServiceName]; ok {
		s.Labels = map[string]string{discoveryv1.LabelServiceName: name}
	} else {
		s.Labels = nil
	}
	s.Ports = nil
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		*ep = discoveryv1.Endpoint{Addresses: ep.Addresses[:min(len(ep.Addresses), 1)], Conditions: ep.Conditions, NodeName: ep.NodeName}
	}
	return s, nil
}

// trimNode drops managedFields, annotations and the image list (often the largest part of a Node);
// labels, addresses and conditions stay.
func trimNode(obj any) (any, error) {
	if n, ok := obj.(*corev1.Node); ok {
		n.ManagedFields, n.Annotations = nil, nil
		n.Status.Images = nil
	}
	return obj, nil
}

// withTransforms sets the trimming transforms on opts: trimX for the kinds above, managedFields
// stripped from every other kind (a ByObject transform replaces the default one). ByObject is keyed
// by pointer, so an existing entry of the same type (its namespace and label restrictions) has to be
// found by type: a second key of that type would make the cache pick one of the two at random, and
// a status cache without its namespace lists cluster-wide, which the speaker's RBAC forbids.
func withTransforms(opts cache.Options) cache.Options {
	opts.DefaultTransform = cache.TransformStripManagedFields()
	if opts.ByObject == nil {
		opts.ByObject = map[client.Object]cache.ByObject{}
	}
	for obj, fn := range map[client.Object]func(any) (any, error){
		&corev1.Service{}: trimService, &discoveryv1.EndpointSlice{}: trimEndpointSlice, &corev1.Node{}: trimNode,
		&v1beta1.ServiceBGPStatus{}: trimStatusObject, &v1beta1.ServiceL2Status{}: trimStatusObject,
	} {
		key := keyOfType(opts.ByObject, obj)
		bo := opts.ByObject[key]
		bo.Transform = fn
		opts.ByObject[key] = bo
	}
	return opts
}

// keyOfType returns the key of byObject whose type is obj's, or obj when there is none.
func keyOfType(byObject map[client.Object]cache.ByObject, obj client.Object) client.Object {
	for k := range byObject {
		if reflect.TypeOf(k) == reflect.TypeOf(obj) {
			return k
		}
	}
	return obj
}

// sharedLists is the reader the speaker computes from: Service and EndpointSlice lists come straight
// from the cache, without the deep copy the cached client makes of each object. At 10,000 Services
// that copy is tens of MB per reconcile, and the computation (nodeconfig, model) only reads its
// input; nothing that holds these objects may modify them. Secrets come from the SecretStore: the
// speaker never lists, watches or caches them (secretstore.go).
type sharedLists struct {
	client.Reader
	secrets *SecretStore
}

func (r sharedLists) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if s, ok := obj.(*corev1.Secret); ok {
		return r.secrets.Get(ctx, key.Name, s)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

func (r sharedLists) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	switch list.(type) {
	case *corev1.ServiceList, *discoveryv1.EndpointSliceList:
		opts = append(opts, client.UnsafeDisableDeepCopy)
	}
	return r.Reader.List(ctx, list, opts...)
}
