// Package nodeconfig is the speaker's pure pipeline: from listed objects to one node's rendered
// routing-daemon config (BGP) or its Layer 2 VIPs. The speaker's reconcilers, `routelb render` and
// the renderer tests all call it, so none of them needs a reconciler to compute a node's config.
package nodeconfig

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/routelb/routelb/birdtemplates"
	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/model"
)

// SpeakerInput is everything a speaker computes its node's announcements from, in either mode.
type SpeakerInput struct {
	model.Input
	Services       []corev1.Service
	EndpointSlices []discoveryv1.EndpointSlice
	NodeName       string
	LBClass        string
	// IgnoreExcludeLB is the speaker's --ignore-exclude-lb: the exclusion label no longer withdraws
	// the node's announcements (model.NodeMayAnnounce).
	IgnoreExcludeLB bool
	// LogLevel is the speaker's log level (FRRLogLevel's names), which FRR follows; empty: info.
	LogLevel string
	// FRRExtras is FRR configuration appended verbatim to frr.conf (the "extras" key of MetalLB's
	// bgpextras ConfigMap), FRRExtrasFrom its ConfigMap ("namespace/name"). BIRD ignores them.
	FRRExtras, FRRExtrasFrom string
}

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

// FRRConfigFile is the file the speaker writes into the directory it shares with the FRR sidecar.
const FRRConfigFile = "frr.conf"

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
	logLevel, err := FRRLogLevel(in.LogLevel)
	if err != nil {
		return res, err
	}
	cfg, ps := model.Build(in.Input, lastGood)
	render := frrtemplates.Render
	if daemon == DaemonBIRD {
		// What the node runs becomes the last good config: an edit BIRD cannot express falls back to it.
		var bps model.Problems
		cfg, bps = model.ForBIRD(cfg, lastGood)
		ps, render = append(ps, bps...), birdtemplates.Render
	}
	nb, nps := model.BuildNode(cfg, model.NodeInput{Node: node, Services: in.Services, EndpointSlices: in.EndpointSlices,
		LBClass: in.LBClass, IgnoreExcludeLB: in.IgnoreExcludeLB})
	nb.LogLevel = logLevel
	if daemon == DaemonFRR {
		nb.Extras, nb.ExtrasFrom = in.FRRExtras, in.FRRExtrasFrom
	}
	out, err := render(nb)
	if err != nil {
		return res, err
	}
	return NodeBGPResult{Config: cfg, Node: nb, Problems: append(ps, nps...), FRRConfig: out}, nil
}
