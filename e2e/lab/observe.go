package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/testing/testenv"
)

var arpReplyRE = regexp.MustCompile(`(?i)from ([0-9a-f]{2}(?::[0-9a-f]{2}){5})`)

// ARPOwners sends ARP requests for vip from the client and returns the nodes that answered (by the
// MAC in the replies), sorted; other MACs appear as themselves.
func (c *Cluster) ARPOwners(vip string, count int) ([]string, error) {
	out, err := c.ClientHost.Run("arping", "-i", "eth0", "-c", fmt.Sprint(count), "-W", "0.2", vip)
	if err != nil && !strings.Contains(err.Error(), "exit status 1") {
		return nil, err // exit status 1 is "no reply"
	}
	seen := map[string]bool{}
	for _, m := range arpReplyRE.FindAllStringSubmatch(out, -1) {
		name := m[1]
		if n := c.NodeByMAC(m[1]); n != nil {
			name = n.Name
		}
		seen[name] = true
	}
	var owners []string
	for o := range seen {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	return owners, nil
}

// ClientNeighbor is the node the client's kernel neighbour entry for vip points at ("" if none).
func (c *Cluster) ClientNeighbor(vip string) string {
	out, _ := c.ClientHost.Run("ip", "neigh", "show", vip, "dev", "eth0")
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			if n := c.NodeByMAC(f[i+1]); n != nil {
				return n.Name
			}
			return f[i+1]
		}
	}
	return ""
}

// Metrics fetches a Prometheus endpoint listening on addr inside namespace ns.
func Metrics(ctx context.Context, ns, addr string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		return DialIn(ctx, ns, network, a)
	}}
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// MetricLines returns the lines of a metrics page starting with name and containing every part.
func MetricLines(page, name string, parts ...string) []string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if !strings.HasPrefix(l, name) {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// Dump writes what a post-mortem needs: every namespace's addresses, routes and neighbours, every
// FRR's running config, sessions and logs, every process's log, and the rendered configs.
func (c *Cluster) Dump(logf func(string, ...any)) {
	var b strings.Builder
	hosts := []*netlab.Host{c.Router, c.Router2, c.ClientHost}
	for _, n := range c.Nodes {
		hosts = append(hosts, n.Host)
	}
	for _, h := range hosts {
		if h == nil {
			continue
		}
		fmt.Fprintf(&b, "===== %s (netns %s)\n", h.Name, h.NS)
		for _, args := range [][]string{{"ip", "-br", "addr"}, {"ip", "route"}, {"ip", "neigh"}} {
			out, err := h.Run(args...)
			fmt.Fprintf(&b, "--- %s\n%s%v\n", strings.Join(args, " "), out, errOrEmpty(err))
		}
	}
	frrs := []*netlab.FRR{c.RouterFRR, c.Router2FRR}
	for _, n := range c.Nodes {
		if n.FRR != nil {
			frrs = append(frrs, n.FRR)
		}
	}
	for _, f := range frrs {
		if f != nil {
			b.WriteString(f.DumpString())
			for _, cmd := range []string{"show ip route", "show bfd peers", "show bfd peers counters"} {
				out, _ := f.Vtysh("-c", cmd)
				fmt.Fprintf(&b, "--- %s\n%s\n", cmd, out)
			}
		}
	}
	for _, n := range c.Nodes {
		if n.RenderDir == "" {
			continue
		}
		for _, f := range []string{n.ConfPath(), filepath.Join(n.RenderDir, "reloader-status.json")} {
			data, err := os.ReadFile(f)
			fmt.Fprintf(&b, "===== %s\n%s%v\n", f, data, errOrEmpty(err))
		}
	}
	b.WriteString(c.objectsDump())
	c.mu.Lock()
	procs := append([]*Proc(nil), c.procs...)
	c.mu.Unlock()
	for _, p := range procs {
		fmt.Fprintf(&b, "===== log of %s (pid %d, running %v), tail\n%s\n", p.Name, p.Pid(), p.Running(), p.Tail(80))
	}
	logf("%s", b.String())
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return "error: " + err.Error()
}

// objectsDump is what kubectl shows of the Services and metallb.io objects (conditions included).
func (c *Cluster) objectsDump() string {
	if c.Kubeconfig == "" {
		return ""
	}
	assets, err := testenv.Assets()
	if err != nil {
		return "===== kubectl: " + err.Error() + "\n"
	}
	var b strings.Builder
	kubectl := filepath.Join(assets, "kubectl")
	for _, args := range [][]string{
		{"get", "nodes,services,endpointslices", "-A", "-o", "wide"},
		{"-n", NS, "get", "ipaddresspools,bgppeers,bfdprofiles,bgpadvertisements,l2advertisements,servicel2statuses,servicebgpstatuses,leases", "-o", "wide"},
		{"-n", NS, "get", "bgppeers,bfdprofiles,ipaddresspools", "-o", "yaml"},
		{"get", "events", "-A"},
	} {
		full := append([]string{"--kubeconfig", c.Kubeconfig, "--request-timeout", "10s"}, args...)
		out, err := exec.Command(kubectl, full...).CombinedOutput()
		fmt.Fprintf(&b, "===== kubectl %s\n%s%s\n", strings.Join(args, " "), tail(string(out), 300), errOrEmpty(err))
	}
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("(%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// WaitARPOwner waits up to timeout until exactly one node, other than not, answers ARP for vip three
// times in a row, and returns it; tb fails otherwise.
func (c *Cluster) WaitARPOwner(tb interface{ Fatalf(string, ...any) }, timeout time.Duration, vip, not string) string {
	var owner string
	streak := 0
	c.Eventually(tb, timeout, func() error {
		owners, err := c.ARPOwners(vip, 2)
		if err != nil {
			return err
		}
		if len(owners) != 1 || owners[0] == not {
			streak = 0
			return fmt.Errorf("ARP for %s answered by %v, want exactly one node other than %q", vip, owners, not)
		}
		if owners[0] != owner {
			owner, streak = owners[0], 0
		}
		if streak++; streak < 3 {
			return fmt.Errorf("ARP for %s answered by %s %d time(s) in a row", vip, owner, streak)
		}
		return nil
	})
	return owner
}
