// Command demo runs the seed's two scenarios (docs/lab.md) in a lab cluster in network namespaces and
// prints what an operator would look at, until Ctrl-C; then it tears everything down. `make demo`
// runs it as root with KUBEBUILDER_ASSETS set.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/routelb/routelb/e2e/lab"
	"github.com/routelb/routelb/internal/testing/testenv"
)

const (
	bgpService = "seed-bgp"
	l2Service  = "seed-l2"
	seedVIP    = "203.0.113.250" // the seed's 192.168.1.250
)

func main() {
	duration := flag.Duration("duration", 0, "stop after this long instead of waiting for Ctrl-C (0: wait)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: the lab creates network namespaces: run it as root (make demo)")
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	r := lab.NewRunner(os.Stderr)
	var c *lab.Cluster
	err := r.Run(func() {
		c = lab.Start(r, lab.Options{Out: os.Stdout})
		scenarios(r, c)
		report(c)
	})
	if err == nil {
		fmt.Println("\nThe lab is running. Look around with the commands above; Ctrl-C tears it down.")
		wait(sigs, *duration)
	} else {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
	}
	fmt.Println("\nTearing down: processes by PID, FRR instances, namespaces.")
	r.Close()
	left := leftovers(c)
	if left != "" {
		fmt.Fprintf(os.Stderr, "demo: namespaces left behind: %s\n", left)
		os.Exit(1)
	}
	fmt.Println("Done: no lab namespace is left (`ip netns list`).")
	if err != nil {
		os.Exit(1)
	}
}

func wait(sigs chan os.Signal, d time.Duration) {
	if d > 0 {
		select {
		case <-sigs:
		case <-time.After(d):
		}
		return
	}
	<-sigs
}

// scenarios creates the seed's two Services, as a user would: one from the BGP pool with the seed's
// address, one from the Layer 2 pool, each with endpoints on all three nodes.
func scenarios(r *lab.Runner, c *lab.Cluster) {
	ctx := context.Background()
	for _, s := range []lab.ServiceSpec{
		{Name: bgpService, Pool: lab.BGPPool, IP: seedVIP, EndpointNodes: lab.NodeNames},
		{Name: l2Service, Pool: lab.L2Pool, EndpointNodes: lab.NodeNames},
	} {
		if err := c.CreateService(ctx, s); err != nil {
			r.Fatalf("%v", err)
		}
	}
	bgpVIP := c.WaitVIP(r, bgpService)
	c.WaitNexthops(r, bgpVIP, lab.NodeNames...)
	l2VIP := c.WaitVIP(r, l2Service)
	c.Eventually(r, lab.Short, func() error {
		owners, err := c.ARPOwners(l2VIP, 2)
		if err == nil && len(owners) != 1 {
			err = fmt.Errorf("ARP for %s answered by %v", l2VIP, owners)
		}
		return err
	})
}

func report(c *lab.Cluster) {
	ctx := context.Background()
	bgpVIP, _ := c.VIP(ctx, bgpService)
	l2VIP, _ := c.VIP(ctx, l2Service)
	section("Addresses (the seed's 192.168.1.0/24 mapped onto documentation ranges, for network safety)")
	fmt.Printf("  router1        192.168.1.1   -> %s  (netns %s, FRR AS %d, ECMP + BFD)\n", lab.RouterAddr, c.Router.NS, lab.RouterASN)
	for i, n := range c.Nodes {
		fmt.Printf("  %-14s 192.168.1.%d -> %s  (netns %s, AS %d)\n", n.Name, 101+i, n.Addr, n.Host.NS, lab.NodeASN)
	}
	fmt.Printf("  client         -             -> %s  (netns %s)\n", lab.ClientAddr, c.ClientHost.NS)
	fmt.Printf("  BGP VIP        192.168.1.250 -> %s  (Service default/%s, pool %s %s)\n", bgpVIP, bgpService, lab.BGPPool, lab.BGPPoolRange)
	fmt.Printf("  Layer 2 VIP    192.168.1.250 -> %s  (Service default/%s, pool %s %s)\n", l2VIP, l2Service, lab.L2Pool, lab.L2PoolRange)

	section("The router: show bgp ipv4 unicast")
	vtysh(c, "show bgp ipv4 unicast")
	section("The router: show bfd peers")
	vtysh(c, "show bfd peers")
	section("The router's kernel route for the BGP VIP (one nexthop per node)")
	show(c.Router.Run("ip", "route", "show", bgpVIP))
	fmt.Printf("  $ ip -n %s route show %s\n", c.Router.NS, bgpVIP)

	section("Each node's rendered frr.conf (written by the speaker, applied by the reloader)")
	for _, n := range c.Nodes {
		fmt.Printf("  %s: %s\n         status: %s\n         running: vtysh -N %s --config_dir %s -c 'show running-config'\n",
			n.Name, n.ConfPath(), filepath.Join(n.RenderDir, "reloader-status.json"), n.FRR.Pathspace, n.FRR.ConfigDir)
	}

	section("Layer 2: who answers ARP for " + l2VIP)
	owners, err := c.ARPOwners(l2VIP, 3)
	if err != nil {
		fmt.Printf("  arping: %v\n", err)
	}
	fmt.Printf("  $ ip netns exec %s arping -i eth0 -c 3 %s\n  answered by: %v\n", c.ClientHost.NS, l2VIP, owners)
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if assets, err := testenv.Assets(); err == nil {
		kubectl = filepath.Join(assets, "kubectl")
	}
	kc := []string{"--kubeconfig", c.Kubeconfig}
	section("ServiceL2Status and Services (kubectl)")
	for _, args := range [][]string{{"-n", lab.NS, "get", "servicel2status"}, {"get", "svc", "-o", "wide"}} {
		fmt.Printf("  $ %s %s\n", kubectl, strings.Join(append(kc, args...), " "))
		out, err := exec.Command(kubectl, append(kc, args...)...).CombinedOutput()
		indent(string(out))
		if err != nil {
			fmt.Printf("  (%v)\n", err)
		}
	}

	section("curl through each VIP from the client (new connection each time; the answer is the serving node)")
	for _, vip := range []string{bgpVIP, l2VIP} {
		fmt.Printf("  $ ip netns exec %s curl -s http://%s/   (x9)\n   ", c.ClientHost.NS, vip)
		for range 9 {
			body, err := c.Get(ctx, vip)
			if err != nil {
				body = "error: " + err.Error()
			}
			fmt.Printf(" %s", body)
		}
		fmt.Println()
	}
	fmt.Printf("  the client's neighbour entry for the Layer 2 VIP ($ ip -n %s neigh show %s), owner %s:\n",
		c.ClientHost.NS, l2VIP, c.ClientNeighbor(l2VIP))
	show(c.ClientHost.Run("ip", "neigh", "show", l2VIP))
	section("Logs")
	fmt.Printf("  processes: %s/logs   FRR: %s\n", c.Dir, filepath.Join(c.Lab.Dir, "frr", "log"))
}

func section(title string) { fmt.Printf("\n== %s\n", title) }

func vtysh(c *lab.Cluster, cmd string) {
	fmt.Printf("  $ vtysh -N %s --config_dir %s -c '%s'\n", c.RouterFRR.Pathspace, c.RouterFRR.ConfigDir, cmd)
	show(c.RouterFRR.Vtysh("-c", cmd))
}

func show(out string, err error) {
	indent(out)
	if err != nil {
		fmt.Printf("  (%v)\n", err)
	}
}

func indent(s string) {
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Println("    " + l)
	}
}

// leftovers lists namespaces of this lab still present after teardown.
func leftovers(c *lab.Cluster) string {
	if c == nil || c.Lab == nil {
		return ""
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	var left []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, c.Lab.Prefix) {
			left = append(left, strings.Fields(l)[0])
		}
	}
	return strings.Join(left, " ")
}
