package v1beta2

import (
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
)

// AnnotationV1beta2Spec carries, on a BGPPeer read as v1beta1, the v1beta2 fields v1beta1 cannot
// express, so that a v1beta1 client's read-modify-write keeps them (MetalLB's conversion drops them).
const AnnotationV1beta2Spec = "routelb.io/v1beta2-spec"

// extraSpec is the part of a v1beta2 spec without a v1beta1 field.
type extraSpec struct {
	DynamicASN             DynamicASNMode         `json:"dynamicASN,omitempty"`
	LocalASN               uint32                 `json:"localASN,omitempty"`
	Interface              v1beta1.InterfaceName  `json:"interface,omitempty"`
	ConnectTime            *metav1.Duration       `json:"connectTime,omitempty"`
	PasswordSecret         corev1.SecretReference `json:"passwordSecret,omitzero"`
	EnableGracefulRestart  bool                   `json:"enableGracefulRestart,omitempty"`
	VRFName                v1beta1.VRFName        `json:"vrf,omitempty"`
	DisableMP              bool                   `json:"disableMP,omitempty"`
	DualStackAddressFamily bool                   `json:"dualStackAddressFamily,omitempty"`
	ToReceive              *Receive               `json:"toReceive,omitempty"`
	// HoldTime and KeepaliveTime are kept when unset or zero, which v1beta1 cannot tell apart.
	HoldTime      *metav1.Duration `json:"holdTime,omitempty"`
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`
}

// The controller's conversion webhook calls these two (controllers/ipam); they are plain methods,
// not controller-runtime's Hub and Convertible, so the API types link no controller framework
// (`routelb render` and the reloader use them).

// ConvertTo writes this v1beta2 peer as v1beta1.
func (src *BGPPeer) ConvertTo(dst *v1beta1.BGPPeer) error {
	s := src.Spec
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	dst.Spec = v1beta1.BGPPeerSpec{
		MyASN: s.MyASN, ASN: s.ASN, Address: s.Address, SrcAddress: s.SrcAddress, Port: s.Port,
		RouterID: s.RouterID, Password: string(s.Password), BFDProfile: string(s.BFDProfile),
		EBGPMultiHop: s.EBGPMultiHop, NodeSelectors: toV1beta1Selectors(s.NodeSelectors),
	}
	if s.HoldTime != nil {
		dst.Spec.HoldTime = *s.HoldTime
	}
	if s.KeepaliveTime != nil {
		dst.Spec.KeepaliveTime = *s.KeepaliveTime
	}
	extra := extraSpec{
		DynamicASN: s.DynamicASN, LocalASN: s.LocalASN, Interface: s.Interface, ConnectTime: s.ConnectTime,
		PasswordSecret: s.PasswordSecret, EnableGracefulRestart: s.EnableGracefulRestart, VRFName: s.VRFName,
		DisableMP: s.DisableMP, DualStackAddressFamily: s.DualStackAddressFamily, ToReceive: s.ToReceive,
		HoldTime: s.HoldTime, KeepaliveTime: s.KeepaliveTime,
	}
	delete(dst.Annotations, AnnotationV1beta2Spec)
	onlyTimers := extra
	onlyTimers.HoldTime, onlyTimers.KeepaliveTime = nil, nil
	if onlyTimers != (extraSpec{}) || isZero(s.HoldTime) || isZero(s.KeepaliveTime) {
		raw, err := json.Marshal(extra)
		if err != nil {
			return fmt.Errorf("converting BGPPeer %s to v1beta1: %w", src.Name, err)
		}
		if dst.Annotations == nil {
			dst.Annotations = map[string]string{}
		}
		dst.Annotations[AnnotationV1beta2Spec] = string(raw)
	}
	if len(dst.Annotations) == 0 {
		dst.Annotations = nil
	}
	return nil
}

// ConvertFrom reads a v1beta1 peer into this v1beta2 one. Fields only v1beta2 has come from the
// annotation ConvertTo left, when a v1beta1 client kept it.
func (dst *BGPPeer) ConvertFrom(src *v1beta1.BGPPeer) error {
	var extra extraSpec
	if raw, ok := src.Annotations[AnnotationV1beta2Spec]; ok {
		if err := json.Unmarshal([]byte(raw), &extra); err != nil {
			return fmt.Errorf("BGPPeer %s: annotation %s: %w", src.Name, AnnotationV1beta2Spec, err)
		}
	}
	s := src.Spec
	dst.ObjectMeta = *src.ObjectMeta.DeepCopy()
	dst.Annotations = maps.Clone(src.Annotations)
	delete(dst.Annotations, AnnotationV1beta2Spec)
	if len(dst.Annotations) == 0 {
		dst.Annotations = nil
	}
	dst.Spec = BGPPeerSpec{
		MyASN: s.MyASN, ASN: s.ASN, Address: s.Address, SrcAddress: s.SrcAddress, Port: s.Port,
		RouterID: s.RouterID, Password: v1beta1.ConfigToken(s.Password), BFDProfile: v1beta1.ObjectName(s.BFDProfile),
		EBGPMultiHop: s.EBGPMultiHop, NodeSelectors: fromV1beta1Selectors(s.NodeSelectors),
		DynamicASN: extra.DynamicASN, LocalASN: extra.LocalASN, Interface: extra.Interface, ConnectTime: extra.ConnectTime,
		PasswordSecret: extra.PasswordSecret, EnableGracefulRestart: extra.EnableGracefulRestart, VRFName: extra.VRFName,
		DisableMP: extra.DisableMP, DualStackAddressFamily: extra.DualStackAddressFamily, ToReceive: extra.ToReceive,
		HoldTime: timer(s.HoldTime, extra.HoldTime), KeepaliveTime: timer(s.KeepaliveTime, extra.KeepaliveTime),
	}
	if dst.Spec.DynamicASN != "" {
		// v1beta1 requires a peerASN; a dynamic peer read as v1beta1 shows 0 there.
		dst.Spec.ASN = 0
	}
	return nil
}

func isZero(d *metav1.Duration) bool { return d != nil && d.Duration == 0 }

// timer maps v1beta1's always-present duration to v1beta2's optional one: zero is unset (v1beta1
// cannot tell them apart; MetalLB turns it into 0s, which disables keepalives), unless the annotation
// says it was set to zero.
func timer(v1 metav1.Duration, kept *metav1.Duration) *metav1.Duration {
	if v1.Duration != 0 || kept != nil && kept.Duration == 0 {
		return &metav1.Duration{Duration: v1.Duration}
	}
	return nil
}

func toV1beta1Selectors(in []metav1.LabelSelector) []v1beta1.NodeSelector {
	if in == nil {
		return nil
	}
	out := make([]v1beta1.NodeSelector, 0, len(in))
	for _, sel := range in {
		ns := v1beta1.NodeSelector{MatchLabels: maps.Clone(sel.MatchLabels)}
		for _, e := range sel.MatchExpressions {
			ns.MatchExpressions = append(ns.MatchExpressions, v1beta1.NodeSelectorRequirement{
				Key: e.Key, Operator: string(e.Operator), Values: append([]string(nil), e.Values...)})
		}
		out = append(out, ns)
	}
	return out
}

func fromV1beta1Selectors(in []v1beta1.NodeSelector) []metav1.LabelSelector {
	if in == nil {
		return nil
	}
	out := make([]metav1.LabelSelector, 0, len(in))
	for _, ns := range in {
		sel := metav1.LabelSelector{MatchLabels: maps.Clone(ns.MatchLabels)}
		for _, e := range ns.MatchExpressions {
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: e.Key, Operator: metav1.LabelSelectorOperator(e.Operator), Values: append([]string(nil), e.Values...)})
		}
		out = append(out, sel)
	}
	return out
}
