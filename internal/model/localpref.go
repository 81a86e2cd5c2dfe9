package model

import (
	"sort"

	"github.com/routelb/routelb/api/v1beta1"
)

// checkLocalPrefs refuses two advertisements that would announce one prefix with different
// LOCAL_PREFs to one peer from one node, as MetalLB does: they share a pool, have the same
// aggregation for the pool's families, share a peer (no list means every peer) and select a common
// node. Advertisements limited to some Services are not compared: which Services they hold is not
// known here. The newer advertisement is left out.
func checkLocalPrefs(in Input, cfg *Config, ps *Problems) {
	advs := make([]*v1beta1.BGPAdvertisement, 0, len(in.BGPAdvs))
	for i := range in.BGPAdvs {
		if a := cfg.BGPAdvs[in.BGPAdvs[i].Name]; a != nil && len(a.ServiceSelectors) == 0 {
			advs = append(advs, &in.BGPAdvs[i])
		}
	}
	sort.SliceStable(advs, func(i, j int) bool {
		return olderThan(advs[i].CreationTimestamp, advs[i].Name, advs[j].CreationTimestamp, advs[j].Name)
	})
	var kept []*BGPAdvertisement
	for _, api := range advs {
		a := cfg.BGPAdvs[api.Name]
		if old := localPrefConflict(a, kept, cfg, in); old != nil {
			ps.addCross(Ref{Kind: KindBGPAdv, Name: a.Name}, "spec.localPref", Ref{Kind: KindBGPAdv, Name: old.Name},
				"localPref %d differs from the %d of BGPAdvertisement %s, which announces the same prefixes to the same peers from the same nodes",
				a.LocalPref, old.LocalPref, old.Name)
			delete(cfg.BGPAdvs, a.Name)
			continue
		}
		kept = append(kept, a)
	}
}

func localPrefConflict(a *BGPAdvertisement, kept []*BGPAdvertisement, cfg *Config, in Input) *BGPAdvertisement {
	for _, old := range kept {
		if old.LocalPref == a.LocalPref || !sharePeer(a, old) || !shareNode(a, old, in) {
			continue
		}
		for _, name := range a.Pools {
			if contains(old.Pools, name) && sameAggregation(a, old, cfg.Pools[name]) {
				return old
			}
		}
	}
	return nil
}

func sharePeer(a, b *BGPAdvertisement) bool {
	if len(a.Peers) == 0 || len(b.Peers) == 0 {
		return true
	}
	for _, p := range a.Peers {
		if contains(b.Peers, p) {
			return true
		}
	}
	return false
}

func shareNode(a, b *BGPAdvertisement, in Input) bool {
	for i := range in.Nodes {
		if l := in.Nodes[i].Labels; MatchesAny(a.NodeSelectors, l) && MatchesAny(b.NodeSelectors, l) {
			return true
		}
	}
	return false
}

// sameAggregation reports whether a and b announce the pool's addresses as the same prefixes: their
// aggregation lengths agree for every family the pool has.
func sameAggregation(a, b *BGPAdvertisement, pool *Pool) bool {
	var v4, v6 bool
	for _, r := range pool.Ranges {
		v4, v6 = v4 || r.First.Is4(), v6 || r.First.Is6()
	}
	return (!v4 || a.AggregationLength == b.AggregationLength) && (!v6 || a.AggregationLengthV6 == b.AggregationLengthV6)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
