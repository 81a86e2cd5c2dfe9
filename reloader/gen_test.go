package reloader

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
)

// spec is a random node config in the shape routelb renders for MetalLB's
// FRR mode. The router peer (198.51.100.1) is always present, without
// password or BFD, so the session with the lab router stays up; the other
// peers do not exist and only exercise the config.
type spec struct {
	peers    []peer
	profiles map[string][]string // BFD profile -> settings
	plists   map[string][]string // prefix-list -> prefixes
	rmaps    []rmap
	networks []string
	netMaps  map[string]string   // network -> origination route-map, as the renderer tags VIPs
	lclists  map[string][]string // large-community list -> values
	v6nets   []string
}

type peer struct {
	addr, as, timers, profile, password, rmOut string
	multihop                                   bool
}

type rmap struct {
	name, action, plist, community, localPref string
	lcl, markers                              string // match large-community, set large-community
	deleteLcl                                 bool   // set large-comm-list lcl delete
	seq                                       int
}

func randomSpec(rng *rand.Rand) spec {
	s := spec{profiles: map[string][]string{}, plists: map[string][]string{}}
	bfdSettings := [][]string{{"receive-interval 300"}, {"receive-interval 500", "transmit-interval 400"},
		{"detect-multiplier 5"}, {"echo-mode", "echo-interval 100"}, {"passive-mode"}, {"minimum-ttl 250"}, {}}
	for i := 0; i < rng.Intn(3); i++ {
		s.profiles[fmt.Sprintf("bfd%d", rng.Intn(4))] = bfdSettings[rng.Intn(len(bfdSettings))]
	}
	seen := map[string]bool{} // FRR drops a prefix listed twice in one list, as the renderer never does
	for i := 0; i < rng.Intn(3); i++ {
		name := fmt.Sprintf("pl%d", rng.Intn(3))
		for j := 0; j <= rng.Intn(3); j++ {
			if p := fmt.Sprintf("203.0.113.%d/32", rng.Intn(50)); !seen[name+" "+p] {
				seen[name+" "+p] = true
				s.plists[name] = append(s.plists[name], p)
			}
		}
	}
	s.lclists = map[string][]string{}
	for i := 0; i < rng.Intn(3); i++ {
		s.lclists[fmt.Sprintf("lc%d", i)] = []string{fmt.Sprintf("4294967295:%d:%d", rng.Intn(3), rng.Intn(3))}
	}
	s.rmaps = randomRouteMaps(rng, sortedMapKeys(s.plists), sortedMapKeys(s.lclists))
	s.peers = []peer{randomPeer(rng, "198.51.100.1", "64512", s, false)}
	for _, i := range rng.Perm(8)[:rng.Intn(4)] {
		s.peers = append(s.peers, randomPeer(rng, fmt.Sprintf("198.51.100.%d", 100+i), "", s, true))
	}
	s.networks = randomNetworks(rng)
	s.netMaps = map[string]string{}
	for _, n := range s.networks {
		if len(s.rmaps) > 0 && rng.Intn(2) == 0 {
			s.netMaps[n] = s.rmaps[rng.Intn(len(s.rmaps))].name
		}
	}
	for i := 0; i < rng.Intn(3); i++ {
		s.v6nets = append(s.v6nets, fmt.Sprintf("2001:db8:ff::%x/128", rng.Intn(20)))
	}
	return s
}

func randomRouteMaps(rng *rand.Rand, plists, lclists []string) []rmap {
	var rms []rmap
	seen := map[string]bool{}
	for i := 0; i < rng.Intn(4); i++ {
		rm := rmap{name: fmt.Sprintf("rm%d", rng.Intn(3)), action: []string{"permit", "deny"}[rng.Intn(2)],
			seq: 10 * (1 + rng.Intn(3))}
		if k := fmt.Sprint(rm.name, rm.seq); seen[k] {
			continue
		} else {
			seen[k] = true
		}
		if len(plists) > 0 && rng.Intn(2) == 0 {
			rm.plist = plists[rng.Intn(len(plists))]
		}
		if rm.action == "permit" && rng.Intn(2) == 0 {
			rm.community = fmt.Sprintf("64513:%d", rng.Intn(3))
		}
		if rm.action == "permit" && rng.Intn(2) == 0 {
			rm.localPref = fmt.Sprint(100 + 50*rng.Intn(3))
		}
		if len(lclists) > 0 && rng.Intn(2) == 0 {
			rm.lcl = lclists[rng.Intn(len(lclists))]
			rm.deleteLcl = rm.action == "permit" && rng.Intn(2) == 0
		}
		if rm.action == "permit" && !rm.deleteLcl && rng.Intn(3) == 0 {
			rm.markers = fmt.Sprintf("4294967295:%d:0 4294967295:%d:1", rng.Intn(3), rng.Intn(3))
		}
		rms = append(rms, rm)
	}
	return rms
}

func randomPeer(rng *rand.Rand, addr, as string, s spec, extras bool) peer {
	p := peer{addr: addr, as: as}
	if as == "" {
		p.as = fmt.Sprint(64600 + rng.Intn(3))
	}
	p.timers = []string{"", "1 3", "3 9", "10 30"}[rng.Intn(4)]
	if addr == "198.51.100.1" {
		p.timers = "1 3" // fixed: the router peer must stay up
	}
	if names := sortedMapKeys(s.profiles); extras && len(names) > 0 && rng.Intn(2) == 0 {
		p.profile = names[rng.Intn(len(names))]
	}
	if extras && rng.Intn(3) == 0 {
		p.password = fmt.Sprintf("secret%d", rng.Intn(3))
	}
	if extras && rng.Intn(3) == 0 {
		p.multihop = true
	}
	if len(s.rmaps) > 0 && rng.Intn(2) == 0 {
		p.rmOut = s.rmaps[rng.Intn(len(s.rmaps))].name
	}
	return p
}

func randomNetworks(rng *rand.Rand) []string {
	var ns []string
	seen := map[int]bool{}
	for i := 0; i < rng.Intn(12); i++ {
		if n := rng.Intn(60); !seen[n] {
			seen[n] = true
			ns = append(ns, fmt.Sprintf("203.0.113.%d/32", n))
		}
	}
	return ns
}

func sortedMapKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// render writes the spec the way routelb's templates do.
func (s spec) render() string {
	var b strings.Builder
	b.WriteString("frr version 8.4\nfrr defaults traditional\nhostname node\n")
	b.WriteString("ip nht resolve-via-default\nipv6 nht resolve-via-default\nbgp route-map delay-timer 1\n!\n") // as the templates do
	b.WriteString("router bgp 64513\n no bgp ebgp-requires-policy\n no bgp network import-check\n")
	b.WriteString(" bgp router-id 198.51.100.11\n")
	for _, p := range s.peers {
		fmt.Fprintf(&b, " neighbor %s remote-as %s\n", p.addr, p.as)
		if p.timers != "" {
			fmt.Fprintf(&b, " neighbor %s timers %s\n", p.addr, p.timers)
		}
		if p.profile != "" {
			fmt.Fprintf(&b, " neighbor %s bfd\n neighbor %s bfd profile %s\n", p.addr, p.addr, p.profile)
		}
		if p.password != "" {
			fmt.Fprintf(&b, " neighbor %s password %s\n", p.addr, p.password)
		}
		if p.multihop {
			fmt.Fprintf(&b, " neighbor %s ebgp-multihop 2\n", p.addr)
		}
	}
	b.WriteString(" !\n address-family ipv4 unicast\n")
	for _, n := range s.networks {
		if rm := s.netMaps[n]; rm != "" {
			fmt.Fprintf(&b, "  network %s route-map %s\n", n, rm)
		} else {
			fmt.Fprintf(&b, "  network %s\n", n)
		}
	}
	for _, p := range s.peers {
		fmt.Fprintf(&b, "  neighbor %s activate\n", p.addr)
		if p.rmOut != "" {
			fmt.Fprintf(&b, "  neighbor %s route-map %s out\n", p.addr, p.rmOut)
		}
	}
	b.WriteString(" exit-address-family\n")
	if len(s.v6nets) > 0 {
		b.WriteString(" address-family ipv6 unicast\n")
		for _, n := range s.v6nets {
			fmt.Fprintf(&b, "  network %s\n", n)
		}
		b.WriteString(" exit-address-family\n")
	}
	b.WriteString("exit\n!\n")
	s.renderPolicies(&b)
	return b.String()
}

func (s spec) renderPolicies(b *strings.Builder) {
	for _, name := range sortedMapKeys(s.plists) {
		for i, p := range s.plists[name] {
			fmt.Fprintf(b, "ip prefix-list %s seq %d permit %s\n", name, (i+1)*5, p)
		}
	}
	for _, name := range sortedMapKeys(s.lclists) {
		for i, v := range s.lclists[name] {
			fmt.Fprintf(b, "bgp large-community-list standard %s seq %d permit %s\n", name, (i+1)*5, v)
		}
	}
	for _, rm := range s.rmaps {
		fmt.Fprintf(b, "!\nroute-map %s %s %d\n", rm.name, rm.action, rm.seq)
		if rm.plist != "" {
			fmt.Fprintf(b, " match ip address prefix-list %s\n", rm.plist)
		}
		if rm.lcl != "" {
			fmt.Fprintf(b, " match large-community %s\n", rm.lcl)
		}
		if rm.markers != "" {
			fmt.Fprintf(b, " set large-community %s\n", rm.markers)
		}
		if rm.deleteLcl {
			fmt.Fprintf(b, " set large-comm-list %s delete\n", rm.lcl)
		}
		if rm.community != "" {
			fmt.Fprintf(b, " set community %s additive\n", rm.community)
		}
		if rm.localPref != "" {
			fmt.Fprintf(b, " set local-preference %s\n", rm.localPref)
		}
		b.WriteString("exit\n")
	}
	if len(s.profiles) > 0 {
		b.WriteString("!\nbfd\n")
		for _, name := range sortedMapKeys(s.profiles) {
			fmt.Fprintf(b, " profile %s\n", name)
			for _, l := range s.profiles[name] {
				fmt.Fprintf(b, "  %s\n", l)
			}
			b.WriteString(" exit\n")
		}
		b.WriteString("exit\n")
	}
}
