package l2responder

import (
	"bytes"
	"context"
	"maps"
	"net"
	"net/netip"
	"time"
)

// ifaceResponder answers one protocol on one interface.
type ifaceResponder interface {
	serve()                        // read loop; returns when closed or the socket fails
	watch(vip netip.Addr) error    // start receiving requests for vip (NDP joins a group)
	unwatch(vip netip.Addr)        // undo watch
	announce(vip netip.Addr) error // one gratuitous announcement
	iface() net.Interface
	done() <-chan struct{}
	close()
}

// sockKey names one per-interface responder.
type sockKey struct {
	proto string
	iface string
}

func protoOf(vip netip.Addr) string {
	if vip.Is4() {
		return protoARP
	}
	return protoNDP
}

// reconcile brings sockets, answered pairs and announcements in line with
// what is owned and which interfaces exist. It reports false when some
// socket could not be opened, so Run retries soon rather than at the next
// resync.
func (r *Responder) reconcile(ctx context.Context) bool {
	links, err := r.sys.links()
	if err != nil {
		// Keep answering as before: a failed listing says nothing about ownership.
		r.log.Error(err, "Listing interfaces failed; keeping current state")
		return false
	}
	usable := map[string]bool{}
	for _, l := range links {
		if eligible(l, r.cfg.ExcludeInterfaces) {
			usable[l.ifi.Name] = true
		}
	}
	r.mu.Lock()
	owned := maps.Clone(r.owned)
	r.usable = usable
	r.mu.Unlock()

	want := desiredPairs(owned, links, r.cfg.NodeAddresses, r.cfg.ExcludeInterfaces)
	r.dropStale(links)
	complete := r.openNeeded(want)
	r.apply(ctx, want)
	r.closeUnused()
	return complete
}

// dropStale closes responders whose interface vanished, was re-created or
// changed MAC, or whose socket died; their pairs are then new again and get
// re-announced once reopened.
func (r *Responder) dropStale(links []link) {
	current := map[string]net.Interface{}
	for _, l := range links {
		current[l.ifi.Name] = l.ifi
	}
	for key, s := range r.socks {
		now, ok := current[key.iface]
		was := s.iface()
		if ok && now.Index == was.Index && bytes.Equal(now.HardwareAddr, was.HardwareAddr) && !isDone(s) {
			continue
		}
		r.log.Info("Closing responder", "protocol", key.proto, "interface", key.iface)
		r.closeSock(key)
	}
}

// openNeeded opens a responder for every interface and protocol some pair
// needs; pairs whose socket cannot be opened are dropped from want.
func (r *Responder) openNeeded(want map[pair]net.Interface) bool {
	complete := true
	for p, ifi := range want {
		key := sockKey{protoOf(p.vip), p.iface}
		if _, ok := r.socks[key]; ok {
			continue
		}
		s, err := r.open(key.proto, ifi)
		if err != nil {
			r.logOpenError(key, err)
			delete(want, p)
			complete = false
			continue
		}
		delete(r.openErrs, key)
		r.socks[key] = s
		r.wg.Add(1)
		go func() { defer r.wg.Done(); s.serve() }()
		r.log.Info("Started responder", "protocol", key.proto, "interface", key.iface)
	}
	return complete
}

// logOpenError logs an open failure once per distinct error, since Run
// retries every second while it persists.
func (r *Responder) logOpenError(key sockKey, err error) {
	if r.openErrs[key] == err.Error() {
		return
	}
	r.openErrs[key] = err.Error()
	r.log.Error(err, "Cannot open responder", "protocol", key.proto, "interface", key.iface)
}

func (r *Responder) open(proto string, ifi net.Interface) (ifaceResponder, error) {
	if proto == protoARP {
		conn, err := r.sys.listenARP(&ifi)
		if err != nil {
			return nil, err
		}
		return newARPResponder(r, ifi, conn), nil
	}
	conn, src, err := r.sys.listenNDP(&ifi)
	if err != nil {
		return nil, err
	}
	return newNDPResponder(r, ifi, conn, src), nil
}

// apply makes the active pairs equal want: new pairs are watched, made
// answerable and announced; gone pairs stop being answered and announced.
func (r *Responder) apply(ctx context.Context, want map[pair]net.Interface) {
	r.mu.Lock()
	var gone []pair
	for p := range r.active {
		if _, ok := want[p]; !ok {
			delete(r.active, p)
			gone = append(gone, p)
		}
	}
	r.mu.Unlock()
	for _, p := range gone {
		r.stopPair(p)
	}
	for p := range want {
		r.mu.RLock()
		already := r.active[p]
		r.mu.RUnlock()
		if !already {
			r.startPair(ctx, p)
		}
	}
}

func (r *Responder) startPair(ctx context.Context, p pair) {
	key := sockKey{protoOf(p.vip), p.iface}
	s := r.socks[key]
	if err := s.watch(p.vip); err != nil {
		r.log.Error(err, "Cannot receive requests for VIP", "ip", p.vip, "interface", p.iface)
		return
	}
	r.mu.Lock()
	r.active[p] = true
	r.mu.Unlock()
	r.log.Info("Answering for VIP", "ip", p.vip, "interface", p.iface)
	actx, cancel := context.WithCancel(ctx)
	r.announcers[p] = cancel
	r.wg.Add(1)
	go r.announceLoop(actx, p, s)
}

func (r *Responder) stopPair(p pair) {
	if cancel, ok := r.announcers[p]; ok {
		cancel()
		delete(r.announcers, p)
	}
	if s, ok := r.socks[sockKey{protoOf(p.vip), p.iface}]; ok {
		s.unwatch(p.vip)
	}
	r.log.Info("Stopped answering for VIP", "ip", p.vip, "interface", p.iface)
}

// closeUnused closes responders no active pair needs, so a node owning no
// VIP holds no sockets and no multicast memberships.
func (r *Responder) closeUnused() {
	used := map[sockKey]bool{}
	r.mu.RLock()
	for p := range r.active {
		used[sockKey{protoOf(p.vip), p.iface}] = true
	}
	r.mu.RUnlock()
	for key := range r.socks {
		if !used[key] {
			r.log.Info("Closing unused responder", "protocol", key.proto, "interface", key.iface)
			r.closeSock(key)
		}
	}
}

// closeSock closes one responder and forgets the pairs it served.
func (r *Responder) closeSock(key sockKey) {
	r.mu.Lock()
	var gone []pair
	for p := range r.active {
		if p.iface == key.iface && protoOf(p.vip) == key.proto {
			delete(r.active, p)
			gone = append(gone, p)
		}
	}
	r.mu.Unlock()
	for _, p := range gone {
		r.stopPair(p)
	}
	r.socks[key].close()
	delete(r.socks, key)
}

// announceLoop sends the gratuitous schedule for one pair: a burst at once,
// then the repeats, stopping as soon as the pair is no longer answered.
func (r *Responder) announceLoop(ctx context.Context, p pair, s ifaceResponder) {
	defer r.wg.Done()
	start := time.Now()
	for _, at := range r.schedule() {
		if !sleepUntil(ctx, start.Add(at)) {
			return
		}
		if r.verdict(p.vip, p.iface) != "" {
			return
		}
		if err := s.announce(p.vip); err != nil {
			r.log.Error(err, "Gratuitous announcement failed", "ip", p.vip, "interface", p.iface)
			return
		}
	}
}

func (r *Responder) schedule() []time.Duration {
	out := make([]time.Duration, r.cfg.GratuitousBurst, r.cfg.GratuitousBurst+len(r.cfg.GratuitousRepeats))
	return append(out, r.cfg.GratuitousRepeats...)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func isDone(s ifaceResponder) bool {
	select {
	case <-s.done():
		return true
	default:
		return false
	}
}

// shutdown stops every announcement and closes every socket.
func (r *Responder) shutdown() {
	for key := range r.socks {
		r.closeSock(key)
	}
	r.wg.Wait()
}
