// Package allocator decides which addresses LoadBalancer Services get from the validated pools. It is
// pure and in memory: the reconciler feeds it Services (as Requests) and pools (from model.Build) and
// writes the results to the API. It follows MetalLB's rules for pools, requests and sharing, and its
// order: pinned pools (with a serviceAllocation) before generic ones.
package allocator

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/routelb/routelb/internal/model"
)

// Family is an IP family: 4 or 6.
type Family int

// The two families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func familyOf(ip netip.Addr) Family {
	if ip.Is4() {
		return IPv4
	}
	return IPv6
}

func (f Family) String() string { return fmt.Sprintf("IPv%d", int(f)) }

// Policy is a Service's ipFamilyPolicy.
type Policy int

// The policies of corev1.IPFamilyPolicy.
const (
	SingleStack Policy = iota
	PreferDualStack
	RequireDualStack
)

// Port is one port a Service exposes; two Services sharing an address must not use the same one.
type Port struct {
	Protocol string
	Port     int32
}

func (p Port) String() string { return fmt.Sprintf("%d/%s", p.Port, p.Protocol) }

// Request is what a Service asks of the allocator.
type Request struct {
	Key             string // namespace/name
	Namespace       string
	Labels          map[string]string // the Service's labels, for serviceSelectors
	NamespaceLabels map[string]string // its namespace's labels, for namespaceSelectors
	Families        []Family          // spec.ipFamilies, primary first
	Policy          Policy
	IPs             []netip.Addr // explicitly requested addresses, if any
	Pool            string       // explicitly requested pool, if any
	SharingKey      string       // metallb.io/allow-shared-ip; empty: never share
	BackendKey      string       // what must match to share: the selector when externalTrafficPolicy is Local
	Ports           []Port
}

// Reason names why a request failed, for events and metrics.
type Reason string

// The reasons a request can fail.
const (
	ReasonNotInPool     Reason = "NotInPool"
	ReasonInUse         Reason = "AddressInUse"
	ReasonWrongFamily   Reason = "WrongFamily"
	ReasonUnknownPool   Reason = "UnknownPool"
	ReasonNotAllowed    Reason = "PoolNotAllowed"
	ReasonBuggyIP       Reason = "BuggyIP"
	ReasonExhausted     Reason = "NoAvailableAddress"
	ReasonBadRequest    Reason = "InvalidRequest"
	ReasonNoPool        Reason = "NoPool"
	ReasonPrimeConflict Reason = "ConflictingStatus"
)

// Error is a failed request with its reason.
type Error struct {
	Reason  Reason
	Message string
}

func (e *Error) Error() string { return e.Message }

func fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// Result is what a Service holds.
type Result struct {
	IPs  []netip.Addr
	Pool string
	// Cleared says why the addresses the Service held were given up because the pools no longer
	// allow them (the pool is gone or narrowed, or a sharing rule broke): MetalLB's ClearAssignment.
	// Set even when no new address could be found.
	Cleared string
	// AdditionalFailed says why a Service preferring dual stack and holding one family did not get
	// the other from its pool this time (MetalLB's AdditionalAssignFailed).
	AdditionalFailed string
}

type holder struct {
	sharing, backend string
	ports            []Port
}

type ipUse struct {
	pool    string
	holders map[string]holder
}

type alloc struct {
	ips  []netip.Addr
	pool string
}

// poolState is a pool with its allocation cursors.
type poolState struct {
	*model.Pool
	hints    []netip.Addr // per range: no free address lies before it
	total    [2]int64     // per family (v4, v6), capped at MaxInt64
	assigned [2]int64
}

// Allocator holds every Service's addresses. It is not safe for concurrent use; the caller locks.
type Allocator struct {
	pools map[string]*poolState
	order []*poolState // auto-assign order: priority first, then name
	byKey map[string]*alloc
	byIP  map[netip.Addr]*ipUse
	// byShareKey indexes the addresses held under each sharing key, so finding a shareable address
	// costs the key's addresses, not every address in use.
	byShareKey map[string]map[netip.Addr]int
	dirty      map[string]bool // pools whose counts changed since TakeDirty
	primed     bool
}

// New returns an empty allocator with no pools.
func New() *Allocator {
	return &Allocator{
		pools: map[string]*poolState{}, byKey: map[string]*alloc{},
		byIP: map[netip.Addr]*ipUse{}, dirty: map[string]bool{}, byShareKey: map[string]map[netip.Addr]int{},
	}
}

// SetPools replaces the pools. Services whose addresses no longer lie in one pool lose them; their keys
// are returned so the caller reconciles them again. A Service whose pool no longer serves it (its
// serviceAllocation narrowed) loses its address at its next Ensure, which says so in Result.Cleared.
func (a *Allocator) SetPools(pools map[string]*model.Pool) (lost []string) {
	old := a.pools
	a.pools = make(map[string]*poolState, len(pools))
	a.order = a.order[:0]
	for name, p := range pools {
		ps := &poolState{Pool: p, hints: make([]netip.Addr, len(p.Ranges))}
		for i, r := range p.Ranges {
			ps.hints[i] = r.First
			fi := famIndex(r.First)
			ps.total[fi] = satAdd(ps.total[fi], rangeSize(r, p.AvoidBuggyIPs))
		}
		a.pools[name] = ps
		a.order = append(a.order, ps)
		a.dirty[name] = true
	}
	for name := range old {
		a.dirty[name] = true
	}
	sort.Slice(a.order, func(i, j int) bool { return poolLess(a.order[i].Pool, a.order[j].Pool) })
	keys := make([]string, 0, len(a.byKey))
	for k := range a.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		al := a.byKey[k]
		if p := a.poolOf(al.ips); p != nil {
			al.pool = p.Name
			continue
		}
		a.Release(k)
		lost = append(lost, k)
	}
	a.recount()
	return lost
}

func poolLess(a, b *model.Pool) bool {
	if a.HasPriority != b.HasPriority {
		return a.HasPriority
	}
	if a.HasPriority && a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	return a.Name < b.Name
}

func (a *Allocator) recount() {
	for _, p := range a.pools {
		p.assigned = [2]int64{}
	}
	for ip, u := range a.byIP {
		p := a.pools[u.pool]
		if p == nil || !p.Contains(ip) {
			p = a.poolOf([]netip.Addr{ip})
		}
		if p == nil {
			continue
		}
		u.pool = p.Name
		p.assigned[famIndex(ip)]++
	}
}

// poolOf returns the one pool holding every address, or nil.
func (a *Allocator) poolOf(ips []netip.Addr) *poolState {
	if len(ips) == 0 {
		return nil
	}
	for _, p := range a.order {
		if all(ips, p.Contains) {
			return p
		}
	}
	return nil
}

func all(ips []netip.Addr, f func(netip.Addr) bool) bool {
	for _, ip := range ips {
		if !f(ip) {
			return false
		}
	}
	return true
}

// Primed reports whether MarkPrimed was called: until then the caller must not allocate.
func (a *Allocator) Primed() bool { return a.primed }

// MarkPrimed records that every existing Service's addresses were given to Prime.
func (a *Allocator) MarkPrimed() { a.primed = true }

// Prime records addresses a Service already holds (from its status), before anything new is allocated.
// It checks only that they lie in one pool and do not clash with another Service's; the caller primes
// older Services first, so an older holder wins a clash.
func (a *Allocator) Prime(req Request, ips []netip.Addr) error {
	if len(ips) == 0 {
		return nil
	}
	p := a.poolOf(ips)
	if p == nil {
		return fail(ReasonNotInPool, "%s is not in any pool", joinIPs(ips))
	}
	for _, ip := range ips {
		if err := a.checkSharing(req, ip); err != nil {
			return fail(ReasonPrimeConflict, "status address %s clashes: %v", ip, err)
		}
	}
	a.Release(req.Key)
	a.take(req, p, ips)
	return nil
}

// Get returns what a Service holds.
func (a *Allocator) Get(key string) (Result, bool) {
	al, ok := a.byKey[key]
	if !ok {
		return Result{}, false
	}
	return Result{IPs: slices.Clone(al.ips), Pool: al.pool}, true
}

// Release frees a Service's addresses.
func (a *Allocator) Release(key string) {
	al, ok := a.byKey[key]
	if !ok {
		return
	}
	delete(a.byKey, key)
	for _, ip := range al.ips {
		u := a.byIP[ip]
		if u == nil {
			continue
		}
		a.unindex(u.holders[key].sharing, ip)
		delete(u.holders, key)
		if len(u.holders) > 0 {
			continue
		}
		delete(a.byIP, ip)
		if p := a.pools[u.pool]; p != nil {
			p.assigned[famIndex(ip)]--
			a.dirty[p.Name] = true
			for i, r := range p.Ranges {
				if r.Contains(ip) && ip.Less(p.hints[i]) {
					p.hints[i] = ip
				}
			}
		}
	}
}

func (a *Allocator) take(req Request, p *poolState, ips []netip.Addr) {
	a.byKey[req.Key] = &alloc{ips: slices.Clone(ips), pool: p.Name}
	h := holder{sharing: req.SharingKey, backend: req.BackendKey, ports: req.Ports}
	for _, ip := range ips {
		u := a.byIP[ip]
		if u == nil {
			u = &ipUse{pool: p.Name, holders: map[string]holder{}}
			a.byIP[ip] = u
			p.assigned[famIndex(ip)]++
			a.dirty[p.Name] = true
		}
		u.holders[req.Key] = h
		if h.sharing != "" {
			if a.byShareKey[h.sharing] == nil {
				a.byShareKey[h.sharing] = map[netip.Addr]int{}
			}
			a.byShareKey[h.sharing][ip]++
		}
	}
}

func (a *Allocator) unindex(key string, ip netip.Addr) {
	m := a.byShareKey[key]
	if key == "" || m == nil {
		return
	}
	if m[ip]--; m[ip] <= 0 {
		delete(m, ip)
	}
	if len(m) == 0 {
		delete(a.byShareKey, key)
	}
}

// Ensure gives the Service the addresses it should have: what it holds (or, if the allocator has no
// record, what its status shows) when that still fits the request and the pools, else a new
// allocation, as MetalLB converges a Service. On error the Service holds nothing.
func (a *Allocator) Ensure(req Request, status []netip.Addr) (Result, error) {
	if err := validate(req); err != nil {
		a.Release(req.Key)
		return Result{}, err
	}
	cur := status
	if al, ok := a.byKey[req.Key]; ok {
		cur = al.ips
	}
	if p := a.keeps(req, cur); p != nil {
		a.Release(req.Key)
		res := Result{IPs: slices.Clone(cur), Pool: p.Name}
		if want := missingFamily(req, cur); want != 0 {
			if ip, ok := a.pick(p, req, want); ok {
				res.IPs = append(res.IPs, ip)
			} else {
				res.AdditionalFailed = fmt.Sprintf("no available %s address in pool %s", want, p.Name)
			}
		}
		a.take(req, p, res.IPs)
		return res, nil
	}
	cleared := a.notAllowed(req, cur)
	a.Release(req.Key)
	if cleared == "" {
		if p, ips := a.extend(req, cur); p != nil {
			a.take(req, p, ips)
			return Result{IPs: ips, Pool: p.Name}, nil
		}
	}
	p, ips, err := a.allocate(req)
	if err != nil {
		return Result{Cleared: cleared}, err
	}
	a.take(req, p, ips)
	return Result{IPs: ips, Pool: p.Name, Cleared: cleared}, nil
}

// missingFamily is the family a Service preferring dual stack lacks while it holds one address of
// its primary family and requests none, which MetalLB then tries to add from the same pool; 0 if
// none is missing.
func missingFamily(req Request, cur []netip.Addr) Family {
	if req.Policy != PreferDualStack || len(req.Families) != 2 || len(cur) != 1 || len(req.IPs) > 0 {
		return 0
	}
	for _, f := range req.Families {
		if f != familyOf(cur[0]) {
			return f
		}
	}
	return 0
}

// keeps returns the pool of the current addresses when the Service may keep them.
func (a *Allocator) keeps(req Request, cur []netip.Addr) *poolState {
	if len(cur) == 0 || len(req.IPs) > 0 && !sameSet(cur, req.IPs) {
		return nil
	}
	fams := familiesOf(cur)
	if len(fams) != len(cur) || !familiesFit(req, fams) {
		return nil
	}
	p := a.poolOf(cur)
	if p == nil || req.Pool != "" && p.Name != req.Pool || !admits(p.Pool, req) {
		return nil
	}
	for _, ip := range cur {
		if a.checkSharing(req, ip) != nil {
			return nil
		}
	}
	return p
}

// notAllowed says why the pools no longer allow the current addresses, or "" when they do (they
// may still be dropped for the request's sake: another address or pool asked for, other families).
func (a *Allocator) notAllowed(req Request, cur []netip.Addr) string {
	if len(cur) == 0 {
		return ""
	}
	p := a.poolOf(cur)
	if p == nil {
		return fmt.Sprintf("%s is not in any one pool", joinIPs(cur))
	}
	if !admits(p.Pool, req) {
		return fmt.Sprintf("pool %q no longer serves this Service (serviceAllocation)", p.Name)
	}
	for _, ip := range cur {
		if err := a.checkSharing(req, ip); err != nil {
			return err.Error()
		}
	}
	return ""
}

// extend handles a change of IP families without moving what stays: the current addresses of the
// families still wanted are kept and the missing family comes from the same pool. The caller has
// released the Service's addresses.
func (a *Allocator) extend(req Request, cur []netip.Addr) (*poolState, []netip.Addr) {
	p := a.poolOf(cur)
	if len(req.IPs) > 0 || p == nil || req.Pool != "" && p.Name != req.Pool || !admits(p.Pool, req) {
		return nil, nil
	}
	want := req.Families
	if req.Policy == SingleStack {
		want = want[:1]
	}
	var out []netip.Addr
	kept := false
	for _, f := range want {
		i := slices.IndexFunc(cur, func(ip netip.Addr) bool { return familyOf(ip) == f })
		if i >= 0 && a.checkSharing(req, cur[i]) == nil {
			out, kept = append(out, cur[i]), true
			continue
		}
		ip, ok := a.pick(p, req, f)
		if !ok {
			return nil, nil
		}
		out = append(out, ip)
	}
	if !kept {
		return nil, nil
	}
	return p, ipv4First(out)
}

// familiesFit: a single-stack Service holds its primary family, a dual-stack one both, and a Service
// preferring dual stack both or either family alone (so it is never moved to gain one; MetalLB
// gives it the second family alone when no pool has the first).
func familiesFit(req Request, fams []Family) bool {
	switch {
	case len(fams) == 2:
		return req.Policy != SingleStack && len(req.Families) == 2
	case req.Policy == RequireDualStack || len(fams) != 1:
		return false
	case req.Policy == PreferDualStack:
		return slices.Contains(req.Families, fams[0])
	default:
		return fams[0] == req.Families[0]
	}
}

func validate(req Request) error {
	if len(req.Families) == 0 || len(req.Families) > 2 || len(req.Families) == 2 && req.Families[0] == req.Families[1] {
		return fail(ReasonBadRequest, "the Service has no usable ipFamilies")
	}
	if req.Policy == RequireDualStack && len(req.Families) != 2 {
		return fail(ReasonWrongFamily, "RequireDualStack needs both IP families in spec.ipFamilies")
	}
	return nil
}

func (a *Allocator) allocate(req Request) (*poolState, []netip.Addr, error) {
	if len(req.IPs) > 0 {
		return a.assignRequested(req)
	}
	var cands []*poolState
	if req.Pool != "" {
		p := a.pools[req.Pool]
		if p == nil {
			return nil, nil, fail(ReasonUnknownPool, "pool %q does not exist or is invalid", req.Pool)
		}
		if !admits(p.Pool, req) {
			return nil, nil, fail(ReasonNotAllowed, "pool %q does not serve this Service (serviceAllocation)", req.Pool)
		}
		cands = []*poolState{p}
	} else {
		cands = a.autoPools(req)
		if len(cands) == 0 {
			return nil, nil, fail(ReasonNoPool, "no auto-assign pool serves this Service")
		}
	}
	want := req.Families
	if req.Policy == SingleStack {
		want = want[:1]
	}
	// MetalLB tries the pinned pools first, then the generic ones; within each, a pool with every
	// wanted family first, then (preferring dual stack) one with the primary family.
	pinned := slices.IndexFunc(cands, func(p *poolState) bool { return !p.Pinned })
	if pinned < 0 {
		pinned = len(cands)
	}
	for _, tier := range [][]*poolState{cands[:pinned], cands[pinned:]} {
		if p, ips := a.fromPools(tier, req, want); p != nil {
			return p, ipv4First(ips), nil
		}
		if req.Policy == PreferDualStack && len(want) == 2 {
			// One family alone: the primary if a pool has it, else the secondary (MetalLB's
			// findBestPoolForService keeps a candidate of each and takes the primary's first).
			for _, one := range [][]Family{want[:1], want[1:]} {
				if p, ips := a.fromPools(tier, req, one); p != nil {
					return p, ips, nil
				}
			}
		}
	}
	fams := make([]string, len(want))
	for i, f := range want {
		fams[i] = f.String()
	}
	return nil, nil, fail(ReasonExhausted, "no available %s address in pools %s", strings.Join(fams, "+"), poolNames(cands))
}

// autoPools is the auto-assign pools that serve req: the pinned ones (with a serviceAllocation) by
// priority then name, then the generic ones by name. An explicitly requested pool is tried alone.
func (a *Allocator) autoPools(req Request) []*poolState {
	var pinned, generic []*poolState
	for _, p := range a.order {
		switch {
		case !p.AutoAssign || !admits(p.Pool, req):
		case p.Pinned:
			pinned = append(pinned, p)
		default:
			generic = append(generic, p)
		}
	}
	return append(pinned, generic...)
}

// ipv4First orders a dual-stack pair as MetalLB writes status.loadBalancer.ingress: IPv4 then
// IPv6, whatever spec.ipFamilies says. Dashboards and scripts that read ingress[0] then see the
// same address after the swap. Addresses the user requested keep the user's order.
func ipv4First(ips []netip.Addr) []netip.Addr {
	if len(ips) == 2 && familyOf(ips[0]) == IPv6 && familyOf(ips[1]) == IPv4 {
		ips[0], ips[1] = ips[1], ips[0]
	}
	return ips
}

func (a *Allocator) fromPools(cands []*poolState, req Request, fams []Family) (*poolState, []netip.Addr) {
	for _, p := range cands {
		ips := make([]netip.Addr, 0, len(fams))
		for _, f := range fams {
			ip, ok := a.pick(p, req, f)
			if !ok {
				break
			}
			ips = append(ips, ip)
		}
		if len(ips) == len(fams) {
			return p, ips
		}
	}
	return nil, nil
}

// pick returns an address of family f in the pool: one this Service may share if there is one (so
// Services with one sharing key end up together), else the lowest free one.
func (a *Allocator) pick(p *poolState, req Request, f Family) (netip.Addr, bool) {
	if req.SharingKey != "" {
		var best netip.Addr
		for ip := range a.byShareKey[req.SharingKey] {
			if u := a.byIP[ip]; u.pool == p.Name && familyOf(ip) == f && a.canShare(req, u) {
				if !best.IsValid() || ip.Less(best) {
					best = ip
				}
			}
		}
		if best.IsValid() {
			return best, true
		}
	}
	for i, r := range p.Ranges {
		if familyOf(r.First) != f {
			continue
		}
		for ip := p.hints[i]; ip.IsValid() && !r.Last.Less(ip); ip = ip.Next() {
			if p.AvoidBuggyIPs && buggy(ip) {
				continue
			}
			if _, used := a.byIP[ip]; !used {
				p.hints[i] = ip
				return ip, true
			}
		}
		p.hints[i] = r.Last // full; Release moves the hint back
	}
	return netip.Addr{}, false
}

func (a *Allocator) assignRequested(req Request) (*poolState, []netip.Addr, error) {
	fams := familiesOf(req.IPs)
	if len(fams) != len(req.IPs) {
		return nil, nil, fail(ReasonBadRequest, "requested addresses %s repeat a family", joinIPs(req.IPs))
	}
	for _, f := range fams {
		if !slices.Contains(req.Families, f) || req.Policy == SingleStack && f != req.Families[0] {
			return nil, nil, fail(ReasonWrongFamily, "requested address family %s does not match the Service's ipFamilies", f)
		}
	}
	if !familiesFit(req, fams) {
		return nil, nil, fail(ReasonWrongFamily, "requested addresses %s do not cover the Service's IP families", joinIPs(req.IPs))
	}
	p := a.poolOf(req.IPs)
	if p == nil {
		return nil, nil, fail(ReasonNotInPool, "requested %s is not in any one pool", joinIPs(req.IPs))
	}
	if req.Pool != "" && req.Pool != p.Name {
		return nil, nil, fail(ReasonNotInPool, "requested %s is in pool %q, not in the requested pool %q", joinIPs(req.IPs), p.Name, req.Pool)
	}
	if !admits(p.Pool, req) {
		return nil, nil, fail(ReasonNotAllowed, "pool %q does not serve this Service (serviceAllocation)", p.Name)
	}
	for _, ip := range req.IPs {
		if p.AvoidBuggyIPs && buggy(ip) {
			return nil, nil, fail(ReasonBuggyIP, "requested %s ends in .0 or .255 and pool %q has avoidBuggyIPs", ip, p.Name)
		}
		if err := a.checkSharing(req, ip); err != nil {
			return nil, nil, err
		}
	}
	return p, slices.Clone(req.IPs), nil
}

// checkSharing applies MetalLB's rules: every holder of ip other than this Service must allow sharing
// with the same key, have the same backend key, and use none of its ports.
func (a *Allocator) checkSharing(req Request, ip netip.Addr) error {
	u := a.byIP[ip]
	if u == nil {
		return nil
	}
	if a.canShare(req, u) {
		return nil
	}
	// Name the same holder every time: the first in order.
	others := make([]string, 0, len(u.holders))
	for k := range u.holders {
		if k != req.Key {
			others = append(others, k)
		}
	}
	sort.Strings(others)
	for _, k := range others {
		if err := sharingError(req, ip, k, u.holders[k]); err != nil {
			return err
		}
	}
	return nil
}

// canShare is checkSharing without the message, for the allocation loop.
func (a *Allocator) canShare(req Request, u *ipUse) bool {
	for k, h := range u.holders {
		if k == req.Key {
			continue
		}
		if h.sharing == "" || h.sharing != req.SharingKey || h.backend != req.BackendKey {
			return false
		}
		for _, p := range req.Ports {
			if slices.Contains(h.ports, p) {
				return false
			}
		}
	}
	return true
}

func sharingError(req Request, ip netip.Addr, k string, h holder) error {
	switch {
	case h.sharing == "":
		return fail(ReasonInUse, "%s is in use by %s, which does not allow sharing", ip, k)
	case req.SharingKey == "":
		return fail(ReasonInUse, "%s is in use by %s and this Service does not allow sharing", ip, k)
	case h.sharing != req.SharingKey:
		return fail(ReasonInUse, "%s is in use by %s with sharing key %q, not %q", ip, k, h.sharing, req.SharingKey)
	case h.backend != req.BackendKey:
		return fail(ReasonInUse, "%s is in use by %s, whose externalTrafficPolicy or selector differs", ip, k)
	}
	for _, p := range req.Ports {
		if slices.Contains(h.ports, p) {
			return fail(ReasonInUse, "%s is in use by %s on port %s", ip, k, p)
		}
	}
	return nil
}

// admits applies serviceAllocation: namespaces (by name or selector) and Service selectors.
func admits(p *model.Pool, req Request) bool {
	if len(p.Namespaces) > 0 || len(p.NamespaceSelectors) > 0 {
		if !slices.Contains(p.Namespaces, req.Namespace) &&
			(len(p.NamespaceSelectors) == 0 || !model.MatchesAny(p.NamespaceSelectors, req.NamespaceLabels)) {
			return false
		}
	}
	return model.MatchesAny(p.ServiceSelectors, req.Labels)
}

func familiesOf(ips []netip.Addr) []Family {
	var out []Family
	for _, ip := range ips {
		if f := familyOf(ip); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func sameSet(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, ip := range a {
		if !slices.Contains(b, ip) {
			return false
		}
	}
	return true
}

func joinIPs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ",")
}

func poolNames(ps []*poolState) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Name
	}
	return strings.Join(s, ",")
}
