package lab

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// Names of the metallb.io objects the lab applies, as an operator would.
const (
	NS             = testenv.Namespace
	BGPPool        = "bgp-pool"
	L2Pool         = "l2-pool"
	BFDProfile     = "lab-bfd"
	RouterPeer     = "router"
	BGPAdv         = "bgp-adv"
	L2Adv          = "l2-adv"
	AppNamespace   = "default"
	AnnotationIPs  = "metallb.io/loadBalancerIPs"
	AnnotationPool = "metallb.io/address-pool"
)

// createNodes registers the lab's nodes (there is no kubelet), Ready and with their addresses.
func (c *Cluster) createNodes() {
	ctx := context.Background()
	for _, n := range c.Nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{
			"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux"}}}
		if err := c.Client.Create(ctx, node); err != nil {
			c.R.Fatalf("lab: creating Node %s: %v", n.Name, err)
		}
		node.Status = corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.Addr}, {Type: corev1.NodeHostName, Address: n.Name}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		}
		if err := c.Client.Status().Update(ctx, node); err != nil {
			c.R.Fatalf("lab: Node %s status: %v", n.Name, err)
		}
	}
}

// BaseObjects are what an operator applies for the seed's two scenarios: a BGP pool announced to
// the router with BFD, and a Layer 2 pool.
func BaseObjects() []client.Object {
	return []client.Object{
		&v1beta1.IPAddressPool{ObjectMeta: meta(BGPPool), Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{BGPPoolRange}}},
		&v1beta1.IPAddressPool{ObjectMeta: meta(L2Pool), Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{L2PoolRange}}},
		&v1beta1.BFDProfile{ObjectMeta: meta(BFDProfile), Spec: v1beta1.BFDProfileSpec{
			ReceiveInterval: ptr.To[uint32](300), TransmitInterval: ptr.To[uint32](300), DetectMultiplier: ptr.To[uint32](3)}},
		&v1beta2.BGPPeer{ObjectMeta: meta(RouterPeer), Spec: v1beta2.BGPPeerSpec{
			MyASN: NodeASN, ASN: RouterASN, Address: RouterAddr, BFDProfile: BFDProfile,
			ConnectTime: &metav1.Duration{Duration: 5 * time.Second}}},
		&v1beta1.BGPAdvertisement{ObjectMeta: meta(BGPAdv), Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{BGPPool}}},
		&v1beta1.L2Advertisement{ObjectMeta: meta(L2Adv), Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{L2Pool}}},
	}
}

func meta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: NS} }

// ObjectMeta names a metallb.io object in the lab's namespace.
func ObjectMeta(name string) metav1.ObjectMeta { return meta(name) }

func (c *Cluster) applyBaseObjects() {
	for _, o := range BaseObjects() {
		if err := c.Client.Create(context.Background(), o); err != nil {
			c.R.Fatalf("lab: creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// ServiceSpec describes a LoadBalancer Service for CreateService.
type ServiceSpec struct {
	Name  string
	Pool  string // metallb.io/address-pool
	IP    string // metallb.io/loadBalancerIPs, optional
	Local bool   // externalTrafficPolicy: Local
	// EndpointNodes get one ready endpoint each (an EndpointSlice as the endpoint controller would write).
	EndpointNodes []string
}

// CreateService creates the Service and its EndpointSlice.
func (c *Cluster) CreateService(ctx context.Context, s ServiceSpec) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: AppNamespace, Annotations: map[string]string{}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": s.Name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: HTTPPort, TargetPort: intstr.FromInt32(HTTPPort), Protocol: corev1.ProtocolTCP}},
		},
	}
	if s.Pool != "" {
		svc.Annotations[AnnotationPool] = s.Pool
	}
	if s.IP != "" {
		svc.Annotations[AnnotationIPs] = s.IP
	}
	if s.Local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	if err := c.Client.Create(ctx, svc); err != nil {
		return fmt.Errorf("creating Service %s: %w", s.Name, err)
	}
	if s.EndpointNodes == nil {
		return nil
	}
	return c.SetEndpoints(ctx, s.Name, s.EndpointNodes...)
}

// SetEndpoints makes the Service's EndpointSlice hold one ready endpoint on each of nodes.
func (c *Cluster) SetEndpoints(ctx context.Context, svc string, nodes ...string) error {
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc + "-lab", Namespace: AppNamespace}}
	_, err := controllerutilCreateOrUpdate(ctx, c.Client, es, func() {
		es.Labels = map[string]string{discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "lab.routelb.io"}
		es.AddressType = discoveryv1.AddressTypeIPv4
		es.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](HTTPPort), Protocol: ptr.To(corev1.ProtocolTCP)}}
		es.Endpoints = nil
		for i, name := range nodes {
			n := c.Node(name)
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{fmt.Sprintf("10.244.%d.%d", 101+indexOf(c.Nodes, n), 10+i)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
				NodeName:   ptr.To(name),
			})
		}
	})
	return err
}

func indexOf(ns []*Node, n *Node) int {
	for i := range ns {
		if ns[i] == n {
			return i
		}
	}
	return -1
}

func controllerutilCreateOrUpdate(ctx context.Context, c client.Client, es *discoveryv1.EndpointSlice, mutate func()) (bool, error) {
	key := client.ObjectKeyFromObject(es)
	if err := c.Get(ctx, key, es); err != nil {
		if !apierrors.IsNotFound(err) {
			return false, err
		}
		mutate()
		return true, c.Create(ctx, es)
	}
	mutate()
	return false, c.Update(ctx, es)
}

// DeleteService deletes the Service and its EndpointSlice.
func (c *Cluster) DeleteService(ctx context.Context, name string) error {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: AppNamespace}}
	if err := c.Client.Delete(ctx, svc); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name + "-lab", Namespace: AppNamespace}}
	if err := c.Client.Delete(ctx, es); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// VIP returns the Service's first ingress IP, or "" while it has none.
func (c *Cluster) VIP(ctx context.Context, name string) (string, error) {
	var svc corev1.Service
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: AppNamespace, Name: name}, &svc); err != nil {
		return "", err
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP != "" {
			return ing.IP, nil
		}
	}
	return "", nil
}

// WaitVIP waits until the controller gives the Service a VIP.
func (c *Cluster) WaitVIP(tb interface{ Fatalf(string, ...any) }, name string) string {
	var vip string
	c.Eventually(tb, 60*time.Second, func() error {
		var err error
		vip, err = c.VIP(context.Background(), name)
		if err == nil && vip == "" {
			err = fmt.Errorf("service %s has no VIP yet", name)
		}
		return err
	})
	return vip
}
