package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/yaml"

	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/l2responder"
	"github.com/routelb/routelb/l2responder/ownership"
)

// l2Options are Layer 2 mode's flags, registered at package level so main.go needs only the call.
type l2Options struct {
	Enabled bool
	Timing  ownership.Timing
	// Exclude and ExcludeConfig list interfaces never answered on; NodeIPInterfaces restores
	// routelb's former default (only the interfaces holding the node's InternalIPs).
	Exclude          string
	ExcludeConfig    string
	NodeIPInterfaces bool
}

func registerL2Flags(fs *flag.FlagSet, o *l2Options) {
	d := ownership.DefaultTiming
	fs.BoolVar(&o.Enabled, "layer2", true, "run Layer 2 mode: answer ARP/NDP for the VIPs this node owns (each speaker renews one Lease)")
	fs.DurationVar(&o.Timing.RenewInterval, "l2-renew-interval", d.RenewInterval, "how often the node's Layer 2 ownership Lease is renewed (API writes per node = 1/this)")
	fs.DurationVar(&o.Timing.LeaseDuration, "l2-lease-duration", d.LeaseDuration, "how long after its last renewal a silent node's VIPs are taken over")
	fs.DurationVar(&o.Timing.Margin, "l2-lease-margin", d.Margin, "an owner that cannot renew goes silent this long before others may take over")
	fs.StringVar(&o.Exclude, "l2-exclude-interfaces", "", "comma-separated regular expressions of interfaces never answered on (added to --l2-exclude-config's)")
	fs.StringVar(&o.ExcludeConfig, "l2-exclude-config", "/etc/metallb/excludel2.yaml",
		"MetalLB's excludel2.yaml (announcedInterfacesToExclude: [regexps]), as its metallb-excludel2 ConfigMap mounts it; a missing file excludes nothing")
	fs.BoolVar(&o.NodeIPInterfaces, "l2-node-ip-interfaces", false,
		"answer VIPs without an interface list only on the interfaces holding the node's InternalIPs (routelb's choice); default: every eligible interface, as MetalLB")
}

// excludeInterfaces joins the exclude list of MetalLB's config file and of the flag into one
// expression, as MetalLB joins announcedInterfacesToExclude: nil when both are empty.
func excludeInterfaces(o *l2Options) (*regexp.Regexp, error) {
	var res []string
	b, err := os.ReadFile(o.ExcludeConfig)
	switch {
	case err == nil:
		var conf struct {
			AnnouncedInterfacesToExclude []string `json:"announcedInterfacesToExclude"`
		}
		if err := yaml.Unmarshal(b, &conf); err != nil {
			return nil, fmt.Errorf("--l2-exclude-config %s: %w", o.ExcludeConfig, err)
		}
		res = conf.AnnouncedInterfacesToExclude
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("--l2-exclude-config: %w", err)
	}
	for _, r := range strings.Split(o.Exclude, ",") {
		if r = strings.TrimSpace(r); r != "" {
			res = append(res, r)
		}
	}
	if len(res) == 0 {
		return nil, nil
	}
	re, err := regexp.Compile("(" + strings.Join(res, ")|(") + ")")
	if err != nil {
		return nil, fmt.Errorf("interfaces to exclude %q: %w", res, err)
	}
	return re, nil
}

// setupL2 adds Layer 2 mode to the manager: the ownership engine (one Lease per node), the ARP/NDP
// responder, and the reconciler that feeds them and reports ServiceL2Status and events.
func setupL2(mgr ctrl.Manager, o options, bin binary) error {
	l2 := o.L2
	if !l2.Enabled {
		return nil
	}
	if err := l2.Timing.Validate(); err != nil {
		return fmt.Errorf("--l2-*: %w", err)
	}
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	r := &speaker.SpeakerL2Reconciler{
		Client:          mgr.GetClient(),
		Recorder:        mgr.GetEventRecorder("routelb-speaker"),
		NodeName:        o.NodeName,
		Namespace:       o.Namespace,
		LBClass:         o.LBClass,
		IgnoreExcludeLB: o.IgnoreExcludeLB,
		Owner:           speaker.PodOwner(o.PodName, o.PodUID),
		APIReader:       mgr.GetAPIReader(),
		Log:             bin.Log.WithName("speaker-l2").WithValues("node", o.NodeName),
		Metrics:         bin.Metrics,
		Secrets:         bin.Secrets,
	}
	cfg := ownership.Config{Node: o.NodeName, Namespace: o.Namespace, Client: cs, Timing: l2.Timing, Owner: r.Owner,
		OnChange: r.OwnershipChanged, Logger: bin.Log.WithName("l2-ownership"), Registerer: bin.Registry}
	lan, err := newLAN(&o.Memberlist, &cfg, bin.Registry, bin.Log.WithName("l2-memberlist"))
	if err != nil {
		return err
	}
	eng := ownership.New(cfg)
	runEngine := eng.Run
	if lan != nil {
		runEngine = lan.run(eng)
	}
	exclude, err := excludeInterfaces(&l2)
	if err != nil {
		return err
	}
	var nodeAddrs []netip.Addr
	if l2.NodeIPInterfaces {
		nodeAddrs = nodeAddresses(mgr.GetAPIReader(), o.NodeName, bin.Log)
	}
	resp, err := l2responder.New(l2responder.Config{NodeAddresses: nodeAddrs, ExcludeInterfaces: exclude,
		StillOwned: eng.Owns, Logger: bin.Log.WithName("l2responder"), Registerer: bin.Registry, MetalLBMetrics: o.MetalLBMetrics})
	if err != nil {
		return err
	}
	r.Ownership, r.Responder = eng, resp
	for _, run := range []func(context.Context) error{resp.Run, resp.WatchLinks, runEngine} {
		if err := mgr.Add(manager.RunnableFunc(ignoreCancel(run))); err != nil {
			return err
		}
	}
	return r.SetupWithManager(mgr)
}

// ignoreCancel keeps a clean shutdown from being reported as a failure.
func ignoreCancel(run func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
}

// nodeAddresses reads the node's InternalIPs for --l2-node-ip-interfaces: VIPs without an
// interface list are then answered on the interfaces holding them. Unknown (nil) means every
// interface that can answer.
func nodeAddresses(c client.Reader, node string, log logr.Logger) []netip.Addr {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n corev1.Node
	if err := c.Get(ctx, types.NamespacedName{Name: node}, &n); err != nil {
		log.WithName("setup").Error(err, "Cannot read the node's addresses; Layer 2 answers on every interface", "node", node)
		return nil
	}
	var out []netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}
