package model

import (
	"maps"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/routelb/routelb/api/v1beta1"
)

// alias is a community alias and the Community object defining it.
type alias struct {
	value  Community
	object string
}

func buildAliases(in []v1beta1.Community, ps *Problems) map[string]alias {
	objs := append([]v1beta1.Community(nil), in...)
	sort.SliceStable(objs, func(i, j int) bool {
		return olderThan(objs[i].CreationTimestamp, objs[i].Name, objs[j].CreationTimestamp, objs[j].Name)
	})
	out := map[string]alias{}
	for _, c := range objs {
		ref := Ref{Kind: KindCommunity, Name: c.Name}
		for i, a := range c.Spec.Communities {
			field := indexed("spec.communities", i)
			v, err := ParseCommunity(string(a.Value))
			switch {
			case err != nil:
				ps.add(ref, field+".value", "%v", err)
			case a.Name == "" || validate.Var(a.Name, "token") != nil:
				ps.add(ref, field+".name", "an alias needs a name without whitespace")
			case out[a.Name].object != "":
				ps.addCross(ref, field+".name", Ref{Kind: KindCommunity, Name: out[a.Name].object}, "alias %q is already defined", a.Name)
			default:
				out[a.Name] = alias{value: v, object: c.Name}
			}
		}
	}
	return out
}

func buildBGPAdv(a *v1beta1.BGPAdvertisement, pools []v1beta1.IPAddressPool, cfg *Config, aliases map[string]alias, ps *Problems) *BGPAdvertisement {
	ref := Ref{Kind: KindBGPAdv, Name: a.Name}
	before := len(*ps)
	s := a.Spec
	adv := &BGPAdvertisement{
		Name:                a.Name,
		AggregationLength:   int(deref(s.AggregationLength, 32)),
		AggregationLengthV6: int(deref(s.AggregationLengthV6, 128)),
		LocalPref:           s.LocalPref,
		Pools:               selectPools(ref, s.IPAddressPools, s.IPAddressPoolSelectors, pools, cfg, ps),
		NodeSelectors:       selectors(ps, ref, "spec.nodeSelectors", s.NodeSelectors),
		ServiceSelectors:    selectors(ps, ref, "spec.serviceSelectors", s.ServiceSelectors),
	}
	runChecks(ps, ref, []check{
		{"spec.aggregationLength", adv.AggregationLength, "min=1,max=32", "must be 1 to 32"},
		{"spec.aggregationLengthV6", adv.AggregationLengthV6, "min=1,max=128", "must be 1 to 128"},
	})
	if len(s.ServiceSelectors) > 0 && (adv.AggregationLength != 32 || adv.AggregationLengthV6 != 128) {
		ps.add(ref, "spec.serviceSelectors", "serviceSelectors and aggregationLength are mutually exclusive: with serviceSelectors, aggregationLength must be 32 and aggregationLengthV6 128")
	}
	checkDuplicates(ps, ref, "spec.ipAddressPools", s.IPAddressPools)
	checkDuplicates(ps, ref, "spec.communities", s.Communities)
	checkDuplicates(ps, ref, "spec.peers", s.Peers)
	checkSelectorDuplicates(ps, ref, map[string][]metav1.LabelSelector{"spec.ipAddressPoolSelectors": s.IPAddressPoolSelectors,
		"spec.nodeSelectors": s.NodeSelectors, "spec.serviceSelectors": s.ServiceSelectors})
	var waitsForAlias bool
	adv.Communities, waitsForAlias = resolveCommunities(ref, s.Communities, aliases, ps)
	for i, p := range s.Peers {
		if cfg.Peers[string(p)] == nil {
			// The advertisement applies to the peers that are there, and to this one once it is.
			ps.addWaiting(ref, indexed("spec.peers", i), Ref{Kind: KindPeer, Name: string(p)},
				"BGPPeer %q does not exist or is invalid; the advertisement applies to it once it is valid", p)
		}
		adv.Peers = append(adv.Peers, string(p))
	}
	checkAggregation(ref, adv, cfg, ps)
	// Without one of its communities the advertisement would announce routes the routers do not
	// expect: it waits for the alias, as a whole.
	if ps.blockingSince(before) || waitsForAlias {
		return nil
	}
	return adv
}

// resolveCommunities reads community values and aliases; it reports whether some alias is not
// defined (yet).
func resolveCommunities(ref Ref, in []v1beta1.CommunityRef, aliases map[string]alias, ps *Problems) ([]Community, bool) {
	var out []Community
	waits := false
	seen := map[Community]bool{}
	for i, c := range in {
		v, err := ParseCommunity(string(c))
		if err != nil {
			al, ok := aliases[string(c)]
			switch {
			case !ok && strings.Contains(string(c), ":"):
				ps.add(ref, indexed("spec.communities", i), "%v", err)
				continue
			case !ok:
				ps.addWaiting(ref, indexed("spec.communities", i), Ref{Kind: KindAlias, Name: string(c)},
					"%q is not a community value and no Community defines it as an alias; the advertisement waits for it", c)
				waits = true
				continue
			}
			v = al.value
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, waits
}

// checkDuplicates refuses a name listed twice, as MetalLB does.
func checkDuplicates[T ~string](ps *Problems, ref Ref, field string, in []T) {
	seen := make(map[T]bool, len(in))
	for i, v := range in {
		if seen[v] {
			ps.add(ref, indexed(field, i), "%q is listed twice", v)
		}
		seen[v] = true
	}
}

// checkSelectorDuplicates refuses a selector given twice in one list, as MetalLB does.
func checkSelectorDuplicates(ps *Problems, ref Ref, lists map[string][]metav1.LabelSelector) {
	for _, field := range slices.Sorted(maps.Keys(lists)) {
		seen := map[string]bool{}
		for i := range lists[field] {
			key := metav1.FormatLabelSelector(&lists[field][i])
			if seen[key] {
				ps.add(ref, indexed(field, i), "selector %s is listed twice", key)
			}
			seen[key] = true
		}
	}
}

// checkAggregation refuses an aggregation prefix shorter than every CIDR of a pool entry: announcing
// it would claim addresses outside the pool. A range is the CIDRs that make it up, and its widest one
// counts, as in MetalLB (a range has shorter and longer pieces; none may be shorter than the prefix).
func checkAggregation(ref Ref, adv *BGPAdvertisement, cfg *Config, ps *Problems) {
	for _, name := range adv.Pools {
		for _, r := range cfg.Pools[name].Ranges {
			agg := adv.AggregationLength
			field := "spec.aggregationLength"
			if r.First.Is6() {
				agg, field = adv.AggregationLengthV6, "spec.aggregationLengthV6"
			}
			if widest := widestCIDR(r); agg < widest.Bits() {
				ps.addCross(ref, field, Ref{Kind: KindPool, Name: name}, "%d is shorter than the pool's CIDR %s", agg, widest)
			}
		}
	}
}

func buildL2Adv(a *v1beta1.L2Advertisement, pools []v1beta1.IPAddressPool, cfg *Config, ps *Problems) *L2Advertisement {
	ref := Ref{Kind: KindL2Adv, Name: a.Name}
	before := len(*ps)
	s := a.Spec
	adv := &L2Advertisement{
		Name:             a.Name,
		Pools:            selectPools(ref, s.IPAddressPools, s.IPAddressPoolSelectors, pools, cfg, ps),
		NodeSelectors:    selectors(ps, ref, "spec.nodeSelectors", s.NodeSelectors),
		ServiceSelectors: selectors(ps, ref, "spec.serviceSelectors", s.ServiceSelectors),
		PreferredNodes:   preferredNodes(ps, ref, s.PreferredNodeSelectors),
	}
	checkDuplicates(ps, ref, "spec.ipAddressPools", s.IPAddressPools)
	checkSelectorDuplicates(ps, ref, map[string][]metav1.LabelSelector{"spec.ipAddressPoolSelectors": s.IPAddressPoolSelectors,
		"spec.nodeSelectors": s.NodeSelectors, "spec.serviceSelectors": s.ServiceSelectors})
	for i, ifname := range s.Interfaces {
		runChecks(ps, ref, []check{{indexed("spec.interfaces", i), string(ifname), "required,token,max=15", "must be an interface name without whitespace"}})
		adv.Interfaces = append(adv.Interfaces, string(ifname))
	}
	if ps.blockingSince(before) {
		return nil
	}
	return adv
}

// selectPools resolves an advertisement's pools: named ones and selected ones, or every pool when it
// names and selects none. A named pool that is missing is waited for (the others are announced); pools left out of the config for
// problems of their own are skipped silently here, as they are reported on the pool.
func selectPools(ref Ref, names []v1beta1.ObjectName, sels []metav1.LabelSelector, pools []v1beta1.IPAddressPool, cfg *Config, ps *Problems) []string {
	set := map[string]bool{}
	exists := map[string]bool{}
	for _, p := range pools {
		exists[p.Name] = true
	}
	for i, n := range names {
		if !exists[string(n)] {
			ps.addWaiting(ref, indexed("spec.ipAddressPools", i), Ref{Kind: KindPool, Name: string(n)},
				"IPAddressPool %q does not exist; the advertisement applies to it once it is created", n)
		}
		set[string(n)] = true
	}
	parsed := selectors(ps, ref, "spec.ipAddressPoolSelectors", sels)
	for _, p := range pools {
		if len(parsed) > 0 && anyMatches(parsed, p.Labels) || len(names) == 0 && len(sels) == 0 {
			set[p.Name] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		if cfg.Pools[n] != nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func anyMatches(sels []labels.Selector, l map[string]string) bool {
	for _, s := range sels {
		if s.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}
