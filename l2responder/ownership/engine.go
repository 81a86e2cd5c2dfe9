package ownership

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Config configures an Engine.
type Config struct {
	Node      string
	Namespace string
	// Client must talk to the API server directly (no cache): the claim check needs a
	// linearizable read.
	Client kubernetes.Interface
	Timing Timing // zero fields take DefaultTiming's
	// Owner, when set, is written into our Lease (the speaker's pod), so the garbage collector
	// deletes a Lease its speaker could not (killed, or the chart uninstalled).
	Owner  *metav1.OwnerReference
	Logger logr.Logger
	// OnChange is called, from the engine's goroutine, whenever the set of VIPs to answer for
	// changes; at is when the change took effect (for a lapse: the deadline, which may be a little
	// before the call). It must not block for long.
	OnChange func(answering map[netip.Addr]bool, at time.Time)
	// Abandon makes Run return on cancellation without releasing: what a crash looks like to the
	// others. Only tests set it.
	Abandon bool
	// Incarnation identifies this run (the LAN layer's run id); empty: a random one.
	Incarnation string
	// LAN, when set, enables the LAN fencing rule and answering through an API server outage
	// (docs/layer2.md, "Through an API server outage"); *membership.Membership implements it.
	LAN LAN
	// OutageLimit bounds answering without a fresh Lease (rule O) and is how long an unrenewed
	// Lease must stay in view before it may be fenced without LAN evidence (rule F2). Default 60 s.
	OutageLimit time.Duration
	// Registerer receives the engine's metrics (routelb_layer2_*; the outage gauge only with
	// LAN); nil: not exported.
	Registerer prometheus.Registerer
}

// LAN is the speaker-to-speaker evidence rules F and O use (package l2responder/membership).
type LAN interface {
	// Silent reports whether the run of node was heard, not for the hold time, and within the
	// outage limit (rule F1).
	Silent(node, run string, now time.Time) bool
	// Convict is Silent and, if so, stops promising anything to that run, atomically.
	Convict(node, run string) bool
	// Pardon undoes Convict after the fence it was for failed.
	Pardon(node, run string)
	// HoldUntil is until when every run that may have heard us, and was not voted dead by a
	// majority, promised not to fence us.
	HoldUntil() time.Time
	// SetRoster tells the LAN layer the nodes a majority is counted over (rules M, C, D).
	SetRoster(nodes []string)
	// SetFreshUntil tells the LAN layer until when our Lease is fresh: our heartbeats say whether
	// we are (rule C), and a node is voted dead only if the last one heard said it was not.
	SetFreshUntil(t time.Time)
	// Quorum is the majority evidence for rules M and C (see the Quorum type).
	Quorum() (applies bool, until time.Time, clean bool)
	// Dropped reports whether a majority voted the run of node dead (rule D).
	Dropped(node, run string) bool
	// Join contacts the members at addrs; Addr is ours, written into our Lease.
	Join(addrs []string)
	Addr() string
}

// DefaultOutageLimit is how long rule O may answer without the API server.
const DefaultOutageLimit = time.Minute

// Engine runs the ownership protocol for one node. Create it with New, feed it the VIPs with
// SetVIPs, ask it Owns on the packet path, and run it with Run.
type Engine struct {
	cfg         Config
	log         logr.Logger
	incarnation string
	kick        chan struct{}

	mu        sync.RWMutex
	m         *machine
	raw       map[string]*coordinationv1.Lease // other nodes' Leases as last seen, by node
	answering map[netip.Addr]bool
	changes   []change
	started   bool
	lapsedAt  time.Time // when a LAN update ended rule O, for refreshLocked's dating
	// convictedRV is, per node whose run we convicted, the Lease version we then fenced: a later
	// unfenced version was written after its owner read the fence and dropped every claim, so its
	// run may be given promises again.
	convictedRV map[string]string
	outage      prometheus.Gauge

	// Only touched by Run's goroutine.
	mine      *coordinationv1.Lease // our Lease as last written (or read back)
	written   []netip.Addr          // claims in mine
	lastTry   time.Time             // last renewal sent
	lastCheck time.Time             // last linearizable check of pending claims
}

// New returns an Engine; it claims nothing until Run.
func New(cfg Config) *Engine {
	if cfg.Timing.RenewInterval <= 0 {
		cfg.Timing.RenewInterval = DefaultTiming.RenewInterval
	}
	if cfg.Timing.LeaseDuration <= 0 {
		cfg.Timing.LeaseDuration = DefaultTiming.LeaseDuration
	}
	if cfg.Timing.Margin <= 0 {
		cfg.Timing.Margin = DefaultTiming.Margin
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = logr.Discard() // main passes the binary's logger
	}
	if cfg.Incarnation == "" {
		cfg.Incarnation = NewIncarnation()
	}
	if cfg.OutageLimit <= 0 {
		cfg.OutageLimit = DefaultOutageLimit
	}
	registerMetrics(cfg.Registerer)
	e := &Engine{
		cfg: cfg, log: cfg.Logger.WithValues("node", cfg.Node), incarnation: cfg.Incarnation,
		kick: make(chan struct{}, 1), m: newMachine(cfg.Node, cfg.Timing),
		raw: map[string]*coordinationv1.Lease{}, answering: map[netip.Addr]bool{},
		outage: outageGauge(cfg), convictedRV: map[string]string{},
	}
	if cfg.LAN != nil {
		e.m.lan = &lanRules{outageLimit: cfg.OutageLimit, silent: cfg.LAN.Silent, dropped: cfg.LAN.Dropped}
	}
	return e
}

// NewIncarnation returns a random run id, for Config.Incarnation and the LAN layer's run.
func NewIncarnation() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// LANChanged is the LAN layer's OnAck: a promise was extended, so rule O may hold longer (or again).
func (e *Engine) LANChanged() {
	e.mu.Lock()
	e.updateLANLocked(time.Now())
	queued := len(e.changes) > 0
	e.mu.Unlock()
	if queued {
		e.trigger()
	}
}

// updateLANLocked refreshes the LAN promises the machine relies on. If that ends rule O now (a new
// member has not acked yet), the lapse is dated now, not at the (earlier) new deadline.
func (e *Engine) updateLANLocked(now time.Time) {
	if e.cfg.LAN == nil {
		return
	}
	was := e.m.canAnswer(now)
	// Rule R with the evidence as last seen first: a majority's promises that lapsed and came
	// back since (a pardon) must still retire us.
	retire := e.m.mustRetire(now)
	e.cfg.LAN.SetRoster(e.m.roster())
	e.m.lanUntil = e.cfg.LAN.HoldUntil()
	e.m.quorum.Applies, e.m.quorum.Until, e.m.quorum.Clean = e.cfg.LAN.Quorum()
	e.m.refreshDead()
	if !e.m.retired && (retire || e.m.mustRetire(now)) {
		e.m.retire()
		e.log.Info("Retiring this run: it told the LAN it was in an outage and lost a majority's promises, so it may have been voted dead")
	}
	if was && !e.m.canAnswer(now) {
		e.lapsedAt = now
	}
	e.refreshLocked()
	e.lapsedAt = time.Time{}
}

// Validate checks the timings: a renewal must fit several times in the silence window.
func (t Timing) Validate() error {
	if t.Margin <= 0 || t.Margin >= t.LeaseDuration || t.RenewInterval <= 0 || 2*t.RenewInterval > t.LeaseDuration-t.Margin {
		return fmt.Errorf("lease timings need 0 < margin < duration and 2*renew <= duration-margin (renew %v, duration %v, margin %v)",
			t.RenewInterval, t.LeaseDuration, t.Margin)
	}
	return nil
}

// SetVIPs replaces the VIPs this node is to compete for, with their eligible nodes.
func (e *Engine) SetVIPs(vips map[netip.Addr]VIP) {
	e.mu.Lock()
	if !maps.EqualFunc(e.m.want, vips, func(a, b VIP) bool {
		return slices.Equal(a.Eligible, b.Eligible) && slices.Equal(a.Preferred, b.Preferred) && maps.Equal(a.Scores, b.Scores) && a.Key == b.Key
	}) {
		e.m.want = maps.Clone(vips)
		defer e.trigger()
	}
	e.mu.Unlock()
}

// Owns reports whether this node must answer for vip right now: it holds a confirmed claim and its
// last successful renewal is recent enough. It is cheap, for the responder's "still owned?" hook.
func (e *Engine) Owns(vip netip.Addr) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.answering[vip] && e.m.canAnswer(time.Now())
}

// Answering returns the VIPs this node answers for.
func (e *Engine) Answering() map[netip.Addr]bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return maps.Clone(e.answering)
}

// LiveNodes returns the nodes whose Lease is alive as seen from here (this one included while its
// Lease is fresh).
func (e *Engine) LiveNodes() map[string]bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	now := time.Now()
	out := map[string]bool{}
	if e.m.fresh(now) {
		out[e.cfg.Node] = true
	}
	for n := range e.m.others {
		if e.m.live(n, now) {
			out[n] = true
		}
	}
	return out
}

// Started reports whether the engine has seen every Lease once and written its own: before that,
// LiveNodes says nothing about the others.
func (e *Engine) Started() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.started
}

func (e *Engine) trigger() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Run takes part in the protocol until ctx is cancelled, then goes silent and deletes the node's
// Lease so the others take over at once.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.cfg.Timing.Validate(); err != nil {
		return err
	}
	if err := e.startInformer(ctx); err != nil {
		return err
	}
	if err := e.initLease(ctx); err != nil {
		return err
	}
	e.joinLAN()
	e.mu.Lock()
	e.started = true
	e.mu.Unlock()
	e.log.Info("Layer 2 ownership started", "lease", LeaseName(e.cfg.Node), "incarnation", e.incarnation)
	e.trigger()
	for {
		e.cycle(ctx)
		if e.isRetired() {
			e.shutdown()
			return ErrRetired
		}
		if !e.wait(ctx) {
			break
		}
	}
	if e.cfg.Abandon {
		return nil
	}
	e.shutdown()
	return nil
}

func (e *Engine) isRetired() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.m.retired
}

// wait sleeps until the next renewal, a kick or the next time the machine's view changes by itself.
func (e *Engine) wait(ctx context.Context) bool {
	now := time.Now()
	next := e.lastTry.Add(e.cfg.Timing.RenewInterval)
	e.mu.RLock()
	if w := e.m.nextWake(now); !w.IsZero() && w.Before(next) {
		next = w
	}
	e.mu.RUnlock()
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-e.kick:
	case <-timer.C:
	}
	return true
}

func (e *Engine) startInformer(ctx context.Context) error {
	sel := labels.SelectorFromSet(labels.Set{LabelComponent: ComponentValue}).String()
	f := informers.NewSharedInformerFactoryWithOptions(e.cfg.Client, 0, informers.WithNamespace(e.cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	inf := f.Coordination().V1().Leases().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.seen(obj) },
		UpdateFunc: func(_, obj any) { e.seen(obj) },
		DeleteFunc: e.gone,
	}); err != nil {
		return err
	}
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	return nil
}

func (e *Engine) seen(obj any) {
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	e.observe(l, time.Now())
	e.trigger()
}

func (e *Engine) observe(l *coordinationv1.Lease, now time.Time) {
	v, err := viewOf(l)
	if err != nil {
		e.log.Error(err, "Unreadable claims in Lease", "lease", l.Name)
	}
	if v.Node == "" || v.Node == e.cfg.Node {
		return
	}
	e.mu.Lock()
	e.raw[v.Node] = l
	e.m.observe(v, now)
	rv, convicted := e.convictedRV[v.Node]
	pardon := convicted && v.FencedBy == "" && l.ResourceVersion != rv
	if pardon {
		delete(e.convictedRV, v.Node)
	}
	e.mu.Unlock()
	if pardon {
		e.cfg.LAN.Pardon(v.Node, v.Incarnation)
	}
}

func (e *Engine) gone(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == e.cfg.Node {
		return
	}
	e.mu.Lock()
	delete(e.raw, *l.Spec.HolderIdentity)
	e.m.forget(*l.Spec.HolderIdentity)
	e.mu.Unlock()
	e.trigger()
}

// initLease writes our Lease with no claims and a new incarnation, taking it over from a previous
// run of this speaker: whatever that run claimed is released, and its late renewals will conflict.
func (e *Engine) initLease(ctx context.Context) error {
	leases := e.cfg.Client.CoordinationV1().Leases(e.cfg.Namespace)
	for {
		want := newLease(e.cfg.Namespace, e.cfg.Node, e.incarnation, e.cfg.Timing.LeaseDuration, e.cfg.Owner, e.lanAddr())
		sent := time.Now()
		cur, err := leases.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			cur, err = leases.Create(ctx, want, metav1.CreateOptions{})
		case err == nil:
			e.holdBack(cur, sent)
			want.ResourceVersion = cur.ResourceVersion
			if cur.Spec.LeaseTransitions != nil {
				n := *cur.Spec.LeaseTransitions + 1
				want.Spec.LeaseTransitions = &n
			}
			cur, err = leases.Update(ctx, want, metav1.UpdateOptions{})
		}
		if err == nil {
			e.mine = cur
			e.mu.Lock()
			e.m.renewedOK(plan{}, sent)
			e.tellFreshLocked()
			e.mu.Unlock()
			leaseWrites.WithLabelValues("ok").Inc()
			return nil
		}
		leaseWrites.WithLabelValues("error").Inc()
		e.log.Error(err, "Cannot write own Lease; retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.cfg.Timing.RenewInterval):
		}
	}
}

// holdBack remembers what our node's previous run claimed (see machine.heldBack).
func (e *Engine) holdBack(prev *coordinationv1.Lease, at time.Time) {
	if e.cfg.LAN == nil {
		return
	}
	claims, _ := DecodeClaims(prev.Annotations[AnnotationClaims])
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m.startedAt = at
	e.m.heldBack = map[netip.Addr]bool{}
	for _, v := range claims {
		e.m.heldBack[v] = true
	}
}

// cycle runs one round: fence expired Leases in the way, go silent for released VIPs, write our
// claims (which is also the renewal), check new claims, and publish what to answer.
func (e *Engine) cycle(ctx context.Context) {
	now := time.Now()
	e.mu.Lock()
	e.updateLANLocked(now)
	p := e.m.plan(now)
	pendingBefore := e.m.pendingClaims()
	e.mu.Unlock()
	due := !now.Before(e.lastTry.Add(e.cfg.Timing.RenewInterval))
	write := due || len(p.fences) > 0 || len(p.released) > 0 || !slices.Equal(p.claims, e.written)
	// A pending claim is already written: re-check it at most once per interval, without writing,
	// so a contested VIP costs reads, not writes, on every event.
	recheck := pendingBefore && !now.Before(e.lastCheck.Add(e.cfg.Timing.RenewInterval))
	if !write && !recheck {
		e.publish()
		return
	}
	for _, f := range p.fences {
		if !e.fence(ctx, f) {
			p.fenceFailed(f.Node)
		}
	}
	e.mu.Lock()
	e.m.release(p)
	e.refreshLocked()
	e.mu.Unlock()
	e.publish()
	if !write || e.renew(ctx, p) {
		e.checkClaims(ctx)
	}
	e.publish()
}

// renew writes our Lease with p's claims; it reports success.
func (e *Engine) renew(ctx context.Context, p plan) bool {
	l := e.mine.DeepCopy()
	l.Annotations[AnnotationClaims] = EncodeClaims(p.claims)
	l.Annotations[AnnotationIncarnation] = e.incarnation
	delete(l.Annotations, AnnotationFencedBy)
	if a := e.lanAddr(); a != "" {
		l.Annotations[AnnotationLAN] = a
	}
	holder := e.cfg.Node
	l.Spec.HolderIdentity = &holder
	now := metav1.NowMicro()
	l.Spec.RenewTime = &now
	// A renewal answered after the silence deadline is useless: do not wait longer than that.
	wctx, cancel := context.WithTimeout(ctx, e.cfg.Timing.LeaseDuration-e.cfg.Timing.Margin)
	defer cancel()
	sent := time.Now()
	e.lastTry = sent
	out, err := e.cfg.Client.CoordinationV1().Leases(e.cfg.Namespace).Update(wctx, l, metav1.UpdateOptions{})
	if err == nil {
		leaseWrites.WithLabelValues("ok").Inc()
		e.mine, e.written = out, p.claims
		e.mu.Lock()
		e.m.renewedOK(p, sent)
		e.tellFreshLocked()
		e.refreshLocked()
		e.mu.Unlock()
		return true
	}
	leaseWrites.WithLabelValues("error").Inc()
	if ctx.Err() != nil {
		return false
	}
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		e.recover(ctx)
		return false
	}
	e.log.V(1).Info("Lease renewal failed", "error", err.Error())
	return false
}

// recover reads our Lease back after a conflicting or failed write. If another node fenced it, or
// it is gone, or another run of this speaker took it, everything we claimed may be someone else's
// now: drop it all. If it is simply a write of ours that landed after its timeout, adopt it.
func (e *Engine) recover(ctx context.Context) {
	leases := e.cfg.Client.CoordinationV1().Leases(e.cfg.Namespace)
	cur, err := leases.Get(ctx, LeaseName(e.cfg.Node), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		e.loseAll("Lease deleted")
		if c, err := leases.Create(ctx, newLease(e.cfg.Namespace, e.cfg.Node, e.incarnation, e.cfg.Timing.LeaseDuration, e.cfg.Owner, e.lanAddr()), metav1.CreateOptions{}); err == nil {
			e.mine = c
		}
	case err != nil:
		return
	case cur.Annotations[AnnotationFencedBy] != "" || cur.Annotations[AnnotationIncarnation] != e.incarnation:
		e.loseAll("Lease fenced by " + cur.Annotations[AnnotationFencedBy])
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		e.mine = cur
	default:
		e.mine = cur
		e.written, _ = DecodeClaims(cur.Annotations[AnnotationClaims])
	}
}

func (e *Engine) loseAll(why string) {
	e.mu.Lock()
	n := len(e.m.claims)
	e.m.lost()
	e.refreshLocked()
	e.mu.Unlock()
	e.written = nil
	if n > 0 {
		ownershipChanges.WithLabelValues("fenced").Add(float64(n))
	}
	e.log.Info("Lost every claim", "reason", why, "claims", n)
	e.publish()
}

// fence empties an expired Lease's claims with a compare-and-swap on the version we judged expired:
// if its node renewed meanwhile, the write conflicts and nothing is taken.
func (e *Engine) fence(ctx context.Context, v LeaseView) bool {
	e.mu.RLock()
	l := e.raw[v.Node].DeepCopy()
	e.mu.RUnlock()
	if l == nil || l.ResourceVersion != v.ResourceVersion {
		return false
	}
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[AnnotationClaims] = ""
	l.Annotations[AnnotationFencedBy] = e.cfg.Node
	convicted, ok := e.lanPermits(v)
	if !ok {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, e.cfg.Timing.LeaseDuration)
	defer cancel()
	leases := e.cfg.Client.CoordinationV1().Leases(e.cfg.Namespace)
	out, err := leases.Update(wctx, l, metav1.UpdateOptions{})
	if err != nil {
		fences.WithLabelValues("failed").Inc()
		if convicted {
			// Nothing was taken (or we cannot know: then the run's next renewal conflicts, and it
			// is silent anyway, since we gave it no promise since the conviction).
			if apierrors.IsConflict(err) {
				e.mu.Lock()
				delete(e.convictedRV, v.Node)
				e.mu.Unlock()
				e.cfg.LAN.Pardon(v.Node, v.Incarnation)
			}
		}
		if apierrors.IsConflict(err) {
			if cur, gerr := leases.Get(wctx, l.Name, metav1.GetOptions{}); gerr == nil {
				e.observe(cur, time.Now())
			}
		}
		return false
	}
	fences.WithLabelValues("ok").Inc()
	e.log.Info("Fenced expired Lease", "lease", l.Name, "owner", v.Node, "claims", len(v.Claims))
	e.observe(out, time.Now())
	return true
}

// checkClaims confirms pending claims against a linearizable list of every Lease, read after our
// claims were written.
func (e *Engine) checkClaims(ctx context.Context) {
	e.mu.RLock()
	need := e.m.pendingClaims()
	e.mu.RUnlock()
	if !need {
		return
	}
	e.lastCheck = time.Now()
	wctx, cancel := context.WithTimeout(ctx, e.cfg.Timing.LeaseDuration)
	defer cancel()
	sel := labels.SelectorFromSet(labels.Set{LabelComponent: ComponentValue}).String()
	list, err := e.cfg.Client.CoordinationV1().Leases(e.cfg.Namespace).List(wctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return
	}
	var views []LeaseView
	for i := range list.Items {
		l := &list.Items[i]
		v, _ := viewOf(l)
		if v.Node == e.cfg.Node {
			if l.ResourceVersion != e.mine.ResourceVersion {
				return // changed behind our back: the next write finds out how
			}
			continue
		}
		views = append(views, v)
		e.mu.Lock()
		if old := e.raw[v.Node]; old == nil || old.ResourceVersion != l.ResourceVersion {
			e.raw[v.Node] = l
		}
		e.mu.Unlock()
	}
	e.mu.Lock()
	_, withdrawn := e.m.check(views, time.Now())
	e.refreshLocked()
	e.mu.Unlock()
	if len(withdrawn) > 0 {
		e.log.Info("Withdrew contested claims", "vips", EncodeClaims(withdrawn))
		e.trigger()
	}
}

// refreshLocked recomputes what to answer right after the machine changed, under the same lock, so
// Owns never sees the machine and the answered set disagree. It queues the change for deliver.
func (e *Engine) refreshLocked() {
	now := time.Now()
	next := e.m.answering(now)
	if e.outage != nil {
		v := 0.0
		if e.m.inOutage(now) && len(next) > 0 {
			v = 1
		}
		e.outage.Set(v)
	}
	if maps.Equal(e.answering, next) {
		return
	}
	at := now
	if !e.m.renewed.IsZero() && !e.m.canAnswer(now) {
		at = e.m.answerDeadline() // Owns went false exactly then
		if e.lapsedAt.After(at) {
			at = e.lapsedAt // or then, when a LAN update ended rule O early
		}
		if at.After(now) {
			at = now // retired (rule R) before the deadline
		}
	}

	for vip := range next {
		if !e.answering[vip] {
			ownershipChanges.WithLabelValues("acquired").Inc()
		}
	}
	for vip := range e.answering {
		if !next[vip] {
			ownershipChanges.WithLabelValues("released").Inc()
		}
	}
	vipsAnswered.Set(float64(len(next)))
	e.answering = next
	e.changes = append(e.changes, change{maps.Clone(next), at})
}

type change struct {
	answering map[netip.Addr]bool
	at        time.Time
}

// publish refreshes after time alone may have changed things (a lapse), then delivers queued
// changes to OnChange, outside the lock.
func (e *Engine) publish() {
	e.mu.Lock()
	e.refreshLocked()
	queued := e.changes
	e.changes = nil
	e.mu.Unlock()
	if e.cfg.OnChange == nil {
		return
	}
	for _, c := range queued {
		e.cfg.OnChange(c.answering, c.at)
	}
}

// shutdown goes silent, then deletes our Lease (only the version we wrote) so the others take over
// on the delete event instead of waiting for expiry.
func (e *Engine) shutdown() {
	e.mu.Lock()
	e.m.lost()
	e.refreshLocked()
	e.mu.Unlock()
	e.publish()
	if e.mine == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rv := e.mine.ResourceVersion
	err := e.cfg.Client.CoordinationV1().Leases(e.cfg.Namespace).Delete(ctx, e.mine.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		e.log.Error(err, "Could not delete own Lease on shutdown; the others take over when it expires")
		return
	}
	leaseWrites.WithLabelValues("ok").Inc()
	e.log.Info("Released every VIP and deleted own Lease")
}

// tellFreshLocked gives the LAN layer our new freshness deadline, for our heartbeats (rule C).
func (e *Engine) tellFreshLocked() {
	if e.cfg.LAN != nil && !e.m.retired {
		e.cfg.LAN.SetFreshUntil(e.m.deadline())
	}
}

// lanAddr is our memberlist address for our Lease, "" without the LAN layer.
func (e *Engine) lanAddr() string {
	if e.cfg.LAN == nil {
		return ""
	}
	return e.cfg.LAN.Addr()
}

// joinLAN joins the memberlist members whose Leases we see (they wrote their address in them).
func (e *Engine) joinLAN() {
	if e.cfg.LAN == nil {
		return
	}
	e.mu.RLock()
	var addrs []string
	for _, l := range e.raw {
		if a := l.Annotations[AnnotationLAN]; a != "" {
			addrs = append(addrs, a)
		}
	}
	e.mu.RUnlock()
	e.cfg.LAN.Join(addrs)
}

// lanPermits applies rule F to a fence about to be written: without the LAN layer, or by F2 (the
// Lease unrenewed in our view for the outage limit), it is allowed; by F1 only if the run is
// silent on the LAN, which convicts it (we ack it no more). convicted says whether to pardon it if
// the fence fails.
func (e *Engine) lanPermits(v LeaseView) (convicted, ok bool) {
	if e.cfg.LAN == nil {
		return false, true
	}
	e.mu.RLock()
	o := e.m.others[v.Node]
	byLimit := o != nil && o.ResourceVersion == v.ResourceVersion && e.m.byOutageLimit(o, time.Now())
	e.mu.RUnlock()
	if byLimit {
		return false, true
	}
	if e.cfg.LAN.Convict(v.Node, v.Incarnation) {
		e.mu.Lock()
		e.convictedRV[v.Node] = v.ResourceVersion
		e.mu.Unlock()
		return true, true
	}
	fences.WithLabelValues("lan_refused").Inc()
	return false, false
}

// ErrRetired is returned by Run when rule R stopped this run (docs/layer2.md, "Replacing an owner
// during an outage"): the speaker must start a new run (the process exits and is restarted).
var ErrRetired = errors.New("layer 2 ownership run retired: it may have been voted dead during an API server outage")

// ErrNotStarted is returned by helpers that need Run to have started.
var ErrNotStarted = errors.New("ownership engine not started")
