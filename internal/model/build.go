package model

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
)

// Input is every object the configuration is built from, all from routelb's namespace except Nodes.
type Input struct {
	Pools       []v1beta1.IPAddressPool
	Peers       []v1beta2.BGPPeer
	BGPAdvs     []v1beta1.BGPAdvertisement
	L2Advs      []v1beta1.L2Advertisement
	BFDProfiles []v1beta1.BFDProfile
	Communities []v1beta1.Community
	Secrets     []corev1.Secret
	Nodes       []corev1.Node
}

// Kinds, as they appear in problems.
const (
	KindPool      = "IPAddressPool"
	KindPeer      = "BGPPeer"
	KindBGPAdv    = "BGPAdvertisement"
	KindL2Adv     = "L2Advertisement"
	KindBFD       = "BFDProfile"
	KindCommunity = "Community"
	// KindAlias names a community alias, which any Community object may define: the other side of
	// a reference to an alias not defined yet.
	KindAlias  = "CommunityAlias"
	KindSecret = "Secret"
	KindNode   = "Node"
)

// Build validates the objects and returns the configuration with every problem found. An object with a
// problem of its own is left out of the configuration, unless lastGood (the previous result, may be
// nil) holds a version of it: then that version stays, so one bad edit withdraws nothing that was
// already announced.
func Build(in Input, lastGood *Config) (*Config, Problems) {
	var ps Problems
	cfg := &Config{
		Pools:       map[string]*Pool{},
		Peers:       map[string]*Peer{},
		BFDProfiles: map[string]*BFDProfile{},
		BGPAdvs:     map[string]*BGPAdvertisement{},
		L2Advs:      map[string]*L2Advertisement{},
	}
	for i := range in.BFDProfiles {
		if p := buildBFDProfile(&in.BFDProfiles[i], &ps); p != nil {
			cfg.BFDProfiles[p.Name] = p
		}
	}
	buildPools(in.Pools, cfg, &ps)
	aliases := buildAliases(in.Communities, &ps)
	secrets := indexSecrets(in.Secrets)
	var pending []*Peer
	for i := range in.Peers {
		switch p, usable := buildPeer(&in.Peers[i], cfg, secrets, &ps); {
		case usable:
			cfg.Peers[p.Name] = p
		case p != nil:
			pending = append(pending, p)
		}
	}
	checkPeersPerNode(in, cfg, pending, &ps)
	for i := range in.BGPAdvs {
		if a := buildBGPAdv(&in.BGPAdvs[i], in.Pools, cfg, aliases, &ps); a != nil {
			cfg.BGPAdvs[a.Name] = a
		}
	}
	checkLocalPrefs(in, cfg, &ps)
	for i := range in.L2Advs {
		if a := buildL2Adv(&in.L2Advs[i], in.Pools, cfg, &ps); a != nil {
			cfg.L2Advs[a.Name] = a
		}
	}
	keepLastGood(cfg, lastGood, ps)
	return cfg, ps.sorted()
}

// keepLastGood puts back the previous version of every object that now has a problem of its own.
func keepLastGood(cfg, last *Config, ps Problems) {
	if last == nil {
		return
	}
	restore(cfg.Pools, last.Pools, KindPool, ps)
	restore(cfg.Peers, last.Peers, KindPeer, ps)
	restore(cfg.BFDProfiles, last.BFDProfiles, KindBFD, ps)
	restore(cfg.BGPAdvs, last.BGPAdvs, KindBGPAdv, ps)
	restore(cfg.L2Advs, last.L2Advs, KindL2Adv, ps)
	// A peer kept from the last good config may name a profile whose new version is bad.
	for _, p := range cfg.Peers {
		if _, ok := cfg.BFDProfiles[p.BFDProfile]; p.BFDProfile != "" && !ok {
			if old, ok := last.BFDProfiles[p.BFDProfile]; ok {
				cfg.BFDProfiles[p.BFDProfile] = old
			}
		}
	}
}

// restore puts back what was left out for a problem; an object kept despite problems (an
// advertisement waiting for one of its pools) stays as it is now.
func restore[T any](cur, last map[string]*T, kind string, ps Problems) {
	for name, old := range last {
		if _, ok := cur[name]; !ok && ps.Has(Ref{Kind: kind, Name: name}) {
			cur[name] = old
		}
	}
}

func selectors(ps *Problems, obj Ref, field string, in []metav1.LabelSelector) []labels.Selector {
	out := make([]labels.Selector, 0, len(in))
	for i := range in {
		s, err := metav1.LabelSelectorAsSelector(&in[i])
		if err != nil {
			ps.add(obj, indexed(field, i), "invalid label selector: %v", err)
			continue
		}
		out = append(out, s)
	}
	return out
}

func indexed(field string, i int) string {
	return field + "[" + strconv.Itoa(i) + "]"
}
