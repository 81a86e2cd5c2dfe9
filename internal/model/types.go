// Package model turns the metallb.io objects (plus Secrets and Nodes) into one validated configuration.
// It is pure: the controller, the speaker, the webhook and `routelb render` all call Build, so they
// agree on what is valid and report the same problems.
package model

import (
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Config is the validated configuration. Objects with problems of their own are left out, or replaced
// by their last good version when Build was given one.
type Config struct {
	Pools       map[string]*Pool
	Peers       map[string]*Peer
	BFDProfiles map[string]*BFDProfile
	BGPAdvs     map[string]*BGPAdvertisement
	L2Advs      map[string]*L2Advertisement
}

// Range is an inclusive range of addresses of one family.
type Range struct {
	First netip.Addr
	Last  netip.Addr
}

// Contains reports whether ip lies in the range.
func (r Range) Contains(ip netip.Addr) bool {
	return ip.BitLen() == r.First.BitLen() && r.First.Compare(ip) <= 0 && ip.Compare(r.Last) <= 0
}

// Overlaps reports whether two ranges share an address.
func (r Range) Overlaps(o Range) bool {
	return r.First.BitLen() == o.First.BitLen() && r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0
}

// Pool is an IPAddressPool.
type Pool struct {
	Name          string
	Labels        map[string]string
	Ranges        []Range
	CIDRs         []netip.Prefix // the entries given as CIDRs, for aggregation checks
	AutoAssign    bool
	AvoidBuggyIPs bool
	// Priority orders pools for a Service; HasPriority false sorts the pool after every prioritised one.
	Priority    int
	HasPriority bool
	// Pinned is a pool with a serviceAllocation (even one setting only a priority): as in MetalLB,
	// the allocator tries the pinned pools a Service fits before the generic ones.
	Pinned             bool
	Namespaces         []string
	NamespaceSelectors []labels.Selector
	ServiceSelectors   []labels.Selector
}

// Contains reports whether ip belongs to the pool.
func (p *Pool) Contains(ip netip.Addr) bool {
	for _, r := range p.Ranges {
		if r.Contains(ip) {
			return true
		}
	}
	return false
}

// Community is a BGP community in FRR's notation: "65535:65282", or "4200000000:1:2" when Large.
type Community struct {
	Large bool
	Value string
}

// BGPAdvertisement is a BGPAdvertisement with its pools, peers and community aliases resolved.
type BGPAdvertisement struct {
	Name                string
	AggregationLength   int
	AggregationLengthV6 int
	LocalPref           uint32
	Communities         []Community
	Pools               []string // names of the pools it announces, sorted
	NodeSelectors       []labels.Selector
	Peers               []string          // names of the peers it announces to; empty means all
	ServiceSelectors    []labels.Selector // empty: every Service of its pools
}

// L2Advertisement is an L2Advertisement with its pools resolved.
type L2Advertisement struct {
	Name             string
	Pools            []string
	NodeSelectors    []labels.Selector
	ServiceSelectors []labels.Selector // empty: every Service of its pools
	PreferredNodes   []PreferredNodes
	Interfaces       []string
}

// PreferredNodes is one weighted preference of an L2Advertisement.
type PreferredNodes struct {
	Weight   int64
	Selector labels.Selector
}

// Peer is a BGPPeer with its password read from its Secret.
type Peer struct {
	Name            string
	MyASN           uint32
	ASN             uint32
	DynamicASN      string
	LocalASN        uint32
	Addr            netip.Addr
	Interface       string
	SrcAddr         netip.Addr
	Port            uint16
	HoldTime        *time.Duration
	KeepaliveTime   *time.Duration
	ConnectTime     *time.Duration
	RouterID        netip.Addr
	NodeSelectors   []labels.Selector
	Password        string
	BFDProfile      string
	GracefulRestart bool
	EBGPMultiHop    bool
	VRF             string
	DisableMP       bool
	DualStack       bool
	Receive         Receive // routes accepted from the peer; none by default
}

// BFDProfile is a BFDProfile with FRR's defaults filled in.
type BFDProfile struct {
	Name             string
	ReceiveInterval  uint32
	TransmitInterval uint32
	DetectMultiplier uint32
	EchoInterval     uint32
	EchoMode         bool
	PassiveMode      bool
	MinimumTTL       uint32 // 0: unset
}

// FRR's BFD defaults, which MetalLB documents as the BFDProfile defaults.
const (
	DefaultBFDInterval   = 300
	DefaultBFDMultiplier = 3
	DefaultBFDEcho       = 50
)

// MatchesAny reports whether a node or object with these labels is selected; no selector selects all.
func MatchesAny(sels []labels.Selector, l map[string]string) bool {
	if len(sels) == 0 {
		return true
	}
	set := labels.Set(l)
	for _, s := range sels {
		if s.Matches(set) {
			return true
		}
	}
	return false
}
