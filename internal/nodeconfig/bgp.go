// Package nodeconfig is the speaker's pure pipeline: from listed objects to one node's rendered
// routing-daemon config (BGP) or its Layer 2 VIPs. The speaker's reconcilers, `routelb render` and
// the renderer tests all call it, so none of them needs a reconciler to compute a node's config.
package nodeconfig

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

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
// version, so Rendered is always safe to apply). Rendered is the file of the chosen daemon
// (Daemon.File): frr.conf, or bird.conf with BIRD.
type NodeBGPResult struct {
	Config   *model.Config
	Node     *model.NodeBGP
	Problems model.Problems
	Rendered []byte
}

// ErrNodeNotFound means the input has no Node of the given name.
var ErrNodeNotFound = errors.New("node not found")

// ComputeNodeBGP is the one path from objects to frr.conf, shared by the speaker and `routelb render`.
func ComputeNodeBGP(in SpeakerInput, lastGood *model.Config) (NodeBGPResult, error) {
	return ComputeNodeConfig(in, lastGood, DaemonFRR)
}

// ComputeNodeConfig is ComputeNodeBGP for a routing daemon named by its --routing-daemon value.
func ComputeNodeConfig(in SpeakerInput, lastGood *model.Config, kind string) (NodeBGPResult, error) {
	d, err := DaemonFor(kind)
	if err != nil {
		return NodeBGPResult{}, err
	}
	return ComputeFor(in, lastGood, d)
}

// ComputeFor is ComputeNodeBGP for a routing daemon: the model is the same, only the renderer
// differs, and the daemon's Restrict leaves out what it cannot express (with BIRD, model.ForBIRD),
// the object keeping its last good version or left out, with a problem on it.
func ComputeFor(in SpeakerInput, lastGood *model.Config, d Daemon) (NodeBGPResult, error) {
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
	if d.Restrict != nil {
		// What the node runs becomes the last good config: an edit the daemon cannot express falls back to it.
		var rps model.Problems
		cfg, rps = d.Restrict(cfg, lastGood)
		ps = append(ps, rps...)
	}
	nb, nps := model.BuildNode(cfg, model.NodeInput{Node: node, Services: in.Services, EndpointSlices: in.EndpointSlices,
		LBClass: in.LBClass, IgnoreExcludeLB: in.IgnoreExcludeLB})
	nb.LogLevel = logLevel
	if d.Kind == DaemonFRR {
		nb.Extras, nb.ExtrasFrom = in.FRRExtras, in.FRRExtrasFrom
	}
	out, err := d.Render(nb)
	if err != nil {
		return res, err
	}
	return NodeBGPResult{Config: cfg, Node: nb, Problems: append(ps, nps...), Rendered: out}, nil
}
