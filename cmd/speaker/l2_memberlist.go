package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/l2responder/membership"
	"github.com/routelb/routelb/l2responder/ownership"
)

// memberlistOptions are the flags of Layer 2's LAN layer (docs/layer2.md, "Through an API server
// outage"): off by default, and then nothing below runs.
type memberlistOptions struct {
	Enabled       bool
	BindAddr      string
	AdvertiseAddr string
	Port          int
	SecretFile    string
	Hold          time.Duration
	Interval      time.Duration
	OutageLimit   time.Duration
}

func registerMemberlistFlags(fs *flag.FlagSet, o *memberlistOptions) {
	fs.BoolVar(&o.Enabled, "l2-memberlist", false,
		"keep answering Layer 2 VIPs through an API server outage, on evidence from the other speakers (memberlist on the node network); set it on every speaker or on none")
	fs.StringVar(&o.BindAddr, "l2-memberlist-bind-addr", "", "address memberlist listens on (default: every address)")
	fs.StringVar(&o.AdvertiseAddr, "l2-memberlist-advertise-addr", "", "address the other speakers reach this one at (default: memberlist's choice of a private address)")
	fs.IntVar(&o.Port, "l2-memberlist-port", membership.DefaultPort, "memberlist port, UDP and TCP")
	fs.StringVar(&o.SecretFile, "l2-memberlist-secret-file", "/etc/routelb/memberlist/secretkey",
		"file whose content (hashed with SHA-256) is the memberlist encryption key; the same on every speaker")
	fs.DurationVar(&o.Hold, "l2-lan-hold", membership.DefaultHold,
		"how long after it last heard an owner another speaker may take its VIPs if its Lease is expired too")
	fs.DurationVar(&o.Interval, "l2-heartbeat-interval", membership.DefaultInterval, "how often each speaker heartbeats every other one")
	fs.DurationVar(&o.OutageLimit, "l2-outage-limit", ownership.DefaultOutageLimit,
		"longest an owner answers without renewing its Lease; an unrenewed Lease is taken over after this much without LAN evidence")
}

// memberlistKey reads the shared secret and derives the 32-byte AES key from it, so any string
// (MetalLB's memberlist Secret, say) works as long as every speaker reads the same one.
func memberlistKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--l2-memberlist-secret-file: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("--l2-memberlist-secret-file %s: empty", path)
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}

// lanLayer is the speaker's memberlist and the engine it reports to.
type lanLayer struct {
	mem *membership.Membership
	eng atomic.Pointer[ownership.Engine]
}

// newLAN sets the LAN layer into cfg when --l2-memberlist is on; nil otherwise.
func newLAN(o *memberlistOptions, cfg *ownership.Config, reg prometheus.Registerer, log logr.Logger) (*lanLayer, error) {
	if !o.Enabled {
		return nil, nil
	}
	if o.OutageLimit < o.Hold {
		return nil, errors.New("--l2-outage-limit must not be shorter than --l2-lan-hold")
	}
	key, err := memberlistKey(o.SecretFile)
	if err != nil {
		return nil, err
	}
	l := &lanLayer{}
	cfg.Incarnation = ownership.NewIncarnation()
	l.mem, err = membership.New(membership.Config{Node: cfg.Node, Run: cfg.Incarnation, BindAddr: o.BindAddr,
		BindPort: o.Port, AdvertiseAddr: o.AdvertiseAddr, SecretKey: key, Hold: o.Hold, Interval: o.Interval,
		Window: o.OutageLimit, Logger: log, Registerer: reg,
		OnAck: func() {
			if e := l.eng.Load(); e != nil {
				e.LANChanged()
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("--l2-memberlist: %w", err)
	}
	cfg.LAN, cfg.OutageLimit, cfg.Registerer = l.mem, o.OutageLimit, reg
	return l, nil
}

// run wraps the engine's Run: memberlist starts first (the engine writes its address into the
// Lease), and leaves only after the engine stopped, since leaving tells the others we can no
// longer fence anybody.
func (l *lanLayer) run(eng *ownership.Engine) func(context.Context) error {
	l.eng.Store(eng)
	return func(ctx context.Context) error {
		if err := l.mem.Start(); err != nil {
			return err
		}
		hbCtx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); l.mem.Heartbeat(hbCtx) }()
		err := eng.Run(ctx)
		stop()
		<-done
		l.mem.Stop(true)
		return err
	}
}
