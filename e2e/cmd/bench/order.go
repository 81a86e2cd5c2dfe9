package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/e2e/lab"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
	"github.com/routelb/routelb/reloader"
	"github.com/routelb/routelb/reloader/frr"
)

// The order figures (issue 17): a delta that removes half of 10,000 VIPs and adds as many new ones,
// sent in one `vtysh -f` with its removals first, its additions first, or the two interleaved, on a
// node FRR (host 8.4, then 10.x from its root) peering with a router FRR; timed until vtysh returns
// and until the router's kernel has exactly the new set. Then "+1 onto 10,000" through the reloader
// (Applier.Apply), on the machine as it is and with extra CPU burners, so the two loads are one run.

const orderRouter = `frr defaults traditional
router bgp 64512
 no bgp ebgp-requires-policy
 bgp router-id 198.51.100.1
 neighbor 198.51.100.11 remote-as 64513
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
exit
`

// orderConfig is what the renderer writes for Services [first, first+n) of templatetest's scale
// input, announced to one peer with one community.
func orderConfig(r *lab.Runner, first, n int) string {
	in := templatetest.ScaleInput(first + n)
	in.Peers = in.Peers[:1]
	in.Services = in.Services[first:]
	in.EndpointSlices = templatetest.Served(in.Services)
	return string(templatetest.MustCompute(r, in, nodeconfig.DaemonFRR).Rendered)
}

func orderBench(r *lab.Runner, t *table, n int, burners int) {
	// Both versions always (netlab.FRRVersions reads testing.Short, which needs a test binary).
	for _, v := range []*netlab.FRRVersion{netlab.HostFRR, netlab.FRR10(r)} {
		orderOne(r, t, v, n, burners)
	}
}

func orderOne(r *lab.Runner, t *table, v *netlab.FRRVersion, n, burners int) {
	l := netlab.New(r)
	l.Reserve("198.18.0.0/15")
	routerHost := l.AddHost("router", "198.51.100.1/24")
	router := l.StartFRR(routerHost, "router", orderRouter)
	node := l.StartFRRVersion(v, l.AddHost("node", "198.51.100.11/24"), "node", "")
	vtysh, frrReload := node.ReloaderTools()
	a := &reloader.Applier{Scratch: node.ScratchDir(), Log: logr.Discard(),
		FRR: &reloader.FRR{Vtysh: vtysh, Pathspace: node.Pathspace, ConfigDir: node.ConfigDir, RunDir: node.RunRoot(), FrrReload: frrReload}}
	from, to := orderConfig(r, 0, n), orderConfig(r, n/2, n)
	fromSet, toSet := networks(from), networks(to)
	apply := func(cfg string) {
		res := a.Apply(context.Background(), []byte(cfg))
		if res.Err != nil {
			r.Fatalf("apply: %s: %v", res.Outcome, res.Err)
		}
	}
	apply(from)
	router.WaitEstablished("198.51.100.11", 60*time.Second)
	waitSet(r, routerHost, fromSet, 15*time.Minute)
	delta := a.Rules().Delta(frr.Parse(from), frr.Parse(to))
	for _, order := range []string{"removals first", "additions first", "interleaved"} {
		time.Sleep(time.Second)
		before := router.EstablishedCounts()
		file := filepath.Join(a.Scratch, "order.conf")
		if err := os.WriteFile(file, []byte(strings.Join(reorder(delta, order), "\n")+"\n"), 0o600); err != nil {
			r.Fatalf("%v", err)
		}
		start := time.Now()
		if err := a.FRR.ApplyFile(context.Background(), file); err != nil {
			r.Fatalf("vtysh -f: %v", err)
		}
		applied := time.Since(start)
		d, ok := waitSet(r, routerHost, toSet, 15*time.Minute)
		reset := ""
		if after := router.EstablishedCounts(); fmt.Sprint(after) != fmt.Sprint(before) {
			reset = "; the session was reset"
		}
		text := fmt.Sprintf("vtysh %s, router %s%s", dur(applied), dur(d), reset)
		if !ok {
			text = fmt.Sprintf("vtysh %s, router not at the new set in 15 min%s", dur(applied), reset)
		}
		t.add(v.String(), fmt.Sprintf("%d -> %d VIPs, %d removed and %d added in one vtysh -f, %s", n, n, n/2, n/2, order), "", result{text: text})
		a.Forget() // the applier did not see this change
		apply(from)
		waitSet(r, routerHost, fromSet, 15*time.Minute)
	}
	// +1 onto n through the reloader, with the machine as it is, then with burners more processes.
	plus := orderConfig(r, 0, n+1)
	plusSet := networks(plus)
	for _, extra := range []int{0, burners} {
		stop := burn(extra)
		time.Sleep(2 * time.Second)
		load := loadavg()
		res := a.Apply(context.Background(), []byte(plus))
		if res.Err != nil {
			stop()
			r.Fatalf("apply +1: %v", res.Err)
		}
		d, _ := waitSet(r, routerHost, plusSet, 5*time.Minute)
		stop()
		t.add(v.String(), fmt.Sprintf("+1 onto %d through the reloader, %d extra CPU burners", n, extra), "",
			result{text: fmt.Sprintf("applied %s, router %s (load average %s)", dur(res.ApplyDuration), dur(d), load)})
		apply(from)
		waitSet(r, routerHost, fromSet, 15*time.Minute)
	}
}

// reorder rearranges the network lines inside the delta's BGP address family: removals then
// additions, additions then removals, or alternating. Lines outside it keep their place.
func reorder(delta []string, order string) []string {
	var out, dels, adds []string
	in := false
	flush := func() {
		switch order {
		case "removals first":
			out = append(append(out, dels...), adds...)
		case "additions first":
			out = append(append(out, adds...), dels...)
		default:
			for i := 0; i < max(len(dels), len(adds)); i++ {
				if i < len(dels) {
					out = append(out, dels[i])
				}
				if i < len(adds) {
					out = append(out, adds[i])
				}
			}
		}
		dels, adds = nil, nil
	}
	for _, l := range delta {
		s := strings.TrimSpace(l)
		switch {
		case in && strings.HasPrefix(s, "no network "):
			dels = append(dels, l)
		case in && strings.HasPrefix(s, "network "):
			adds = append(adds, l)
		default:
			if in {
				flush()
			}
			in = strings.HasPrefix(s, "address-family ")
			out = append(out, l)
		}
	}
	flush()
	return out
}

// networks is the set of prefixes a config's network lines announce.
func networks(cfg string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(cfg, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "network" {
			m[f[1]] = true
		}
	}
	return m
}

// waitSet polls the router's kernel routes (every 100 ms) until they are exactly want.
func waitSet(r *lab.Runner, h *netlab.Host, want map[string]bool, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		rs, err := h.Routes("root", "198.18.0.0/15")
		if err == nil && len(rs) == len(want) {
			same := true
			for _, rt := range rs {
				dst := rt.Dst
				if !strings.Contains(dst, "/") {
					dst += "/32"
				}
				same = same && want[dst]
			}
			if same {
				return time.Since(start), true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.Logf("bench: the router's routes did not reach the wanted set of %d in %v", len(want), limit)
	return limit, false
}

// burn starts n CPU-bound processes (nice 0) and returns a function that stops them by PID.
func burn(n int) func() {
	var cmds []*exec.Cmd
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err == nil {
			cmds = append(cmds, cmd)
		}
	}
	return func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
}
