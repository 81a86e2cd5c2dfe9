package ipam

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/model"
)

// WebhookPath is where the validating webhook serves every metallb.io kind; the chart's
// ValidatingWebhookConfiguration points there.
const WebhookPath = "/validate-metallb-io"

// Validator is the validating webhook for rules across objects (overlapping pools, references between
// peers, profiles, advertisements and communities). Single-object rules are the CRDs' CEL rules. It
// builds the model twice, without and with the change, and refuses a change that introduces a problem
// naming the changed object, so it agrees exactly with what the controllers would report.
type Validator struct {
	Reader    client.Reader // uncached: admission must see the latest objects
	Namespace string
	Decoder   admission.Decoder
}

// NewValidator returns the webhook handler.
func NewValidator(reader client.Reader, scheme *runtime.Scheme, namespace string) *admission.Webhook {
	return &admission.Webhook{Handler: &Validator{Reader: reader, Namespace: namespace, Decoder: admission.NewDecoder(scheme)}}
}

// Handle validates one admission request.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Namespace != v.Namespace {
		// As MetalLB: a new object where no speaker would read it is a mistake worth stopping;
		// updates and deletes of what is already there stay possible (to clean up).
		if req.Operation == admissionv1.Create {
			return admission.Denied(fmt.Sprintf("%s %s/%s: resource must be created in %s namespace (routelb reads metallb.io objects there only)",
				req.Kind.Kind, req.Namespace, req.Name, v.Namespace))
		}
		return admission.Allowed("routelb reads only " + v.Namespace)
	}
	in, err := controllers.LoadInput(ctx, v.Reader, v.Namespace)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	_, before := model.Build(in, nil)
	after := in
	ref := model.Ref{Kind: req.Kind.Kind, Name: req.Name}
	raw := req.Object.Raw
	if req.Operation == admissionv1.Delete {
		raw = nil
	}
	if err := v.apply(&after, req.Kind.Kind, req.Kind.Version, req.Name, raw); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	_, now := model.Build(after, nil)
	introduced := newProblems(before, now)
	var refuse model.Problems
	if req.Operation == admissionv1.Delete {
		// Deleting a pool, peer, advertisement or Community is allowed (Services then lose the
		// pool's addresses; advertisements wait for the alias), as in MetalLB; a BFDProfile in use
		// by a peer is not, as in MetalLB.
		if req.Kind.Kind == model.KindBFD {
			for _, p := range introduced.For(ref) {
				refuse = append(refuse, model.Problem{Object: ref, Message: "is used by " + p.Object.String() + "; change the peer first", Other: &p.Object})
			}
		}
	} else {
		// What waits for another object is admitted, so manifests apply in any order.
		refuse = introduced.For(ref).Blocking()
	}
	if len(refuse) == 0 {
		return allowed(req)
	}
	log.FromContext(ctx).Info("Refused a change", "kind", req.Kind.Kind, "name", req.Name,
		"operation", req.Operation, "problems", refuse.Error())
	return admission.Denied(strings.ReplaceAll(refuse.Error(), "\n", "; "))
}

// allowed admits a request, with MetalLB's deprecation warning for disableMP.
func allowed(req admission.Request) admission.Response {
	if req.Kind.Kind != model.KindPeer || req.Operation == admissionv1.Delete {
		return admission.Allowed("")
	}
	var peer struct {
		Spec struct {
			DisableMP bool `json:"disableMP"`
		} `json:"spec"`
	}
	if json.Unmarshal(req.Object.Raw, &peer) == nil && peer.Spec.DisableMP {
		return admission.Allowed("").WithWarnings("BGPPeer " + req.Name + ": disableMP is deprecated, use dualStackAddressFamily instead")
	}
	return admission.Allowed("")
}

func newProblems(before, after model.Problems) model.Problems {
	seen := make(map[string]bool, len(before))
	for _, p := range before {
		seen[p.Error()] = true
	}
	var out model.Problems
	for _, p := range after {
		if !seen[p.Error()] {
			out = append(out, p)
		}
	}
	return out
}

// apply puts the decoded object into the input in place of its current version, or removes it when raw
// is nil. A new object gets a creation time now, so it is the newer side of any overlap.
func (v *Validator) apply(in *model.Input, kind, version, name string, raw []byte) error {
	switch kind {
	case model.KindPool:
		return applyTo(v, &in.Pools, name, raw)
	case model.KindPeer:
		if version == v1beta1.GroupVersion.Version && raw != nil {
			var err error
			if raw, err = v.peerFromV1beta1(raw); err != nil {
				return err
			}
		}
		return applyTo(v, &in.Peers, name, raw)
	case model.KindBGPAdv:
		return applyTo(v, &in.BGPAdvs, name, raw)
	case model.KindL2Adv:
		return applyTo(v, &in.L2Advs, name, raw)
	case model.KindBFD:
		return applyTo(v, &in.BFDProfiles, name, raw)
	case model.KindCommunity:
		return applyTo(v, &in.Communities, name, raw)
	}
	return nil
}

type metallbObject interface {
	v1beta1.IPAddressPool | v1beta2.BGPPeer | v1beta1.BGPAdvertisement | v1beta1.L2Advertisement |
		v1beta1.BFDProfile | v1beta1.Community
}

func applyTo[T metallbObject](v *Validator, list *[]T, name string, raw []byte) error {
	i := slices.IndexFunc(*list, func(o T) bool { return any(&o).(client.Object).GetName() == name })
	if raw == nil {
		if i >= 0 {
			*list = slices.Delete(*list, i, i+1)
		}
		return nil
	}
	var obj T
	o := any(&obj).(client.Object)
	if err := v.Decoder.DecodeRaw(runtime.RawExtension{Raw: raw}, o); err != nil {
		return fmt.Errorf("decoding %s: %w", name, err)
	}
	if ts := o.GetCreationTimestamp(); ts.IsZero() {
		o.SetCreationTimestamp(metav1.Now())
	}
	if i >= 0 {
		(*list)[i] = obj
	} else {
		*list = append(*list, obj)
	}
	return nil
}

// peerFromV1beta1 turns a v1beta1 BGPPeer into the v1beta2 JSON the model reads, as the conversion
// webhook does for storage.
func (v *Validator) peerFromV1beta1(raw []byte) ([]byte, error) {
	var old v1beta1.BGPPeer
	if err := v.Decoder.DecodeRaw(runtime.RawExtension{Raw: raw}, &old); err != nil {
		return nil, fmt.Errorf("decoding a v1beta1 BGPPeer: %w", err)
	}
	var peer v1beta2.BGPPeer
	if err := peer.ConvertFrom(&old); err != nil {
		return nil, err
	}
	peer.APIVersion, peer.Kind = v1beta2.GroupVersion.String(), model.KindPeer
	return json.Marshal(&peer)
}
