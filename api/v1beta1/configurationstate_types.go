package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConfigurationResult is the outcome of validating the configuration.
// +kubebuilder:validation:Enum=Valid;Invalid;Unknown
type ConfigurationResult string

const (
	// ConfigurationResultValid: every object is part of the configuration.
	ConfigurationResultValid ConfigurationResult = "Valid"
	// ConfigurationResultInvalid: some object has a problem; ErrorSummary says which.
	ConfigurationResultInvalid ConfigurationResult = "Invalid"
	// ConfigurationResultUnknown: the component has not reported yet.
	ConfigurationResultUnknown ConfigurationResult = "Unknown"
)

// Labels of ConfigurationState objects, as MetalLB sets them.
const (
	// LabelComponentType is "controller" or "speaker".
	LabelComponentType = "metallb.io/component-type"
	// LabelNodeName is the speaker's node (speakers only).
	LabelNodeName = "metallb.io/node-name"
)

// ConditionRoutingConfigApplied is the condition a BGP speaker sets on its ConfigurationState: True
// while the node's routing daemon runs the node's config, as its reloader reports it; False with
// reason Refused, Diverged or NotApplied and the reloader's error otherwise.
const ConditionRoutingConfigApplied = "RoutingConfigApplied"

// ConfigurationStateStatus is what one component found when it last validated the configuration.
type ConfigurationStateStatus struct {
	// Result of the validation.
	// +optional
	Result ConfigurationResult `json:"result,omitempty"`

	// ErrorSummary lists the problems found, one a line; empty when Result is Valid. Objects that
	// wait for another one to be created are listed too.
	// +optional
	ErrorSummary string `json:"errorSummary,omitempty"`

	// Conditions of the component's reconcilers.
	// +optional
	// +patchMergeKey=type
	// +patchStrategy=merge
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// +kubebuilder:object:root=true
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.status.result`
// +kubebuilder:printcolumn:name="ErrorSummary",type=string,JSONPath=`.status.errorSummary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ConfigurationState reports the configuration's validity as one component (the controller, or the
// speaker of one node) sees it. The controller's is named "controller", a speaker's
// "speaker-<node>"; labels metallb.io/component-type and metallb.io/node-name say the same.
type ConfigurationState struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status ConfigurationStateStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ConfigurationStateList is a list of ConfigurationState.
type ConfigurationStateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []ConfigurationState `json:"items"`
}

func init() {
	register(&ConfigurationState{}, &ConfigurationStateList{})
}
