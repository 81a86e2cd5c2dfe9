package model

import (
	"sort"

	"github.com/routelb/routelb/api/v1beta1"
)

func buildPools(pools []v1beta1.IPAddressPool, cfg *Config, ps *Problems) {
	// Older pools win an overlap, so a new pool can never take addresses away from an existing one.
	order := make([]*v1beta1.IPAddressPool, len(pools))
	for i := range pools {
		order[i] = &pools[i]
	}
	sort.SliceStable(order, func(i, j int) bool {
		return olderThan(order[i].CreationTimestamp, order[i].Name, order[j].CreationTimestamp, order[j].Name)
	})
	for _, p := range order {
		pool := buildPool(p, ps)
		if pool == nil || overlapsAny(pool, cfg.Pools, ps) {
			continue
		}
		cfg.Pools[pool.Name] = pool
	}
}

func buildPool(p *v1beta1.IPAddressPool, ps *Problems) *Pool {
	ref := Ref{Kind: KindPool, Name: p.Name}
	before := len(*ps)
	pool := &Pool{
		Name:          p.Name,
		Labels:        p.Labels,
		AutoAssign:    p.Spec.AutoAssign == nil || *p.Spec.AutoAssign,
		AvoidBuggyIPs: p.Spec.AvoidBuggyIPs,
	}
	if len(p.Spec.Addresses) == 0 {
		ps.add(ref, "spec.addresses", "a pool needs at least one CIDR or range")
	}
	for i, a := range p.Spec.Addresses {
		r, cidr, err := ParsePoolAddress(string(a))
		if err != nil {
			ps.add(ref, indexed("spec.addresses", i), "%v", err)
			continue
		}
		if overlapsOwn(pool.Ranges, r) {
			ps.add(ref, indexed("spec.addresses", i), "%q overlaps another entry of the same pool", a)
		}
		pool.Ranges = append(pool.Ranges, r)
		if cidr != nil {
			pool.CIDRs = append(pool.CIDRs, *cidr)
		}
	}
	if al := p.Spec.AllocateTo; al != nil {
		pool.Pinned = true
		pool.Priority, pool.HasPriority = al.Priority, al.Priority != 0
		pool.Namespaces = al.Namespaces
		pool.NamespaceSelectors = selectors(ps, ref, "spec.serviceAllocation.namespaceSelectors", al.NamespaceSelectors)
		pool.ServiceSelectors = selectors(ps, ref, "spec.serviceAllocation.serviceSelectors", al.ServiceSelectors)
	}
	if len(*ps) > before {
		return nil
	}
	return pool
}

func overlapsOwn(ranges []Range, r Range) bool {
	for _, o := range ranges {
		if o.Overlaps(r) {
			return true
		}
	}
	return false
}

func overlapsAny(pool *Pool, existing map[string]*Pool, ps *Problems) bool {
	names := make([]string, 0, len(existing))
	for n := range existing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, r := range pool.Ranges {
			for _, o := range existing[n].Ranges {
				if r.Overlaps(o) {
					ps.addCross(Ref{Kind: KindPool, Name: pool.Name}, "spec.addresses", Ref{Kind: KindPool, Name: n},
						"%s-%s overlaps addresses of IPAddressPool %s, which is older", r.First, r.Last, n)
					return true
				}
			}
		}
	}
	return false
}
