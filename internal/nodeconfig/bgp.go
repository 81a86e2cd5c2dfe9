package controllers

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
	"github.com/routelb/routelb/birdtemplates"
	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/model"
)

// NodeBGPResult is a computed node configuration. Config is the model to keep as the last good one;
// Problems are every problem found (objects with problems are left out or kept at their last good
// version, so FRRConfig is always safe to apply). FRRConfig is the rendered file of the chosen daemon:
// frr.conf, or bird.conf with DaemonBIRD.
type NodeBGPResult struct {
	Config    *model.Config
	Node      *model.NodeBGP
	Problems  model.Problems
	FRRConfig []byte
}

// ErrNodeNotFound means the input has no Node of the given name.
var ErrNodeNotFound = errors.New("node not found")

// ComputeNodeBGP is the one path from objects to frr.conf, shared by the speaker and `routelb render`.
func ComputeNodeBGP(in SpeakerInput, lastGood *model.Config) (NodeBGPResult, error) {
	return ComputeNodeConfig(in, lastGood, DaemonFRR)
}

// Routing daemons the speaker can render for (--routing-daemon).
const (
	DaemonFRR  = "frr"
	DaemonBIRD = "bird"
)

// BIRDConfigFile is the file the speaker writes for a BIRD sidecar.
const BIRDConfigFile = "bird.conf"

// ConfigFileName is the file the speaker writes for a routing daemon.
func ConfigFileName(daemon string) string {
	if daemon == DaemonBIRD {
		return BIRDConfigFile
	}
	return FRRConfigFile
}

// CheckDaemon validates a --routing-daemon value.
func CheckDaemon(daemon string) error {
	if daemon != DaemonFRR && daemon != DaemonBIRD {
		return fmt.Errorf("unknown routing daemon %q: want %s or %s", daemon, DaemonFRR, DaemonBIRD)
	}
	return nil
}

// ComputeNodeConfig is ComputeNodeBGP for a chosen routing daemon: the model is the same, only the
// renderer differs, and with BIRD an object using what BIRD cannot express keeps its last good
// version or is left out, with a problem on it (model.ForBIRD).
func ComputeNodeConfig(in SpeakerInput, lastGood *model.Config, daemon string) (NodeBGPResult, error) {
	var res NodeBGPResult
	var node *corev1.Node
	for i := range in.Nodes {
		if in.Nodes[i].Name == in.NodeName {
			node = &in.Nodes[i]
		}
	}
	if node == nil {
		return res, fmt.Errorf("%w: %q", ErrNodeNotFound, in.NodeName)
	}
	cfg, ps := model.Build(in.Input, lastGood)
	render := frrtemplates.Render
	if daemon == DaemonBIRD {
		// What the node runs becomes the last good config: an edit BIRD cannot express falls back to it.
		var bps model.Problems
		cfg, bps = model.ForBIRD(cfg, lastGood)
		ps, render = append(ps, bps...), birdtemplates.Render
	}
	nb, nps := model.BuildNode(cfg, model.NodeInput{Node: node, Services: in.Services, EndpointSlices: in.EndpointSlices, LBClass: in.LBClass})
	out, err := render(nb)
	if err != nil {
		return res, err
	}
	return NodeBGPResult{Config: cfg, Node: nb, Problems: append(ps, nps...), FRRConfig: out}, nil
}

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
func DecodeObjects(in *SpeakerInput, r io.Reader, name string) error {
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

func addObject(in *SpeakerInput, obj k8sruntime.Object) error {
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
