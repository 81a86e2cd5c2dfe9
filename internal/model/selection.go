package model

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/routelb/routelb/api/v1beta1"
)

// SelectsService reports whether a BGPAdvertisement announces svc: it has no serviceSelectors, or
// one of them matches the Service's labels.
func (a *BGPAdvertisement) SelectsService(svc *corev1.Service) bool {
	return MatchesAny(a.ServiceSelectors, svc.Labels)
}

// SelectsService reports whether an L2Advertisement announces svc: it has no serviceSelectors, or
// one of them matches the Service's labels.
func (a *L2Advertisement) SelectsService(svc *corev1.Service) bool {
	return MatchesAny(a.ServiceSelectors, svc.Labels)
}

// Preference is a node's score under this advertisement: the sum of the weights of the preferences
// its labels match (0 for a node the advertisement does not select). The owner of an address is
// chosen among the eligible nodes with the highest sum over the address's advertisements, as MetalLB
// does.
func (a *L2Advertisement) Preference(node map[string]string) int64 {
	if !MatchesAny(a.NodeSelectors, node) {
		return 0
	}
	var sum int64
	set := labels.Set(node)
	for _, p := range a.PreferredNodes {
		if p.Selector.Matches(set) {
			sum += p.Weight
		}
	}
	return sum
}

func preferredNodes(ps *Problems, ref Ref, in []v1beta1.PreferredNodeSelector) []PreferredNodes {
	out := make([]PreferredNodes, 0, len(in))
	for i := range in {
		field := indexed("spec.preferredNodeSelectors", i)
		if w := in[i].Weight; w < 1 || w > 100 {
			ps.add(ref, field+".weight", "must be 1 to 100 (got %d)", w)
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&in[i].Preference)
		if err != nil {
			ps.add(ref, field+".preference", "invalid label selector: %v", err)
			continue
		}
		out = append(out, PreferredNodes{Weight: int64(in[i].Weight), Selector: sel})
	}
	return out
}

// widestCIDR returns the shortest prefix among the CIDRs that make up r exactly.
func widestCIDR(r Range) netip.Prefix {
	var widest netip.Prefix
	for cur := r.First; ; {
		p := largestBlock(cur, r.Last)
		if !widest.IsValid() || p.Bits() < widest.Bits() {
			widest = p
		}
		end := lastAddr(p)
		if end == r.Last {
			return widest
		}
		cur = end.Next()
	}
}

// largestBlock is the shortest prefix starting at first that ends at or before last.
func largestBlock(first, last netip.Addr) netip.Prefix {
	for bits := 0; bits < first.BitLen(); bits++ {
		p := netip.PrefixFrom(first, bits)
		if p.Masked().Addr() == first && lastAddr(p.Masked()).Compare(last) <= 0 {
			return p.Masked()
		}
	}
	return netip.PrefixFrom(first, first.BitLen())
}
