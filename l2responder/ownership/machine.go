// Package ownership decides which node answers ARP/NDP for each Layer 2 VIP, through one
// coordination.k8s.io Lease per node. The design, timings and failure modes are in docs/layer2.md
// ("## Ownership"); in short:
//
//   - Every speaker renews its own Lease every RenewInterval. The Lease lists, in an annotation, the
//     VIPs the node claims. API writes therefore grow with nodes, not VIPs.
//   - The desired owner of a VIP is the rendezvous-hash winner among the live eligible nodes
//     (preferred nodes first). A node claims a VIP only when it is the desired owner and no other
//     live Lease claims it, and it releases a VIP (silent first, then the write) when it no longer is.
//   - A node answers only while its last successful renewal was sent less than
//     LeaseDuration-Margin ago (local monotonic clock). Another node judges a Lease expired only
//     LeaseDuration after it observed its latest version (its own monotonic clock, so no clock skew
//     enters), and must then "fence" it: a compare-and-swap update emptying its claims. A late
//     renewal of the fenced node then fails with a conflict, so the fenced node can never come back
//     answering a VIP someone else took.
//   - A new claim is answered only after a linearizable read of all Leases, made after the claim was
//     written, shows no other Lease claiming the VIP: of two racing claimants at most one can see
//     no conflict.
//
// machine holds the decisions and is pure: it is fed observations and the local clock, and says
// what to write. Engine (engine.go) is the thin client-go layer around it.
package ownership

import (
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// VIP is what the machine needs to know about one address: the nodes that may own it, and those to
// prefer among them.
type VIP struct {
	Eligible  []string
	Preferred []string
	// Key, when valid, is the address hashed instead of the VIP's own: the VIPs of one Service share
	// it, so with the same eligible nodes they share their owner (dual stack on one node, as MetalLB).
	Key netip.Addr
}

// electionKey is the address whose hash ranks the nodes for vip.
func (v VIP) electionKey(vip netip.Addr) netip.Addr {
	if v.Key.IsValid() {
		return v.Key
	}
	return vip
}

// LeaseView is one node's Lease as read from the API.
type LeaseView struct {
	Node            string
	ResourceVersion string
	Incarnation     string
	Claims          []netip.Addr
	FencedBy        string // set by the node that emptied an expired Lease
	// LAN is set when the node follows the LAN fencing rule (rule F, --l2-memberlist): only then
	// may a node answer by rule O while this Lease is in its view.
	LAN bool
}

// observed is another node's Lease and the local time its current version was first seen.
type observed struct {
	LeaseView
	seen time.Time
}

type claimState int

const (
	pending   claimState = iota // written in our Lease, not yet checked against the others
	confirmed                   // checked: answered while our Lease is fresh
)

// Timing are the ownership timings; see docs/layer2.md for how they bound each failure.
type Timing struct {
	RenewInterval time.Duration
	LeaseDuration time.Duration
	Margin        time.Duration
}

// Defaults: a dead owner is replaced about LeaseDuration after its last renewal, and an owner that
// cannot renew goes silent LeaseDuration-Margin after its last successful one was sent.
var DefaultTiming = Timing{RenewInterval: 500 * time.Millisecond, LeaseDuration: 1500 * time.Millisecond, Margin: 250 * time.Millisecond}

type machine struct {
	self   string
	timing Timing
	others map[string]*observed
	want   map[netip.Addr]VIP
	claims map[netip.Addr]claimState
	// renewed is when our last successful renewal was sent; zero before the first one.
	renewed time.Time
	// lan, when set, enables rules F and O (docs/layer2.md, "Through an API server outage").
	lan *lanRules
	// lanUntil is until when every run that may fence us by rule F1 has promised not to (from
	// membership.HoldUntil); zero when one has not.
	lanUntil time.Time
}

// lanRules are rules F and O's parameters and the one LAN fact the pure machine asks about.
type lanRules struct {
	outageLimit time.Duration
	// silent reports whether the run of node was heard on the LAN and not for the hold time.
	silent func(node, run string, now time.Time) bool
}

func newMachine(self string, t Timing) *machine {
	return &machine{self: self, timing: t, others: map[string]*observed{}, want: map[netip.Addr]VIP{}, claims: map[netip.Addr]claimState{}}
}

// observe records another node's Lease. The clock restarts only when the version changes, so a
// re-list of the same version does not make a dead node look alive.
func (m *machine) observe(v LeaseView, now time.Time) {
	if v.Node == m.self {
		return
	}
	if o := m.others[v.Node]; o != nil && o.ResourceVersion == v.ResourceVersion {
		return
	}
	m.others[v.Node] = &observed{LeaseView: v, seen: now}
}

// forget records that another node's Lease is gone (deleted on a clean shutdown).
func (m *machine) forget(node string) { delete(m.others, node) }

func (m *machine) expired(o *observed, now time.Time) bool {
	return now.Sub(o.seen) >= m.timing.LeaseDuration
}

// fenceable reports whether another node's Lease may be fenced: expired (rule 3) and, with rule F,
// either silent on the LAN for the hold time (F1) or unrenewed in our view for the outage limit
// (F2), which no node answering by rule O can outlast.
func (m *machine) fenceable(o *observed, now time.Time) bool {
	if !m.expired(o, now) {
		return false
	}
	if m.lan == nil {
		return true
	}
	return m.byOutageLimit(o, now) || m.lan.silent(o.Node, o.Incarnation, now)
}

// byOutageLimit is rule F2.
func (m *machine) byOutageLimit(o *observed, now time.Time) bool {
	return now.Sub(o.seen) >= m.lan.outageLimit
}

// live reports whether node may be chosen as an owner: our own node while our Lease is fresh,
// another one while its Lease is unexpired and not fenced.
func (m *machine) live(node string, now time.Time) bool {
	if node == m.self {
		return m.fresh(now)
	}
	o := m.others[node]
	return o != nil && o.FencedBy == "" && !m.expired(o, now)
}

// fresh reports whether our own Lease still covers answering.
func (m *machine) fresh(now time.Time) bool {
	return !m.renewed.IsZero() && now.Before(m.deadline())
}

// deadline is the instant we must be silent by, unless a renewal succeeds first.
func (m *machine) deadline() time.Time {
	return m.renewed.Add(m.timing.LeaseDuration - m.timing.Margin)
}

// outageDeadline is until when rule O lets us answer without a fresh Lease: zero when rule O is
// off or does not apply (a Lease in our view does not follow rule F).
func (m *machine) outageDeadline() time.Time {
	if m.lan == nil || m.renewed.IsZero() || m.lanUntil.IsZero() {
		return time.Time{}
	}
	for _, o := range m.others {
		if o.FencedBy == "" && !o.LAN {
			return time.Time{}
		}
	}
	cap := m.renewed.Add(m.lan.outageLimit - m.timing.Margin)
	lan := m.lanUntil.Add(-m.timing.Margin)
	if lan.Before(cap) {
		return lan
	}
	return cap
}

// canAnswer reports whether confirmed claims are answered at now: by a fresh Lease (rule 1) or by
// the LAN promises of every run that could fence us (rule O).
func (m *machine) canAnswer(now time.Time) bool {
	return m.fresh(now) || now.Before(m.outageDeadline())
}

// answerDeadline is when canAnswer turns false unless something new arrives.
func (m *machine) answerDeadline() time.Time {
	d := m.deadline()
	if o := m.outageDeadline(); o.After(d) {
		return o
	}
	return d
}

// inOutage reports whether we answer by rule O alone right now.
func (m *machine) inOutage(now time.Time) bool {
	return !m.fresh(now) && now.Before(m.outageDeadline())
}

// answering is the set of VIPs to answer for at now.
func (m *machine) answering(now time.Time) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	if !m.canAnswer(now) {
		return out
	}
	for vip, st := range m.claims {
		if st == confirmed {
			out[vip] = true
		}
	}
	return out
}

// desiredOwner is the live eligible node with the highest rendezvous weight for vip, preferred
// nodes first; "" when no eligible node is live.
func (m *machine) desiredOwner(vip netip.Addr, spec VIP, now time.Time) string {
	best, bestPref, bestScore := "", false, uint64(0)
	for _, n := range spec.Eligible {
		if !m.live(n, now) {
			continue
		}
		pref := slices.Contains(spec.Preferred, n)
		s := score(spec.electionKey(vip), n)
		if best == "" || pref && !bestPref || pref == bestPref && (s > bestScore || s == bestScore && n < best) {
			best, bestPref, bestScore = n, pref, s
		}
	}
	return best
}

// score is the rendezvous (highest random weight) hash of a VIP and a node.
func score(vip netip.Addr, node string) uint64 {
	h := fnv.New64a()
	b := vip.As16()
	h.Write(b[:])
	h.Write([]byte(node))
	x := h.Sum64()
	// FNV's high bits mix poorly for inputs that differ only at the end: finalize (splitmix64).
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// outranks reports whether node a wins the VIP hashed as key against b regardless of liveness and
// preference: the tie-break between two claimants that both wrote a claim.
func outranks(key netip.Addr, a, b string) bool {
	sa, sb := score(key, a), score(key, b)
	return sa > sb || sa == sb && a < b
}

// plan is what one cycle must do.
type plan struct {
	fences   []LeaseView               // expired Leases still claiming a VIP we are to take
	claims   []netip.Addr              // what our renewal writes, sorted
	released []netip.Addr              // dropped from claims; silent before the write
	takes    map[netip.Addr][]string   // new claims and the nodes that must be fenced first
	next     map[netip.Addr]claimState // claims after the write, if every fence succeeds
}

// plan decides this cycle's fences and claims. It does not change the machine: apply commits it.
func (m *machine) plan(now time.Time) plan {
	p := plan{takes: map[netip.Addr][]string{}, next: map[netip.Addr]claimState{}}
	fence := map[string]bool{}
	claimedBy := m.claimedByOthers()
	canClaim := m.fresh(now)
	for vip, st := range m.claims {
		spec, ok := m.want[vip]
		if !ok || m.desiredOwner(vip, spec, now) != m.self && m.fresh(now) {
			p.released = append(p.released, vip)
			continue
		}
		p.next[vip] = st
	}
	if canClaim {
		for vip, spec := range m.want {
			if _, mine := m.claims[vip]; mine || m.desiredOwner(vip, spec, now) != m.self {
				continue
			}
			var needFence []string
			blocked := false
			for _, n := range claimedBy[vip] {
				o := m.others[n]
				if !m.fenceable(o, now) {
					blocked = true
					break
				}
				needFence = append(needFence, n)
			}
			if blocked {
				continue
			}
			p.takes[vip] = needFence
			p.next[vip] = pending
			for _, n := range needFence {
				if !fence[n] {
					fence[n] = true
					p.fences = append(p.fences, m.others[n].LeaseView)
				}
			}
		}
	}
	sort.Slice(p.fences, func(i, j int) bool { return p.fences[i].Node < p.fences[j].Node })
	p.claims = sortedAddrs(p.next)
	sortAddrs(p.released)
	return p
}

// fenceFailed drops the takes that needed node fenced.
func (p *plan) fenceFailed(node string) {
	for vip, nodes := range p.takes {
		if slices.Contains(nodes, node) {
			delete(p.takes, vip)
			delete(p.next, vip)
		}
	}
	p.claims = sortedAddrs(p.next)
}

// release makes the released VIPs silent at once, before the write that tells the others.
func (m *machine) release(p plan) {
	for _, vip := range p.released {
		delete(m.claims, vip)
	}
}

// renewedOK commits a successful write of p.claims, sent at sent.
func (m *machine) renewedOK(p plan, sent time.Time) {
	m.claims = maps.Clone(p.next)
	if m.claims == nil {
		m.claims = map[netip.Addr]claimState{}
	}
	if sent.After(m.renewed) {
		m.renewed = sent
	}
}

// lost drops every claim: our Lease was fenced or deleted, so others may own our VIPs already.
func (m *machine) lost() {
	m.claims = map[netip.Addr]claimState{}
}

// pendingClaims reports whether a linearizable check is due.
func (m *machine) pendingClaims() bool {
	for _, st := range m.claims {
		if st == pending {
			return true
		}
	}
	return false
}

// check resolves pending claims against a linearizable read of every Lease made after our claims
// were written: a claim no other Lease holds is confirmed; of two claimants the lower-ranked one
// withdraws, the other waits for the next check.
func (m *machine) check(all []LeaseView, now time.Time) (confirmedNow, withdrawn []netip.Addr) {
	holders := map[netip.Addr][]string{}
	for _, v := range all {
		m.observe(v, now)
		if v.Node == m.self {
			continue
		}
		for _, vip := range v.Claims {
			holders[vip] = append(holders[vip], v.Node)
		}
	}
	for vip, st := range m.claims {
		if st != pending {
			continue
		}
		others := holders[vip]
		if len(others) == 0 {
			m.claims[vip] = confirmed
			confirmedNow = append(confirmedNow, vip)
			continue
		}
		key := m.want[vip].electionKey(vip)
		for _, n := range others {
			if outranks(key, n, m.self) {
				delete(m.claims, vip)
				withdrawn = append(withdrawn, vip)
				break
			}
		}
	}
	sortAddrs(confirmedNow)
	sortAddrs(withdrawn)
	return confirmedNow, withdrawn
}

func (m *machine) claimedByOthers() map[netip.Addr][]string {
	out := map[netip.Addr][]string{}
	for _, n := range slices.Sorted(maps.Keys(m.others)) {
		for _, vip := range m.others[n].Claims {
			out[vip] = append(out[vip], n)
		}
	}
	return out
}

// nextWake is the earliest instant the machine's decisions can change without any new input:
// our own silence deadline, or another Lease expiring.
func (m *machine) nextWake(now time.Time) time.Time {
	var t time.Time
	consider := func(c time.Time) {
		if c.After(now) && (t.IsZero() || c.Before(t)) {
			t = c
		}
	}
	if !m.renewed.IsZero() {
		consider(m.deadline())
		if o := m.outageDeadline(); !o.IsZero() {
			consider(o)
		}
	}
	for _, o := range m.others {
		consider(o.seen.Add(m.timing.LeaseDuration))
		if m.lan != nil {
			consider(o.seen.Add(m.lan.outageLimit))
		}
	}
	return t
}

func sortedAddrs[V any](set map[netip.Addr]V) []netip.Addr {
	out := slices.Collect(maps.Keys(set))
	sortAddrs(out)
	return out
}

func sortAddrs(a []netip.Addr) { slices.SortFunc(a, func(x, y netip.Addr) int { return x.Compare(y) }) }
