package nodeconfig

import (
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/routelb/routelb/internal/model"
)

// L2VIP is one VIP announced in Layer 2 mode.
type L2VIP struct {
	Services  []types.NamespacedName // sorted; several when the VIP is shared
	Eligible  []string               // nodes that may own it, sorted
	Preferred []string               // eligible nodes with the highest preference score (if > 0), sorted
	// Scores are the eligible nodes' preference scores (summed weights of the matching
	// preferredNodeSelectors, 0 left out): MetalLB orders every candidate by score, then by hash, so
	// when the best nodes are gone the next tier wins before the rest.
	Scores map[string]int64
	// Key is the address whose hash elects the owner: the first VIP of the first Service holding
	// this one, so both VIPs of a dual-stack Service go to one node, as MetalLB elects per Service.
	Key netip.Addr
	// Interfaces to answer on from this node; nil means the responder's defaults (every eligible one).
	Interfaces []string
}

// L2Result is the computed Layer 2 state of the cluster as one node sees it.
type L2Result struct {
	Config   *model.Config
	VIPs     map[netip.Addr]*L2VIP
	Problems model.Problems
}

// ComputeL2 resolves, for every VIP of a LoadBalancer Service of our class that lies in a pool an
// L2Advertisement announces, which nodes may own it and on which interfaces this node answers.
// It is pure: the speaker and tests call it with listed objects.
func ComputeL2(in SpeakerInput, lastGood *model.Config) L2Result {
	cfg, ps := model.Build(in.Input, lastGood)
	res := L2Result{Config: cfg, VIPs: map[netip.Addr]*L2VIP{}, Problems: ps}
	advs := sortedL2Advs(cfg)
	nodes := UsableNodes(in.Nodes, in.IgnoreExcludeLB)
	serving := model.IndexServing(in.EndpointSlices)
	var self *corev1.Node
	for i := range in.Nodes {
		if in.Nodes[i].Name == in.NodeName {
			self = &in.Nodes[i]
		}
	}
	keys := map[types.NamespacedName]netip.Addr{}
	for i := range in.Services {
		svc := &in.Services[i]
		if !model.Announces(svc, in.LBClass) {
			continue
		}
		sv := serving.For(svc)
		var eligible []*corev1.Node
		for _, n := range nodes {
			if sv.AnnouncesFrom(svc, n.Name) {
				eligible = append(eligible, n)
			}
		}
		for _, vip := range model.IngressVIPs(svc, &res.Problems) {
			name := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
			if _, ok := keys[name]; !ok {
				keys[name] = vip
			}
			addL2VIP(res.VIPs, vip, svc, covering(cfg, advs, vip), eligible, self)
		}
	}
	for _, v := range res.VIPs {
		v.Key = keys[v.Services[0]]
	}
	return res
}

// addL2VIP records svc's vip; eligible are the nodes that may announce svc (node and endpoint
// rules applied), of which the covering advertisements' node selectors pick.
func addL2VIP(out map[netip.Addr]*L2VIP, vip netip.Addr, svc *corev1.Service, advs []*model.L2Advertisement,
	eligible []*corev1.Node, self *corev1.Node) {
	advs = slices.DeleteFunc(slices.Clone(advs), func(a *model.L2Advertisement) bool { return !a.SelectsService(svc) })
	if len(advs) == 0 {
		return
	}
	v := out[vip]
	if v == nil {
		v = &L2VIP{}
		out[vip] = v
	}
	v.Services = InsertSorted(v.Services, types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}, func(a, b types.NamespacedName) int {
		return strings.Compare(a.String(), b.String())
	})
	scores := map[string]int64{}
	for _, n := range eligible {
		for _, a := range advs {
			if !model.MatchesAny(a.NodeSelectors, n.Labels) {
				continue
			}
			v.Eligible = InsertSorted(v.Eligible, n.Name, strings.Compare)
			scores[n.Name] += a.Preference(n.Labels)
		}
	}
	v.Preferred = topScored(v.Preferred, scores)
	for n, sc := range scores {
		if sc > 0 {
			if v.Scores == nil {
				v.Scores = map[string]int64{}
			}
			v.Scores[n] += sc
		}
	}
	if self != nil {
		v.Interfaces = mergeInterfaces(v.Interfaces, advs, self)
	}
}

// topScored adds to preferred the nodes with the highest score, when it is above 0 (MetalLB orders
// every candidate by score; the ownership machine knows preferred and the others).
func topScored(preferred []string, scores map[string]int64) []string {
	var top int64
	for _, s := range scores {
		top = max(top, s)
	}
	for n, s := range scores {
		if top > 0 && s == top {
			preferred = InsertSorted(preferred, n, strings.Compare)
		}
	}
	return preferred
}

// mergeInterfaces is the union of the interface lists of the advertisements that select this
// node; one of them without a list means the default interfaces (nil) win, as in MetalLB.
func mergeInterfaces(cur []string, advs []*model.L2Advertisement, self *corev1.Node) []string {
	for _, a := range advs {
		if !model.MatchesAny(a.NodeSelectors, self.Labels) {
			continue
		}
		if len(a.Interfaces) == 0 {
			return nil
		}
		for _, i := range a.Interfaces {
			cur = InsertSorted(cur, i, strings.Compare)
		}
	}
	return cur
}

func sortedL2Advs(cfg *model.Config) []*model.L2Advertisement {
	out := make([]*model.L2Advertisement, 0, len(cfg.L2Advs))
	for _, a := range cfg.L2Advs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// covering returns the advertisements whose pools hold vip.
func covering(cfg *model.Config, advs []*model.L2Advertisement, vip netip.Addr) []*model.L2Advertisement {
	var out []*model.L2Advertisement
	for _, a := range advs {
		for _, name := range a.Pools {
			if p := cfg.Pools[name]; p != nil && p.Contains(vip) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// UsableNodes is the nodes model.NodeMayAnnounce accepts, sorted by name.
func UsableNodes(in []corev1.Node, ignoreExcludeLB bool) []*corev1.Node {
	var out []*corev1.Node
	for i := range in {
		if model.NodeMayAnnounce(&in[i], ignoreExcludeLB) {
			out = append(out, &in[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// InsertSorted inserts v into the sorted s unless it is there already.
func InsertSorted[T comparable](s []T, v T, cmp func(a, b T) int) []T {
	i, found := slices.BinarySearchFunc(s, v, cmp)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}
