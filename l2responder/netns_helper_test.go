package l2responder

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/routelb/routelb/internal/testing/wait"
)

// The namespace test runs the responder in node namespaces by re-executing
// this test binary through `ip netns exec`, so the whole process (every
// thread, every socket) lives in the namespace. A goroutine that setns'd
// would be one stray thread away from answering on the real uplink.
const helperEnv = "ROUTELB_L2_NETNS_HELPER"

// resyncEnv sets the helper's ResyncPeriod; watchEnv, when set, runs WatchLinks beside Run.
const (
	resyncEnv = "ROUTELB_L2_NETNS_RESYNC"
	watchEnv  = "ROUTELB_L2_NETNS_WATCH"
	// allLinksEnv, when set, runs the helper as the speaker runs by default (MetalLB's choice): no
	// node addresses, so a VIP without an interface list is answered on every eligible link, and
	// the value is the exclude list's regular expression.
	allLinksEnv = "ROUTELB_L2_NETNS_ALL_LINKS"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

// runHelper serves commands on stdin, one per line, answering each on stdout:
//
//	own VIP      -> "ok" once VIP is answered on some interface
//	ownon VIP IF -> "ok" (VIP to be answered on interface IF only)
//	announcing VIP -> the interfaces VIP is answered on, comma-separated
//	disown VIP   -> "ok"
//	ignored PROTO REASON -> the ignored-requests count on eth0
//	sent PROTO   -> the responses-sent count on eth0
//	eligible     -> the interfaces the host's links make eligible, sorted, comma-separated
//	quit (or EOF)
func runHelper() int {
	if err := refuseRootNamespace(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: 1})
	cfg := Config{Logger: log}
	if exclude := os.Getenv(allLinksEnv); exclude != "" {
		cfg.ExcludeInterfaces = regexp.MustCompile(exclude)
	} else {
		for _, s := range strings.Split(os.Getenv(helperEnv), ",") {
			cfg.NodeAddresses = append(cfg.NodeAddresses, netip.MustParseAddr(s))
		}
	}
	if d, err := time.ParseDuration(os.Getenv(resyncEnv)); err == nil {
		cfg.ResyncPeriod = d
	}
	r, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if os.Getenv(watchEnv) != "" {
		watched := make(chan struct{})
		go func() { _ = r.WatchLinks(ctx); close(watched) }()
		defer func() { cancel(); <-watched }()
	}

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 || f[0] == "quit" {
			break
		}
		fmt.Println(helperCommand(r, f))
	}
	return 0
}

func helperCommand(r *Responder, f []string) string {
	switch {
	case f[0] == "own" && len(f) == 2:
		vip := netip.MustParseAddr(f[1])
		if err := r.Announce(vip, nil); err != nil {
			return "error " + err.Error()
		}
		err := wait.Poll(10*time.Second, func() error {
			if len(r.Announcing()[vip]) == 0 {
				return fmt.Errorf("not announcing %s", vip)
			}
			return nil
		})
		if err != nil {
			return "error " + err.Error()
		}
		return "ok"
	case f[0] == "ownon" && len(f) == 3: // answer on one named interface, which may not exist yet
		if err := r.Announce(netip.MustParseAddr(f[1]), []string{f[2]}); err != nil {
			return "error " + err.Error()
		}
		return "ok"
	case f[0] == "announcing" && len(f) == 2:
		return strings.Join(r.Announcing()[netip.MustParseAddr(f[1])], ",")
	case f[0] == "disown" && len(f) == 2:
		r.Withdraw(netip.MustParseAddr(f[1]))
		return "ok"
	case f[0] == "ignored" && len(f) == 3:
		return fmt.Sprint(ignored(f[1], "eth0", f[2]))
	case f[0] == "sent" && len(f) == 2:
		return fmt.Sprint(sent(f[1], "eth0"))
	case f[0] == "eligible" && len(f) == 1:
		links, err := osSystem{}.links()
		if err != nil {
			return "error " + err.Error()
		}
		var names []string
		for _, l := range links {
			if eligible(l, nil) {
				names = append(names, l.ifi.Name)
			}
		}
		slices.Sort(names)
		return strings.Join(names, ",")
	}
	return "error unknown command " + strings.Join(f, " ")
}

// parentNetnsEnv carries the test process's network namespace to the helper.
const parentNetnsEnv = "ROUTELB_L2_PARENT_NETNS"

// refuseRootNamespace makes sure the helper never answers ARP on the host's
// real network: it must not be in the network namespace of the test that
// started it (PID 1's is not readable in every sandbox).
func refuseRootNamespace() error {
	self, err := os.Readlink("/proc/self/ns/net")
	parent := os.Getenv(parentNetnsEnv)
	if err != nil || parent == "" {
		return fmt.Errorf("cannot compare network namespaces (self %q: %w, parent %q)", self, err, parent)
	}
	if self == parent {
		return fmt.Errorf("refusing to run in the test's own network namespace %s", self)
	}
	return nil
}
