package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// InterfaceName is a Linux network interface name.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=15
// +kubebuilder:validation:Pattern=`^[^\s/:]+$`
type InterfaceName string

// L2AdvertisementSpec says which pools are announced with ARP/NDP, from which nodes and interfaces.
type L2AdvertisementSpec struct {
	// IPAddressPools names the pools announced by this advertisement.
	// +optional
	IPAddressPools []ObjectName `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors select the pools announced by this advertisement. With neither this nor
	// IPAddressPools set, every pool is announced.
	// +optional
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors limit the nodes that may own and answer for the addresses. Empty means every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// PreferredNodeSelectors are soft preferences for the node that owns an address: each eligible
	// node scores the sum of the weights of the preferences it matches (over every advertisement of
	// the address), and the nodes with the highest score are chosen first. With no preferred node
	// available, any eligible node can own it. MetalLB's shape, after PreferredSchedulingTerm.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	PreferredNodeSelectors []PreferredNodeSelector `json:"preferredNodeSelectors,omitempty"`

	// ServiceSelectors limit the Services announced by this advertisement to those matching one of
	// them. Empty means every Service of the selected pools.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`

	// Interfaces limits the answers to these interfaces. Empty means the interfaces holding the node's
	// addresses.
	// +optional
	Interfaces []InterfaceName `json:"interfaces,omitempty"`
}

// PreferredNodeSelector is a weighted soft preference for nodes.
type PreferredNodeSelector struct {
	// Weight added to the score of the nodes matching Preference, from 1 to 100.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`

	// Preference selects the nodes that get the weight; an empty selector matches every node. Only
	// nodes eligible under NodeSelectors count.
	Preference metav1.LabelSelector `json:"preference"`
}

// L2AdvertisementStatus is what routelb found wrong with the advertisement across objects.
type L2AdvertisementStatus struct {
	// Conditions of the advertisement, such as a reference to a missing pool.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="IPAddressPools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="IPAddressPool Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`
// +kubebuilder:printcolumn:name="Interfaces",type=string,JSONPath=`.spec.interfaces`
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=10

// L2Advertisement announces the addresses of the selected pools on the local network with ARP and NDP.
type L2Advertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   L2AdvertisementSpec   `json:"spec,omitempty"`
	Status L2AdvertisementStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// L2AdvertisementList is a list of L2Advertisement.
type L2AdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []L2Advertisement `json:"items"`
}

func init() {
	register(&L2Advertisement{}, &L2AdvertisementList{})
}
