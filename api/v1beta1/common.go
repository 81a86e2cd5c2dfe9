package v1beta1

// ConfigToken is a string that ends up as one word in a routing daemon's configuration (an interface,
// a VRF, a password, a name). Whitespace would let an object split the line and inject configuration.
// +kubebuilder:validation:Pattern=`^\S*$`
// +kubebuilder:validation:MaxLength=253
type ConfigToken string

// CommunityValue is a BGP community: standard "AA:NN" (16 bits each) or large "large:A:B:C" (32 bits each).
// +kubebuilder:validation:MaxLength=40
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]{1,5}:[0-9]{1,5}|large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10})$')",message="must be a standard community AA:NN or a large community large:A:B:C"
// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{1,5}:[0-9]{1,5}$') || self.split(':').all(p, int(p) <= 65535)",message="each half of a standard community must be at most 65535"
// +kubebuilder:validation:XValidation:rule="!self.matches('^large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') || self.split(':').slice(1, 4).all(p, int(p) <= 4294967295)",message="each part of a large community must be at most 4294967295"
type CommunityValue string

// CommunityRef is a community value, or the name of an alias defined in a Community object.
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:XValidation:rule="self.contains(':') ? self.matches('^([0-9]{1,5}:[0-9]{1,5}|large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10})$') : self.matches('^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$')",message="must be a standard community AA:NN, a large community large:A:B:C, or the name of a Community alias"
// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{1,5}:[0-9]{1,5}$') || self.split(':').all(p, int(p) <= 65535)",message="each half of a standard community must be at most 65535"
// +kubebuilder:validation:XValidation:rule="!self.matches('^large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') || self.split(':').slice(1, 4).all(p, int(p) <= 4294967295)",message="each part of a large community must be at most 4294967295"
type CommunityRef string

// ObjectName names another metallb.io object in the same namespace. Any word is accepted, as
// MetalLB accepts any string (its docs name pools "PoolA"): a name no object can have is waited for
// like a missing one. Whitespace is refused: such a reference is always a mistake.
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^\S+$`
type ObjectName string

// VRFName is a Linux VRF device name.
// +kubebuilder:validation:Pattern=`^\S*$`
// +kubebuilder:validation:MaxLength=15
type VRFName string
