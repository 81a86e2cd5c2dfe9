// Package manifest decodes YAML (or JSON) streams of the objects a speaker reads, for
// `routelb render` and the renderer tests; the speaker itself lists them from the API server.
package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/nodeconfig"
)

var decodeScheme = func() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme, v1beta2.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// DecodeObjects reads a YAML (or JSON) stream of objects into in, as `routelb render` does with its
// files. Kinds the speaker does not read are refused, so a typo in a kind is not silently ignored.
// name is used in errors.
func DecodeObjects(in *nodeconfig.SpeakerInput, r io.Reader, name string) error {
	dec := serializer.NewCodecFactory(decodeScheme, serializer.EnableStrict).UniversalDeserializer()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if err := addObject(in, obj); err != nil {
			return fmt.Errorf("%s: document %d (%s): %w", name, i, gvk.Kind, err)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func addObject(in *nodeconfig.SpeakerInput, obj k8sruntime.Object) error {
	switch o := obj.(type) {
	case *v1beta1.IPAddressPool:
		in.Pools = append(in.Pools, *o)
	case *v1beta2.BGPPeer:
		in.Peers = append(in.Peers, *o)
	case *v1beta1.BGPAdvertisement:
		in.BGPAdvs = append(in.BGPAdvs, *o)
	case *v1beta1.L2Advertisement:
		in.L2Advs = append(in.L2Advs, *o)
	case *v1beta1.BFDProfile:
		in.BFDProfiles = append(in.BFDProfiles, *o)
	case *v1beta1.Community:
		in.Communities = append(in.Communities, *o)
	case *corev1.Secret:
		in.Secrets = append(in.Secrets, *o)
	case *corev1.Node:
		in.Nodes = append(in.Nodes, *o)
	case *corev1.Service:
		in.Services = append(in.Services, *o)
	case *discoveryv1.EndpointSlice:
		in.EndpointSlices = append(in.EndpointSlices, *o)
	case *corev1.List:
		return errors.New("lists are not supported: give the items as separate YAML documents")
	default:
		return fmt.Errorf("the speaker does not read %T objects", obj)
	}
	return nil
}
