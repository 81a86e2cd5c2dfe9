package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetalLBServiceL2Status says which node answers for a Service in Layer 2 mode, and on which interfaces.
type MetalLBServiceL2Status struct {
	// Node that owns the Service's addresses.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	// +optional
	Node string `json:"node,omitempty"`

	// ServiceName is the Service this status is about.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	// +optional
	ServiceName string `json:"serviceName,omitempty"`

	// ServiceNamespace is the namespace of the Service.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	// +optional
	ServiceNamespace string `json:"serviceNamespace,omitempty"`

	// Interfaces on which the node answers.
	// +optional
	Interfaces []InterfaceInfo `json:"interfaces,omitempty"`
}

// InterfaceInfo names one interface of a Layer 2 announcement.
type InterfaceInfo struct {
	// Name of the interface.
	// +optional
	Name string `json:"name,omitempty"`
}

// ServiceL2StatusSpec is empty: the object only reports.
type ServiceL2StatusSpec struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Allocated Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`

// ServiceL2Status shows which node announces a LoadBalancer Service in Layer 2 mode.
type ServiceL2Status struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceL2StatusSpec    `json:"spec,omitempty"`
	Status MetalLBServiceL2Status `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ServiceL2StatusList is a list of ServiceL2Status.
type ServiceL2StatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceL2Status `json:"items"`
}

// MetalLBServiceBGPStatus says to which peers a node is configured to announce a Service.
type MetalLBServiceBGPStatus struct {
	// Node announcing the Service.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	// +optional
	Node string `json:"node,omitempty"`

	// ServiceName is the Service this status is about.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	// +optional
	ServiceName string `json:"serviceName,omitempty"`

	// ServiceNamespace is the namespace of the Service.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="Value is immutable"
	// +optional
	ServiceNamespace string `json:"serviceNamespace,omitempty"`

	// Peers the Service is configured to be announced to from this node; whether a peer actually has it
	// depends on the session's state, which is not shown here.
	// +optional
	Peers []string `json:"peers,omitempty"`
}

// ServiceBGPStatusSpec is empty: the object only reports.
type ServiceBGPStatusSpec struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`

// ServiceBGPStatus shows the BGP peers a Service is announced to, one object per Service and node.
type ServiceBGPStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceBGPStatusSpec    `json:"spec,omitempty"`
	Status MetalLBServiceBGPStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ServiceBGPStatusList is a list of ServiceBGPStatus.
type ServiceBGPStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceBGPStatus `json:"items"`
}

func init() {
	register(&ServiceL2Status{}, &ServiceL2StatusList{}, &ServiceBGPStatus{}, &ServiceBGPStatusList{})
}
