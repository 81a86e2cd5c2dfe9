package ipam

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/conversion"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
)

// ConversionPath is where the controller serves the CRD conversion webhook (BGPPeer v1beta1 <->
// v1beta2), controller-runtime's handler with bgpPeerConverter registered for the kind.
const ConversionPath = "/convert"

// bgpPeerConverter converts BGPPeers between v1beta1 and v1beta2 with the API package's methods.
type bgpPeerConverter struct{}

func (bgpPeerConverter) ConvertObject(_ context.Context, src, dst runtime.Object) error {
	switch s := src.(type) {
	case *v1beta2.BGPPeer:
		if d, ok := dst.(*v1beta1.BGPPeer); ok {
			return s.ConvertTo(d)
		}
	case *v1beta1.BGPPeer:
		if d, ok := dst.(*v1beta2.BGPPeer); ok {
			return d.ConvertFrom(s)
		}
	}
	return fmt.Errorf("no BGPPeer conversion from %T to %T", src, dst)
}

// registerConversion serves /convert for the BGPPeer versions.
func registerConversion(mgr manager.Manager) error {
	gk := schema.GroupKind{Group: v1beta2.GroupVersion.Group, Kind: "BGPPeer"}
	if err := mgr.GetConverterRegistry().RegisterConverter(gk, bgpPeerConverter{}); err != nil {
		return err
	}
	mgr.GetWebhookServer().Register(ConversionPath, conversion.NewWebhookHandler(mgr.GetScheme(), mgr.GetConverterRegistry()))
	return nil
}

// BGPPeerCRD is the CRD whose versions the conversion webhook translates.
const BGPPeerCRD = "bgppeers.metallb.io"

// ConversionService is the Service in front of the webhook server, as the CRD must name it.
type ConversionService struct {
	Namespace string
	Name      string
	Port      int32
}

// EnsureConversionWebhook points the BGPPeer CRD at this controller's conversion webhook, with the
// CA of the serving certificate (ca.crt in certDir). The CRDs ship in the chart's crds/ folder,
// which Helm does not template, so the controller fills in what only the installation knows, as
// MetalLB's controller does; the API server converts between versions only once this is set.
func EnsureConversionWebhook(ctx context.Context, c client.Client, svc ConversionService, certDir string) error {
	ca, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return fmt.Errorf("reading the webhook CA for the %s conversion webhook: %w", BGPPeerCRD, err)
	}
	path := ConversionPath
	patch := map[string]any{"spec": map[string]any{"conversion": map[string]any{
		"strategy": "Webhook",
		"webhook": map[string]any{
			"conversionReviewVersions": []string{"v1"},
			"clientConfig": map[string]any{
				"caBundle": ca,
				"service":  map[string]any{"namespace": svc.Namespace, "name": svc.Name, "path": path, "port": svc.Port},
				"url":      nil, // exclusive with service; a merge patch removes it
			},
		},
	}}}
	raw, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	crd.SetName(BGPPeerCRD)
	if err := c.Patch(ctx, crd, client.RawPatch(types.MergePatchType, raw)); err != nil {
		return fmt.Errorf("pointing %s at the conversion webhook %s/%s: %w", BGPPeerCRD, svc.Namespace, svc.Name, err)
	}
	log.FromContext(ctx).Info("Set the BGPPeer conversion webhook", "crd", BGPPeerCRD, "service", svc.Namespace+"/"+svc.Name)
	return nil
}
