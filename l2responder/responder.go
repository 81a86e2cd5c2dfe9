package l2responder

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Config fields left zero.
const (
	DefaultGratuitousBurst = 3
	DefaultResyncPeriod    = 10 * time.Second
)

// DefaultGratuitousRepeats are the offsets, from take-over, of the repeated
// announcements. Linux ignores a second update of a neighbour entry within
// locktime (1 s by default), so at least one repeat must land after that.
var DefaultGratuitousRepeats = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// Config configures a Responder. The zero value is usable.
type Config struct {
	// Logger is the binary's logger (main names it); the zero value discards.
	Logger logr.Logger

	// Registerer, when set, is the binary's registry: New registers the routelb_layer2_*
	// counters on it, and with MetalLBMetrics MetalLB's metallb_layer2_* ones too. The counters
	// count either way; nil only means nobody serves them (unit tests).
	Registerer     prometheus.Registerer
	MetalLBMetrics bool

	// NodeAddresses, when set, are the node's own addresses (its InternalIPs):
	// a VIP announced without an interface list is answered only on the
	// interfaces holding one of them (routelb's opt-in). When empty, every
	// eligible interface is used, as MetalLB does.
	NodeAddresses []netip.Addr

	// ExcludeInterfaces, when set, matches interfaces never answered on
	// (MetalLB's announcedInterfacesToExclude, joined into one expression).
	ExcludeInterfaces *regexp.Regexp

	// StillOwned, when set, is asked on every request for an owned VIP and
	// before every gratuitous announcement, so an owner whose lease expired
	// goes silent at once instead of at the next SetOwned. It runs on the
	// packet path: it must be fast and must not block.
	StillOwned func(vip netip.Addr) bool

	// GratuitousBurst announcements are sent at take-over (default 3),
	// then one at each of GratuitousRepeats (default DefaultGratuitousRepeats).
	GratuitousBurst   int
	GratuitousRepeats []time.Duration

	// ResyncPeriod is how often interfaces are re-read to follow links going
	// up or down and addresses moving (default 10s).
	ResyncPeriod time.Duration
}

// Responder answers ARP and NDP for the VIPs this node owns, on the
// interfaces they are to be announced on.
type Responder struct {
	cfg  Config
	log  logr.Logger
	sys  system
	kick chan struct{}

	mu     sync.RWMutex
	owned  map[netip.Addr][]string // desired; nil list = default interfaces
	active map[pair]bool           // (vip, interface) answered right now
	usable map[string]bool         // eligible interfaces at the last listing; nil before it

	// Only touched by the Run goroutine.
	socks      map[sockKey]ifaceResponder
	openErrs   map[sockKey]string
	announcers map[pair]context.CancelFunc
	wg         sync.WaitGroup
}

// pair is one VIP on one interface: the unit that is answered and announced.
type pair struct {
	vip   netip.Addr
	iface string
}

// New returns a Responder, its metrics registered on cfg.Registerer; it does nothing until Run
// is called.
func New(cfg Config) (*Responder, error) {
	if cfg.Registerer != nil {
		if err := RegisterMetrics(cfg.Registerer, cfg.MetalLBMetrics); err != nil {
			return nil, fmt.Errorf("registering the layer 2 responder's metrics: %w", err)
		}
	}
	return newResponder(cfg, osSystem{}), nil
}

func newResponder(cfg Config, sys system) *Responder {
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = logr.Discard()
	}
	if cfg.GratuitousBurst <= 0 {
		cfg.GratuitousBurst = DefaultGratuitousBurst
	}
	if cfg.GratuitousRepeats == nil {
		cfg.GratuitousRepeats = DefaultGratuitousRepeats
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	return &Responder{
		cfg:        cfg,
		log:        cfg.Logger,
		sys:        sys,
		kick:       make(chan struct{}, 1),
		owned:      map[netip.Addr][]string{},
		active:     map[pair]bool{},
		socks:      map[sockKey]ifaceResponder{},
		openErrs:   map[sockKey]string{},
		announcers: map[pair]context.CancelFunc{},
	}
}

// SetOwned replaces the whole set of owned VIPs. Each VIP maps to the
// interfaces to answer on (an L2Advertisement's `interfaces`); an empty list
// means the default interfaces (see Config.NodeAddresses). An invalid VIP
// rejects the whole call and changes nothing.
func (r *Responder) SetOwned(vips map[netip.Addr][]string) error {
	next := make(map[netip.Addr][]string, len(vips))
	for vip, ifaces := range vips {
		n, err := normalizeVIP(vip)
		if err != nil {
			return err
		}
		next[n] = normalizeIfaces(ifaces)
	}
	r.mu.Lock()
	r.owned = next
	r.mu.Unlock()
	r.trigger()
	return nil
}

// Announce takes ownership of one VIP (or changes its interfaces) without
// touching the others. Answering and gratuitous announcements start within
// moments, on the Run goroutine.
func (r *Responder) Announce(vip netip.Addr, interfaces []string) error {
	n, err := normalizeVIP(vip)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.owned[n] = normalizeIfaces(interfaces)
	r.mu.Unlock()
	r.trigger()
	return nil
}

// Withdraw gives up one VIP. Requests for it go unanswered from the moment
// Withdraw returns; pending gratuitous repeats are cancelled.
func (r *Responder) Withdraw(vip netip.Addr) {
	n, err := normalizeVIP(vip)
	if err != nil {
		return
	}
	r.mu.Lock()
	delete(r.owned, n)
	r.mu.Unlock()
	r.trigger()
}

// Owned returns the VIPs this node has been told it owns, with their
// configured interface lists.
func (r *Responder) Owned() map[netip.Addr][]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return maps.Clone(r.owned)
}

// Announcing returns, per VIP, the interfaces it is being answered on right
// now: what Owned asked for, minus interfaces that are down, missing or
// could not be opened.
func (r *Responder) Announcing() map[netip.Addr][]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[netip.Addr][]string{}
	for p := range r.active {
		out[p.vip] = append(out[p.vip], p.iface)
	}
	for vip := range out {
		slices.Sort(out[vip])
	}
	return out
}

// Usable reports the interfaces that can be answered on, as last listed (nil
// before the first listing): a VIP whose interface list names none of them is
// answered nowhere here.
func (r *Responder) Usable() map[string]bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return maps.Clone(r.usable)
}

// verdict decides, at the moment a request arrives, whether vip is answered
// on iface; it returns "" to answer, or the reason to stay silent.
func (r *Responder) verdict(vip netip.Addr, iface string) string {
	r.mu.RLock()
	_, owned := r.owned[vip]
	here := r.active[pair{vip, iface}]
	r.mu.RUnlock()
	switch {
	case !owned:
		return ReasonNotOwned
	case !here:
		return ReasonWrongInterface
	case r.cfg.StillOwned != nil && !r.cfg.StillOwned(vip):
		return ReasonOwnershipLost
	}
	return ""
}

func (r *Responder) trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// retryPeriod is how soon Run tries again when a socket could not be opened,
// typically because a fresh interface's link-local address is still tentative.
const retryPeriod = time.Second

// Run opens and closes per-interface responders as ownership and interfaces
// change, until ctx is cancelled; then it closes every socket and returns.
// Call it once, in its own goroutine, in the network namespace to serve.
func (r *Responder) Run(ctx context.Context) error {
	defer r.shutdown()
	for {
		wait := r.cfg.ResyncPeriod
		if !r.reconcile(ctx) {
			wait = retryPeriod
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-r.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func normalizeVIP(vip netip.Addr) (netip.Addr, error) {
	if !vip.IsValid() {
		return netip.Addr{}, fmt.Errorf("invalid VIP %v", vip)
	}
	n := vip.Unmap().WithZone("")
	if n.IsUnspecified() || n.IsMulticast() || n.IsLoopback() {
		return netip.Addr{}, fmt.Errorf("VIP %s cannot be answered for on a link", n)
	}
	return n, nil
}

func normalizeIfaces(ifaces []string) []string {
	if len(ifaces) == 0 {
		return nil
	}
	out := slices.Clone(ifaces)
	slices.Sort(out)
	return slices.Compact(out)
}
