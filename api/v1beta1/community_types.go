package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CommunityAlias gives a BGP community a name that BGPAdvertisements can use.
type CommunityAlias struct {
	// Name of the alias.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$`
	Name string `json:"name"`

	// Value is the community: AA:NN or large:A:B:C.
	Value CommunityValue `json:"value,omitempty"`
}

// CommunitySpec lists community aliases.
type CommunitySpec struct {
	// Communities are the aliases; the API server keeps their names unique.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=1000
	Communities []CommunityAlias `json:"communities,omitempty"`
}

// CommunityStatus is what routelb found wrong with the aliases across objects.
type CommunityStatus struct {
	// Conditions of the object.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status

// Community is a set of named aliases for BGP communities.
type Community struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CommunitySpec   `json:"spec,omitempty"`
	Status CommunityStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// CommunityList is a list of Community.
type CommunityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Community `json:"items"`
}

func init() {
	register(&Community{}, &CommunityList{})
}
