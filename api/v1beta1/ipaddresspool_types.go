package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PoolAddress (one entry of a pool) is declared with its validation rules in
// zz_generated.pooladdress.go, which hack/rangerule writes (`make generate`).

// IPAddressPoolSpec is the set of addresses routelb may hand out, and to whom.
type IPAddressPoolSpec struct {
	// Addresses lists the CIDRs and ranges of the pool; they all share the pool's settings.
	// +kubebuilder:validation:MaxItems=1000
	Addresses []PoolAddress `json:"addresses"`

	// AutoAssign false keeps the pool for Services that ask for it by name or by address.
	// +optional
	// +kubebuilder:default:=true
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs skips addresses ending in .0 and .255, which some old clients and routers mishandle.
	// +optional
	// +kubebuilder:default:=false
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// ServiceAllocation restricts the pool to some namespaces or Services and orders it among pools.
	// The pool with the lowest priority value is tried first; pools without a priority come last.
	// +optional
	AllocateTo *ServiceAllocation `json:"serviceAllocation,omitempty"`
}

// ServiceAllocation says which Services may take addresses from a pool, and in which order pools are tried.
type ServiceAllocation struct {
	// Priority orders the pools a Service may use: lower values first.
	// +optional
	Priority int `json:"priority,omitempty"`

	// Namespaces whose Services may use the pool.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors select the namespaces whose Services may use the pool.
	// +optional
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors select the Services that may use the pool.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// IPAddressPoolStatus counts the pool's addresses per family.
type IPAddressPoolStatus struct {
	// AssignedIPv4 is the number of IPv4 addresses given to Services.
	AssignedIPv4 int64 `json:"assignedIPv4"`

	// AssignedIPv6 is the number of IPv6 addresses given to Services.
	AssignedIPv6 int64 `json:"assignedIPv6"`

	// AvailableIPv4 is the number of IPv4 addresses still free.
	AvailableIPv4 int64 `json:"availableIPv4"`

	// AvailableIPv6 is the number of IPv6 addresses still free.
	AvailableIPv6 int64 `json:"availableIPv6"`

	// Conditions report what routelb found wrong with the pool across objects, such as an overlap.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Auto Assign",type=boolean,JSONPath=`.spec.autoAssign`
// +kubebuilder:printcolumn:name="Avoid Buggy IPs",type=boolean,JSONPath=`.spec.avoidBuggyIPs`
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`

// IPAddressPool is a set of addresses routelb may give to LoadBalancer Services.
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPAddressPoolSpec   `json:"spec"`
	Status IPAddressPoolStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// IPAddressPoolList is a list of IPAddressPool.
type IPAddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddressPool `json:"items"`
}

func init() {
	register(&IPAddressPool{}, &IPAddressPoolList{})
}
