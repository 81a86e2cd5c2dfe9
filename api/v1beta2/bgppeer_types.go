package v1beta2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
)

// DynamicASNMode lets the session accept the peer's ASN instead of naming it.
// +kubebuilder:validation:Enum=internal;external
type DynamicASNMode string

const (
	// InternalASNMode accepts a peer in the local ASN (iBGP).
	InternalASNMode DynamicASNMode = "internal"
	// ExternalASNMode accepts a peer in any other ASN (eBGP).
	ExternalASNMode DynamicASNMode = "external"
)

// BGPPeerSpec is one BGP session the selected nodes open.
// +kubebuilder:validation:XValidation:rule="has(self.peerASN) != has(self.dynamicASN)",message="exactly one of peerASN and dynamicASN must be set"
// +kubebuilder:validation:XValidation:rule="has(self.peerAddress) != has(self.interface)",message="exactly one of peerAddress and interface must be set"
// +kubebuilder:validation:XValidation:rule="!has(self.holdTime) || duration(self.holdTime) == duration('0s') || duration(self.holdTime) >= duration('3s')",message="holdTime must be 0 (no keepalives) or at least 3s",fieldPath=".holdTime"
// +kubebuilder:validation:XValidation:rule="!has(self.keepaliveTime) || duration(self.keepaliveTime) <= (has(self.holdTime) ? duration(self.holdTime) : duration('90s'))",message="keepaliveTime must not be longer than holdTime (90s when unset)",fieldPath=".keepaliveTime"
// +kubebuilder:validation:XValidation:rule="!has(self.password) || !has(self.passwordSecret) || !has(self.passwordSecret.name)",message="password and passwordSecret are exclusive",fieldPath=".passwordSecret"
// +kubebuilder:validation:XValidation:rule="!has(self.sourceAddress) || !has(self.peerAddress) || !isIP(self.sourceAddress) || !isIP(self.peerAddress) || ip(self.sourceAddress).family() == ip(self.peerAddress).family()",message="sourceAddress and peerAddress must be of the same IP family",fieldPath=".sourceAddress"
type BGPPeerSpec struct {
	// MyASN is the local end's AS number. 0 is reserved (RFC 7607): FRR and BIRD refuse `router bgp 0`.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	MyASN uint32 `json:"myASN"`

	// ASN is the AS number expected from the peer; exclusive with DynamicASN. 0 is reserved (RFC 7607).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +optional
	ASN uint32 `json:"peerASN,omitempty"`

	// DynamicASN accepts the peer's AS number: internal (same as MyASN) or external (any other).
	// Exclusive with ASN.
	// +optional
	DynamicASN DynamicASNMode `json:"dynamicASN,omitempty"`

	// LocalASN is a routelb extension: the AS number presented to this peer instead of MyASN
	// (FRR's "neighbor X local-as"), for migrations between AS numbers.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +optional
	LocalASN uint32 `json:"localASN,omitempty"`

	// Address is the peer's IP address.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IPv4 or IPv6 address"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip(self).isGlobalUnicast() || ip(self).isLoopback() || ip(self).isLinkLocalUnicast()",message="must be a unicast address, not unspecified, multicast or broadcast"
	// +optional
	Address string `json:"peerAddress,omitempty"`

	// Interface peers unnumbered over this node interface (IPv6 link-local); exclusive with Address.
	// +optional
	Interface v1beta1.InterfaceName `json:"interface,omitempty"`

	// SrcAddress is the local address the session is opened from.
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="must be an IPv4 or IPv6 address"
	// +kubebuilder:validation:XValidation:rule="!isIP(self) || ip(self).isGlobalUnicast() || ip(self).isLoopback() || ip(self).isLinkLocalUnicast()",message="must be a unicast address, not unspecified, multicast or broadcast"
	// +optional
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port of the peer.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16384
	// +kubebuilder:default:=179
	// +optional
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime proposed to the peer (RFC 4271): 0, or whole seconds from 3s to 65535s (the
	// message's 16-bit field, which FRR and BIRD enforce).
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="holdTime must be a whole number of seconds"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('65535s')",message="holdTime must be at most 65535s"
	// +optional
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime proposed to the peer (RFC 4271), in whole seconds; not longer than HoldTime.
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="keepaliveTime must be a whole number of seconds"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="keepaliveTime must not be negative"
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectTime is how long BGP waits between connection attempts, in whole seconds from 1s to 65535s.
	// +kubebuilder:validation:XValidation:rule="duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535",message="connectTime must be between 1s and 65535s"
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="connectTime must be a whole number of seconds"
	// +optional
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// RouterID is the BGP router ID (an IPv4 address) announced to the peer.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="must be an IPv4 address"
	// +optional
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors limit the nodes that open this session. Empty means every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Password for TCP MD5 authentication; exclusive with PasswordSecret. At most 80 characters: the
	// TCP MD5 key length Linux accepts (TCP_MD5SIG_MAXKEYLEN), which FRR enforces too.
	// +kubebuilder:validation:XValidation:rule="self.size() <= 80",message="must be at most 80 characters (the longest TCP MD5 key Linux accepts)"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[!-~]*$')",message="must be printable ASCII without whitespace, as FRR reads it as one word"
	// +optional
	Password v1beta1.ConfigToken `json:"password,omitempty"`

	// PasswordSecret names a kubernetes.io/basic-auth Secret, in routelb's namespace, whose "password" key
	// holds the TCP MD5 password.
	// +optional
	PasswordSecret corev1.SecretReference `json:"passwordSecret,omitempty"`

	// BFDProfile names the BFDProfile of the BFD session attached to this session. Unset: no BFD.
	// +optional
	BFDProfile v1beta1.ObjectName `json:"bfdProfile,omitempty"`

	// EnableGracefulRestart lets the peer keep forwarding along known routes while this side restarts.
	// Once set, true or false, it cannot be changed, because changing it resets the session; adding
	// it to a peer that did not set it is allowed, as in MetalLB (the rule is on the field).
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="enableGracefulRestart cannot be changed after creation: it needs the session to restart"
	// +optional
	EnableGracefulRestart bool `json:"enableGracefulRestart,omitempty"`

	// EBGPMultiHop is set when the eBGP peer is more than one hop away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// VRFName opens the session from this host VRF.
	// +optional
	VRFName v1beta1.VRFName `json:"vrf,omitempty"`

	// DisableMP keeps IPv4 and IPv6 routes on separate sessions.
	// Deprecated: use DualStackAddressFamily.
	// +kubebuilder:default:=false
	// +optional
	DisableMP bool `json:"disableMP,omitempty"`

	// DualStackAddressFamily activates the session for both address families, so IPv4 prefixes can
	// travel over an IPv6 session and the other way round.
	// +kubebuilder:default:=false
	// +optional
	DualStackAddressFamily bool `json:"dualStackAddressFamily,omitempty"`

	// ToReceive is a routelb extension, in frr-k8s's shape: the routes this node accepts from the
	// peer. Unset, every route the peer sends is dropped, as in MetalLB.
	// +optional
	ToReceive *Receive `json:"toReceive,omitempty"`
}

// Receive says which routes a peer may send.
type Receive struct {
	// Allowed is the set of routes accepted from the peer.
	// +optional
	Allowed AllowedInPrefixes `json:"allowed,omitempty"`
}

// AllowMode is whether every route is accepted or only the listed ones.
// +kubebuilder:validation:Enum=all;filtered
type AllowMode string

const (
	// AllowAll accepts every route the peer sends.
	AllowAll AllowMode = "all"
	// AllowFiltered accepts only the routes matching Prefixes.
	AllowFiltered AllowMode = "filtered"
)

// AllowedInPrefixes is the routes accepted from a peer: all, or those matching one of Prefixes.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'all' || !has(self.prefixes) || size(self.prefixes) == 0",message="prefixes must be empty when mode is all",fieldPath=".prefixes"
type AllowedInPrefixes struct {
	// Mode is all (every route) or filtered (the routes matching Prefixes). Default: filtered.
	// +kubebuilder:default:=filtered
	// +optional
	Mode AllowMode `json:"mode,omitempty"`

	// Prefixes lists the routes accepted in filtered mode.
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	Prefixes []PrefixSelector `json:"prefixes,omitempty"`
}

// PrefixSelector matches the routes inside Prefix whose length is from GE to LE; without either,
// only Prefix itself. GE and LE follow FRR's prefix-list rules: longer than Prefix, GE not above LE,
// neither above the family's length.
// +kubebuilder:validation:XValidation:rule="!has(self.ge) || !isCIDR(self.prefix) || self.ge > cidr(self.prefix).prefixLength()",message="ge must be longer than the prefix's length",fieldPath=".ge"
// +kubebuilder:validation:XValidation:rule="!has(self.le) || !isCIDR(self.prefix) || self.le > cidr(self.prefix).prefixLength()",message="le must be longer than the prefix's length",fieldPath=".le"
// +kubebuilder:validation:XValidation:rule="!has(self.ge) || !isCIDR(self.prefix) || self.ge <= (cidr(self.prefix).ip().family() == 4 ? 32 : 128)",message="ge must not exceed the family's length (32 or 128)",fieldPath=".ge"
// +kubebuilder:validation:XValidation:rule="!has(self.le) || !isCIDR(self.prefix) || self.le <= (cidr(self.prefix).ip().family() == 4 ? 32 : 128)",message="le must not exceed the family's length (32 or 128)",fieldPath=".le"
// +kubebuilder:validation:XValidation:rule="!has(self.ge) || !has(self.le) || self.ge <= self.le",message="ge must not be greater than le",fieldPath=".ge"
type PrefixSelector struct {
	// Prefix is a network in CIDR form, without host bits (198.51.100.0/24, 2001:db8::/32).
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self) == cidr(self).masked()",message="must be a CIDR without host bits set (198.51.100.0/24, not 198.51.100.1/24)"
	Prefix string `json:"prefix"`

	// LE is the longest route length accepted.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	// +optional
	LE uint32 `json:"le,omitempty"`

	// GE is the shortest route length accepted.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	// +optional
	GE uint32 `json:"ge,omitempty"`
}

// BGPPeerStatus is what routelb found wrong with the peer across objects.
type BGPPeerStatus struct {
	// Conditions of the peer, such as a missing BFDProfile or Secret.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Sessions is a routelb extension: the state of this peer's session on each node that opens it, as
	// the node's routing daemon reports it. Each node's speaker owns its own entry (server-side apply).
	// +optional
	// +listType=map
	// +listMapKey=node
	Sessions []BGPSessionStatus `json:"sessions,omitempty"`
}

// BGPSessionStatus is one node's session with a peer.
type BGPSessionStatus struct {
	// Node opening the session.
	Node string `json:"node"`

	// State of the BGP session, as FRR names it: Idle, Connect, Active, OpenSent, OpenConfirm or
	// Established.
	State string `json:"state"`

	// BFDState of the BFD session attached to it (up, down, adminDown, unknown); empty without BFD.
	// +optional
	BFDState string `json:"bfdState,omitempty"`

	// PrefixesSent counts the prefixes announced to the peer over this session.
	// +optional
	PrefixesSent int64 `json:"prefixesSent,omitempty"`

	// LastError is the daemon's last error on the session, such as a notification received
	// ("Bad Peer AS").
	// +optional
	LastError string `json:"lastError,omitempty"`

	// LastTransitionTime is when the session last came up or went down, as seen by the node. A refused
	// session cycles through Idle, Connect and Active; those steps are not transitions here.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD Profile",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Multi Hops",type=string,JSONPath=`.spec.ebgpMultiHop`

// BGPPeer is a BGP session that the selected nodes open to a router.
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPPeerSpec   `json:"spec,omitempty"`
	Status BGPPeerStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BGPPeerList is a list of BGPPeer.
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}

func init() {
	register(&BGPPeer{}, &BGPPeerList{})
}
