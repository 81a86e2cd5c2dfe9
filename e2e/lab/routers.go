package lab

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/routelb/routelb/internal/netlab"
)

// routerConfig is the upstream router: eBGP with every node, ECMP over them, BFD on each session.
// `timers connect 5` brings a session back within seconds after a link comes back.
func routerConfig() string {
	var b strings.Builder
	fmt.Fprintf(&b, `frr defaults traditional
hostname router
log timestamp precision 3
!
bfd
 profile lab
  transmit-interval 300
  receive-interval 300
  detect-multiplier 3
 exit
exit
!
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 bgp log-neighbor-changes
 bgp bestpath as-path multipath-relax
 neighbor nodes peer-group
 neighbor nodes remote-as %d
 neighbor nodes bfd
 neighbor nodes bfd profile lab
 neighbor nodes timers connect 5
`, RouterASN, RouterAddr, NodeASN)
	for i := range NodeNames {
		fmt.Fprintf(&b, " neighbor 198.51.100.%d peer-group nodes\n", 101+i)
	}
	b.WriteString(` address-family ipv4 unicast
  maximum-paths 16
 exit-address-family
exit
`)
	return b.String()
}

// router2Config is a second router, in AS 64514: the lab configures a BGPPeer for it with a wrong
// ASN, so its sessions never come up.
func router2Config() string {
	var b strings.Builder
	fmt.Fprintf(&b, `frr defaults traditional
hostname router2
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 neighbor nodes peer-group
 neighbor nodes remote-as %d
 neighbor nodes timers connect 5
`, Router2ASN, BadRouterAddr, NodeASN)
	for i := range NodeNames {
		fmt.Fprintf(&b, " neighbor 198.51.100.%d peer-group nodes\n", 101+i)
	}
	b.WriteString("exit\n")
	return b.String()
}

func (c *Cluster) startRouters() {
	c.RouterFRR = c.Lab.StartFRR(c.Router, "router", routerConfig())
	c.Router2FRR = c.Lab.StartFRR(c.Router2, "router2", router2Config())
	for _, n := range c.Nodes {
		// Empty, as the FRR sidecar starts: the reloader applies what the speaker renders.
		if c.bird {
			n.BIRD = c.Lab.StartBIRD(n.Host, n.Name, "")
			continue
		}
		n.FRR = c.Lab.StartFRRVersion(c.frr, n.Host, n.Name, "")
		if n.FRR.Version.Chrooted() {
			// The reloader runs inside the root and reads what the speaker writes: both meet there.
			n.RenderDir = n.FRR.ScratchDir()
		}
	}
	for _, n := range c.Nodes {
		if n.BIRD != nil {
			// BIRD runs its BFD inside the bird process.
			c.prioritize(n.BIRD.PID(), "bird of "+n.Name)
		}
	}
	for _, f := range c.frrs() {
		c.prioritizeBFD(f)
	}
}

// prioritizeBFD runs bfdd's threads with real-time priority (SCHED_RR), as routers treat BFD. The lab
// squeezes five machines and the control plane onto the test machine's cores: on 2 cores, during a
// 200-Service churn, a bfdd at normal priority waiting behind the API server and the nodes' vtysh
// applies missed its 900 ms detection window and took sessions down (nice -10 was not enough with a
// second test lab running). On real machines each node's bfdd has its own CPUs. Where real-time
// scheduling is not allowed, nice -10 is the fallback.
func (c *Cluster) prioritizeBFD(f *netlab.FRR) {
	pid, err := f.PID("bfdd")
	if err != nil {
		c.R.Fatalf("lab: %v", err)
	}
	c.prioritize(pid, "bfdd of "+f.Pathspace)
}

func (c *Cluster) prioritize(pid int, what string) {
	tids, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		c.R.Fatalf("lab: %v", err)
	}
	for _, t := range tids {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_RR, Priority: 10}
		if err := unix.SchedSetAttr(tid, attr, 0); err != nil {
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, -10); err != nil {
				c.R.Fatalf("lab: raising the priority of %s: %v", what, err)
			}
		}
	}
}

func (c *Cluster) frrs() []*netlab.FRR {
	fs := []*netlab.FRR{c.RouterFRR, c.Router2FRR}
	for _, n := range c.Nodes {
		if n.FRR != nil {
			fs = append(fs, n.FRR)
		}
	}
	return fs
}

// SetRouterBFD changes the router's BFD timers (milliseconds) for every node session.
func (c *Cluster) SetRouterBFD(intervalMS, mult int) error {
	_, err := c.RouterFRR.Vtysh("-c", "configure terminal", "-c", "bfd", "-c", "profile lab",
		"-c", fmt.Sprintf("transmit-interval %d", intervalMS), "-c", fmt.Sprintf("receive-interval %d", intervalMS),
		"-c", fmt.Sprintf("detect-multiplier %d", mult))
	return err
}

// BGPNeighbor is a router's view of one session.
type BGPNeighbor struct {
	State       string `json:"bgpState"`
	Established int    `json:"connectionsEstablished"`
	Dropped     int    `json:"connectionsDropped"`
}

// Neighbors returns the router's sessions by neighbour address.
func Neighbors(f interface {
	Vtysh(...string) (string, error)
}) (map[string]BGPNeighbor, error) {
	out, err := f.Vtysh("-c", "show bgp neighbors json")
	if err != nil {
		return nil, err
	}
	m := map[string]BGPNeighbor{}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("parsing show bgp neighbors json: %w", err)
	}
	return m, nil
}

// allSessionsUp reports whether the router has an Established BGP session and an up BFD session
// with every node. Both count: until BFD is up, a failure is noticed only when the hold timer expires.
func (c *Cluster) allSessionsUp() error {
	st, err := c.RouterFRR.BGPPeers()
	if err != nil {
		return err
	}
	bfd, err := c.routerBFD()
	if err != nil {
		return err
	}
	for _, n := range c.Nodes {
		if st[n.Addr] != "Established" {
			return fmt.Errorf("router: session with %s (%s) is %q", n.Name, n.Addr, st[n.Addr])
		}
		if bfd[n.Addr] != "up" {
			return fmt.Errorf("router: BFD session with %s (%s) is %q", n.Name, n.Addr, bfd[n.Addr])
		}
	}
	return nil
}

// routerBFD returns the status of the router's BFD sessions by peer address.
func (c *Cluster) routerBFD() (map[string]string, error) {
	out, err := c.RouterFRR.Vtysh("-c", "show bfd peers json")
	if err != nil {
		return nil, err
	}
	var peers []struct {
		Peer   string `json:"peer"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return nil, fmt.Errorf("parsing show bfd peers json: %w: %s", err, out)
	}
	m := map[string]string{}
	for _, p := range peers {
		m[p.Peer] = p.Status
	}
	return m, nil
}

// AllSessionsUp is allSessionsUp for tests.
func (c *Cluster) AllSessionsUp() error { return c.allSessionsUp() }

// Nexthops returns the gateways of the router's kernel route for prefix (e.g. "203.0.113.250/32"),
// sorted, none when there is no route.
func (c *Cluster) Nexthops(prefix string) ([]string, error) {
	gws, _, err := c.Router.Gateways(prefix)
	return gws, err
}

// RoutesIn returns the router's kernel routes inside prefix, each with its gateways.
func (c *Cluster) RoutesIn(prefix string) (map[string][]string, error) {
	rs, err := c.Router.Routes("root", prefix)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]string, len(rs))
	for _, r := range rs {
		m[r.Dst] = r.Gateways
	}
	return m, nil
}

// NexthopNodes is Nexthops as sorted node names.
func (c *Cluster) NexthopNodes(vip string) ([]string, error) {
	gws, err := c.Nexthops(vip + "/32")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, gw := range gws {
		if n := c.NodeByAddr(gw); n != nil {
			names = append(names, n.Name)
		} else {
			names = append(names, gw)
		}
	}
	sortStrings(names)
	return names, nil
}

// WaitNexthops waits until the router's kernel route for vip goes exactly through nodes.
func (c *Cluster) WaitNexthops(tb interface{ Fatalf(string, ...any) }, vip string, nodes ...string) {
	want := append([]string(nil), nodes...)
	sortStrings(want)
	c.Eventually(tb, Short, func() error {
		got, err := c.NexthopNodes(vip)
		if err != nil {
			return err
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("router's route to %s goes via %v, want %v", vip, got, want)
		}
		return nil
	})
}

func sortStrings(s []string) { sort.Strings(s) }
