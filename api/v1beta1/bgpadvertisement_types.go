package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPAdvertisementSpec says how the addresses of some pools are announced over BGP.
// +kubebuilder:validation:XValidation:rule="!has(self.serviceSelectors) || self.serviceSelectors.size() == 0 || ((!has(self.aggregationLength) || self.aggregationLength == 32) && (!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))",message="serviceSelectors and aggregationLength are mutually exclusive: with serviceSelectors, aggregationLength must be 32 and aggregationLengthV6 128"
type BGPAdvertisementSpec struct {
	// AggregationLength announces IPv4 addresses rolled up into prefixes of this length instead of /32s.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	// +kubebuilder:default:=32
	// +optional
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 announces IPv6 addresses rolled up into prefixes of this length instead of /128s.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	// +kubebuilder:default:=128
	// +optional
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// LocalPref sets BGP LOCAL_PREF on the announcements (iBGP peers only); higher is preferred.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +optional
	LocalPref uint32 `json:"localPref,omitempty"`

	// Communities attached to the announcements: AA:NN, large:A:B:C, or the name of a Community alias.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Communities []CommunityRef `json:"communities,omitempty"`

	// IPAddressPools names the pools announced by this advertisement.
	// +optional
	IPAddressPools []ObjectName `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors select the pools announced by this advertisement. With neither this nor
	// IPAddressPools set, every pool is announced.
	// +optional
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors limit the nodes that announce, and so the next hops the routers learn.
	// Empty means every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Peers limits the announcements to these BGPPeers, by name. Empty means every peer. A peer that
	// does not exist yet is waited for: the advertisement applies to it once it is created.
	// +optional
	Peers []ObjectName `json:"peers,omitempty"`

	// ServiceSelectors limit the Services announced by this advertisement to those matching one of
	// them. Empty means every Service of the selected pools. Announcing per Service needs host
	// routes, so aggregation lengths must keep their defaults.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// BGPAdvertisementStatus is what routelb found wrong with the advertisement across objects.
type BGPAdvertisementStatus struct {
	// Conditions of the advertisement, such as a reference to a missing pool or alias.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="IPAddressPools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="IPAddressPool Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=10

// BGPAdvertisement announces the addresses of the selected pools to BGP peers, with its attributes.
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPAdvertisementSpec   `json:"spec,omitempty"`
	Status BGPAdvertisementStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BGPAdvertisementList is a list of BGPAdvertisement.
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}

func init() {
	register(&BGPAdvertisement{}, &BGPAdvertisementList{})
}
