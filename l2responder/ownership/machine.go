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
	// Scores, when set, rank the eligible nodes before the hash (MetalLB's preferredNodeSelectors
	// order every candidate by score); without them Preferred nodes rank above the rest.
	Scores map[string]int64
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
	// quorum is the majority evidence of rules M, C and D (clusters of 3 or more nodes).
	quorum Quorum
	// retired is set by rule R: this run answers nothing any more and its engine stops.
	retired bool
	// dead holds the nodes whose run in view a majority voted dead (rule D), from lan.dropped as of
	// the last refreshDead.
	dead map[string]bool
	// heldBack are the VIPs our node's previous run claimed, and startedAt when this run wrote its
	// Lease: with rule T, such a VIP may be answered by a survivor that has not yet written it
	// into its Lease (rule 8 erased the only Lease claiming it), so we claim it only once every
	// other LAN Lease was renewed after startedAt or the outage limit passed.
	heldBack  map[netip.Addr]bool
	startedAt time.Time
}

// Quorum is what the LAN layer knows about a majority of the roster (this node and the nodes of
// the unfenced LAN Leases in its last view), for rules M, C and D (docs/layer2.md, "Replacing an
// owner during an outage"). With fewer than 3 nodes Applies is false and none of them apply.
type Quorum struct {
	Applies bool
	// Until is until when a majority of the roster, this node included, has promised not to
	// fence us or vote us dead (rule M); zero when it never has.
	Until time.Time
	// Clean is false from the first heartbeat we sent saying we were not fresh until a majority
	// acked a later one saying we were (rule C).
	Clean bool
}

// lanRules are rules F and O's parameters and the one LAN fact the pure machine asks about.
type lanRules struct {
	outageLimit time.Duration
	// silent reports whether the run of node was heard on the LAN and not for the hold time.
	silent func(node, run string, now time.Time) bool
	// dropped reports whether a majority of the roster voted the run of node dead (rule D).
	dropped func(node, run string) bool
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
	if m.lan == nil || m.renewed.IsZero() || m.lanUntil.IsZero() || m.retired {
		return time.Time{}
	}
	for _, o := range m.others {
		if o.FencedBy == "" && !o.LAN {
			return time.Time{}
		}
	}
	d := m.renewed.Add(m.lan.outageLimit - m.timing.Margin)
	if lan := m.lanUntil.Add(-m.timing.Margin); lan.Before(d) {
		d = lan
	}
	if m.quorum.Applies {
		// Rule M: a majority's promises too, so that a majority that voted us dead has silenced us.
		if m.quorum.Until.IsZero() {
			return time.Time{}
		}
		if q := m.quorum.Until.Add(-m.timing.Margin); q.Before(d) {
			d = q
		}
	}
	return d
}

// canAnswer reports whether confirmed claims are answered at now: by a fresh Lease (rule 1, once
// a majority knows we are fresh again after an outage: rule C) or by the LAN promises of every run
// that could fence us (rule O).
func (m *machine) canAnswer(now time.Time) bool {
	if m.retired {
		return false
	}
	return m.fresh(now) && m.clean() || now.Before(m.outageDeadline())
}

// clean is rule C: with a quorum, after we told the LAN we were not fresh, rule 1 waits until a
// majority heard that we are again (until then a majority may count us as in an outage).
func (m *machine) clean() bool {
	return m.lan == nil || !m.quorum.Applies || m.quorum.Clean
}

// mustRetire is rule R: a run that may have been voted dead (it told the LAN it was not fresh,
// and a majority's promises lapsed since) stops for good: its VIPs may be answered elsewhere.
func (m *machine) mustRetire(now time.Time) bool {
	return m.lan != nil && m.quorum.Applies && !m.quorum.Clean && !now.Before(m.quorum.Until.Add(-m.timing.Margin))
}

// retire applies rule R: nothing is answered any more, every claim is dropped.
func (m *machine) retire() {
	m.retired = true
	m.lost()
}

// roster is this node and the nodes of the unfenced Leases in view that follow rule F: the
// nodes a majority is counted over.
func (m *machine) roster() []string {
	out := []string{m.self}
	for n, o := range m.others {
		if o.FencedBy == "" && o.LAN {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// takeovers is rule T: in an outage, the VIPs we answer because their owner's run was voted dead
// by a majority (rule D) and we rank first for them among the roster's nodes not voted dead, in
// the order desiredOwner uses. Every survivor computes the same winner, so only one answers.
func (m *machine) takeovers(now time.Time) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	if m.lan == nil || m.lan.dropped == nil || !m.quorum.Applies || m.fresh(now) {
		return out
	}
	for _, o := range m.others {
		if o.FencedBy != "" || !o.LAN || !m.dead[o.Node] {
			continue
		}
		for _, vip := range o.Claims {
			spec, ok := m.want[vip]
			if !ok || m.claims[vip] == confirmed {
				continue
			}
			if w, ok := m.takeoverWinner(vip, spec); ok && w == m.self {
				out[vip] = true
			}
		}
	}
	return out
}

// heldBackAt reports whether vip, our previous run's, may not be claimed yet (see heldBack).
func (m *machine) heldBackAt(vip netip.Addr, now time.Time) bool {
	if m.lan == nil || !m.heldBack[vip] {
		return false
	}
	if now.Sub(m.startedAt) >= m.lan.outageLimit {
		m.heldBack = nil
		return false
	}
	for _, o := range m.others {
		if o.FencedBy == "" && o.LAN && !o.seen.After(m.startedAt) {
			return true
		}
	}
	m.heldBack = nil
	return false
}

// refreshDead asks the LAN layer again which runs in view a majority voted dead.
func (m *machine) refreshDead() {
	m.dead = map[string]bool{}
	if m.lan == nil || m.lan.dropped == nil {
		return
	}
	for n, o := range m.others {
		if m.lan.dropped(n, o.Incarnation) {
			m.dead[n] = true
		}
	}
}

// ownerFor is who the Lease rules give vip to: the desired owner, except for a VIP held by a run
// a majority voted dead (rule D), which only its rule T winner may take, even with the API server
// back: that winner may be answering it already, before its renewal shows it in its Lease.
func (m *machine) ownerFor(vip netip.Addr, spec VIP, now time.Time) string {
	if w, ok := m.takeoverWinner(vip, spec); ok {
		return w
	}
	return m.desiredOwner(vip, spec, now)
}

// takeoverWinner is rule T's winner for vip when a run a majority voted dead claims it and no
// other run does.
func (m *machine) takeoverWinner(vip netip.Addr, spec VIP) (string, bool) {
	if m.lan == nil || m.lan.dropped == nil || !m.quorum.Applies {
		return "", false
	}
	alive := map[string]bool{m.self: true}
	heldByDead := false
	for n, o := range m.others {
		if o.FencedBy != "" || !o.LAN {
			continue
		}
		if m.dead[n] {
			heldByDead = heldByDead || slices.Contains(o.Claims, vip)
			continue
		}
		alive[n] = true
	}
	if !heldByDead || m.claimedByLive(vip, alive) {
		return "", false
	}
	return rankFirst(vip, spec, func(n string) bool { return alive[n] }), true
}

// claimedByLive reports whether a Lease of a node not voted dead claims vip: then its owner is
// alive (or decided by the Lease rules), not ours to take.
func (m *machine) claimedByLive(vip netip.Addr, alive map[string]bool) bool {
	for n := range alive {
		if o := m.others[n]; o != nil && slices.Contains(o.Claims, vip) {
			return true
		}
	}
	return false
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
	for vip := range m.takeovers(now) {
		out[vip] = true
	}
	return out
}

// desiredOwner is the live eligible node with the highest rendezvous weight for vip, preferred
// nodes first; "" when no eligible node is live.
func (m *machine) desiredOwner(vip netip.Addr, spec VIP, now time.Time) string {
	return rankFirst(vip, spec, func(n string) bool { return m.live(n, now) })
}

// rankFirst is the eligible node ranked first for vip (preference score, then hash) among those
// ok accepts: the one order both the Lease rules and rule T choose by.
func rankFirst(vip netip.Addr, spec VIP, ok func(string) bool) string {
	best, bestPref, bestScore := "", int64(0), uint64(0)
	for _, n := range spec.Eligible {
		if !ok(n) {
			continue
		}
		pref := spec.rank(n)
		s := score(spec.electionKey(vip), n)
		if best == "" || pref > bestPref || pref == bestPref && (s > bestScore || s == bestScore && n < best) {
			best, bestPref, bestScore = n, pref, s
		}
	}
	return best
}

// rank is a node's preference: its score, or 1 for a Preferred node when there are no scores.
func (v VIP) rank(n string) int64 {
	if v.Scores != nil {
		return v.Scores[n]
	}
	if slices.Contains(v.Preferred, n) {
		return 1
	}
	return 0
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
	canClaim := m.fresh(now) && !m.retired
	// Rule T's VIPs are answered already: the renewal that ends the outage writes them as ours.
	for vip := range m.takeovers(now) {
		p.next[vip] = confirmed
	}
	for vip, st := range m.claims {
		spec, ok := m.want[vip]
		if !ok || m.ownerFor(vip, spec, now) != m.self && m.fresh(now) {
			p.released = append(p.released, vip)
			continue
		}
		p.next[vip] = st
	}
	if canClaim {
		for vip, spec := range m.want {
			if _, mine := m.claims[vip]; mine || m.ownerFor(vip, spec, now) != m.self || m.heldBackAt(vip, now) {
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
