package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PoolAddress is one entry of a pool: a CIDR ("203.0.113.0/24") or an inclusive range ("203.0.113.10-203.0.113.20").
// The rules live on the type so the API server names the offending list item.
// +kubebuilder:validation:MaxLength=100
// +kubebuilder:validation:XValidation:rule="isCIDR(self) || (self.split('-').size() == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim()))",message="must be a CIDR (203.0.113.0/24) or a range of two IP addresses (203.0.113.10-203.0.113.20)"
// +kubebuilder:validation:XValidation:rule="isCIDR(self) || self.split('-').size() != 2 || !isIP(self.split('-')[0].trim()) || !isIP(self.split('-')[1].trim()) || ip(self.split('-')[0].trim()).family() == ip(self.split('-')[1].trim()).family()",message="a range must start and end in the same IP family"
// +kubebuilder:validation:XValidation:rule="isCIDR(self) || self.split('-').size() != 2 || cel.bind(a, self.split('-')[0].trim(), cel.bind(b, self.split('-')[1].trim(), !isIP(a) || !isIP(b) || ip(a).family() != ip(b).family() || ![0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99,100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115,116,117,118,119,120,121,122,123,124,125,126,127].exists(n, n < (ip(a).family() == 4 ? 32 : 128) && cidr(a + '/' + string(n)).containsIP(b) && !cidr(a + '/' + string(n + 1)).containsIP(b) && cidr(b + '/' + string(n + 1)).containsIP(cidr(a + '/' + string(n)).masked().ip()))))",message="a range must not end before it starts"
type PoolAddress string

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
	SchemeBuilder.Register(&IPAddressPool{}, &IPAddressPoolList{})
}
