package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The Layer 2 outage scenario (issue 19): a client arps an L2 VIP while the nodes lose the API
// server, for routelb (--l2-memberlist) and MetalLB (memberlist) on the same lab. It measures and
// asserts nothing; the bench prints the figures side by side.
const (
	OutageVIP    = "203.0.113.170" // in L2PoolRange
	outageSvc    = "outage-l2"
	OutageLength = 40 * time.Second
	killAfter    = 3 * time.Second // into the outage, so the owner's last heartbeats say "no API"
	outageSettle = 10 * time.Second
)

var (
	// Habets' arping numbers its probes: two replies to one probe share an index.
	arpingReplyRE   = regexp.MustCompile(`from ([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}) \(\S+\): index=(\d+)`)
	arpingSummaryRE = regexp.MustCompile(`(\d+) packets transmitted`)
)

// ProbeFigures are the answers to one arping run.
type ProbeFigures struct {
	Interval time.Duration
	Sent     int
	Answered int            // probes with at least one reply
	From     map[string]int // replies by node name (a MAC of no node as itself)
	Doubled  int            // probes with more than one reply
	TwoMACs  int            // probes answered by two different MACs: split brain
	Gap      int            // longest run of unanswered probes
}

// KillFigures are the owner-killed-during-an-outage case's.
type KillFigures struct {
	Probes   ProbeFigures
	Killed   string
	NewOwner string        // the first other node to answer after the kill; "" if none did
	ToAnswer time.Duration // from the SIGKILL to NewOwner's first reply
	// BeforeAPI: NewOwner answered while every node was still cut; Margin is how long before (or,
	// negative, after) the API server came back.
	BeforeAPI bool
	Margin    time.Duration
}

// OutageFigures are the three cases of L2Outage.
type OutageFigures struct {
	Owner    string // before the first case
	Whole    ProbeFigures
	OwnerCut ProbeFigures
	After    string // the owner after the two cuts (it should not have moved)
	Kill     KillFigures
}

type reply struct {
	mac   string
	index int
	at    time.Time
}

// L2Outage runs the three cases on the lab as it is (routelb's or MetalLB's speakers running,
// speaker giving the process of a node's): a 40 s outage of the API server for every node, a 40 s
// cut of the owner alone, and the owner's speaker SIGKILLed 3 s into a 40 s outage for every node.
// The API server is restored and the lab settles between cases; the killed speaker is restarted.
func L2Outage(c *Cluster, speaker func(node string) *Proc, progress func(string, ...any)) OutageFigures {
	ctx := context.Background()
	if err := c.CreateService(ctx, ServiceSpec{Name: outageSvc, Pool: L2Pool, IP: OutageVIP, EndpointNodes: NodeNames}); err != nil {
		c.R.Fatalf("%v", err)
	}
	defer func() { _ = c.DeleteService(ctx, outageSvc) }()
	// A failed case must not leave the next product's speakers cut off.
	defer func() {
		for _, n := range NodeNames {
			_ = c.CutAPI(n, false)
		}
	}()
	var f OutageFigures
	f.Owner = c.WaitARPOwner(c.R, 2*Short, OutageVIP, "")
	// Every speaker must have heard every other one (memberlist joined) before the API goes.
	time.Sleep(outageSettle)
	progress("owner %s; whole-cluster API outage for %v", f.Owner, OutageLength)
	f.Whole = c.probeThrough(NodeNames)
	time.Sleep(outageSettle)
	progress("owner %s cut alone from the API server for %v", f.Owner, OutageLength)
	f.OwnerCut = c.probeThrough([]string{f.Owner})
	time.Sleep(outageSettle)
	f.After = c.WaitARPOwner(c.R, 2*Short, OutageVIP, "")
	progress("owner %s's speaker SIGKILLed %v into a %v whole-cluster outage", f.After, killAfter, OutageLength)
	f.Kill = c.killDuringOutage(f.After, speaker(f.After))
	return f
}

// probeThrough probes the VIP once a second from 2 s before cutting nodes from the API server for
// OutageLength to 2 s after it is back.
func (c *Cluster) probeThrough(nodes []string) ProbeFigures {
	probes := int((OutageLength + 4*time.Second) / time.Second)
	done := c.probeAsync(probes, time.Second)
	time.Sleep(2 * time.Second)
	c.cutAll(nodes, true)
	time.Sleep(OutageLength)
	c.cutAll(nodes, false)
	r := <-done
	return r.figures
}

func (c *Cluster) killDuringOutage(owner string, sp *Proc) KillFigures {
	const interval = 200 * time.Millisecond
	probes := int((OutageLength + 6*time.Second) / interval)
	done := c.probeAsync(probes, interval)
	time.Sleep(2 * time.Second)
	c.cutAll(NodeNames, true)
	cutAt := time.Now() // every node checked cut: the outage's start for the figures
	time.Sleep(killAfter)
	killed := time.Now()
	if err := sp.Signal(syscall.SIGKILL); err != nil {
		c.R.Fatalf("lab: %v", err) // L2Outage's deferred restore gives the nodes the API back
	}
	time.Sleep(time.Until(cutAt.Add(OutageLength)))
	back := time.Now()
	c.cutAll(NodeNames, false)
	r := <-done
	k := KillFigures{Probes: r.figures, Killed: owner}
	for _, rep := range r.replies {
		if n := c.nodeName(rep.mac); n != owner && rep.at.After(killed) {
			k.NewOwner, k.ToAnswer = n, rep.at.Sub(killed)
			k.BeforeAPI, k.Margin = rep.at.Before(back), back.Sub(rep.at)
			break
		}
	}
	// Restarted as its DaemonSet would restart it; the next case (or product) starts from a full lab.
	if err := sp.Restart(); err != nil {
		c.R.Fatalf("lab: %v", err)
	}
	time.Sleep(outageSettle)
	c.WaitARPOwner(c.R, 2*Short, OutageVIP, "")
	return k
}

// cutAll cuts nodes from the API server or restores them, and checks it from inside each node: a
// figure measured while the API server was still reachable would be worthless.
func (c *Cluster) cutAll(nodes []string, cut bool) {
	for _, n := range nodes {
		if err := c.CutAPI(n, cut); err != nil {
			c.R.Fatalf("%v", err)
		}
	}
	for _, n := range nodes {
		err := c.ReachesAPI(n)
		if cut && err == nil {
			c.R.Fatalf("lab: %s still reaches the API server after CutAPI", n)
		}
		if !cut && err != nil {
			c.R.Fatalf("lab: %s does not reach the API server after restoring it: %v", n, err)
		}
	}
}

// ReachesAPI makes one API request from inside node's namespace, through its proxy as its speaker
// does. It is not retried: client-go retries a GET that meets a closed connection once a second
// until its timeout, which would put seconds between the cut and the figures' start.
func (c *Cluster) ReachesAPI(node string) error {
	cfg := rest.CopyConfig(c.Env.Config)
	ns := c.Node(node).Host.NS
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return DialIn(ctx, ns, network, addr)
	}
	cfg.Timeout = 3 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return cs.Discovery().RESTClient().Get().AbsPath("/version").MaxRetries(0).Do(context.Background()).Error()
}

type probeResult struct {
	figures ProbeFigures
	replies []reply
}

// probeAsync runs arping for OutageVIP from the client, count probes every interval, stamping each
// reply as it is read.
func (c *Cluster) probeAsync(count int, interval time.Duration) <-chan probeResult {
	done := make(chan probeResult, 1)
	go func() {
		replies, sent, err := c.arping(count, interval)
		if err != nil {
			c.R.Logf("lab: arping: %v", err)
		}
		done <- probeResult{figures: c.probeFigures(replies, sent, interval), replies: replies}
	}()
	return done
}

func (c *Cluster) arping(count int, interval time.Duration) ([]reply, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count)*interval+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", c.ClientHost.NS, "arping", "-c", strconv.Itoa(count),
		"-W", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-i", "eth0", OutageVIP)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	var replies []reply
	sent := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if m := arpingReplyRE.FindStringSubmatch(line); m != nil {
			i, _ := strconv.Atoi(m[2])
			replies = append(replies, reply{mac: strings.ToLower(m[1]), index: i, at: time.Now()})
		}
		if m := arpingSummaryRE.FindStringSubmatch(line); m != nil {
			sent, _ = strconv.Atoi(m[1])
		}
	}
	// arping exits 1 when a probe went unanswered: that is a figure, not an error.
	_ = cmd.Wait()
	if err := ctx.Err(); err != nil {
		return replies, sent, fmt.Errorf("arping: %w", err)
	}
	if sent == 0 {
		return replies, 0, errors.New("no summary line from arping")
	}
	return replies, sent, nil
}

func (c *Cluster) probeFigures(replies []reply, sent int, interval time.Duration) ProbeFigures {
	f := ProbeFigures{Interval: interval, Sent: sent, From: map[string]int{}}
	macs := map[int]map[string]int{}
	for _, r := range replies {
		f.From[c.nodeName(r.mac)]++
		if macs[r.index] == nil {
			macs[r.index] = map[string]int{}
		}
		macs[r.index][r.mac]++
	}
	run := 0
	for i := range sent {
		m := macs[i]
		n := 0
		for _, k := range m {
			n += k
		}
		switch {
		case n == 0:
			run++
			f.Gap = max(f.Gap, run)
			continue
		case n > 1:
			f.Doubled++
		}
		if len(m) > 1 {
			f.TwoMACs++
		}
		f.Answered++
		run = 0
	}
	return f
}

func (c *Cluster) nodeName(mac string) string {
	if n := c.NodeByMAC(mac); n != nil {
		return n.Name
	}
	return mac
}

// ByNode is From as "node1 44, node2 1", sorted by node.
func (f ProbeFigures) ByNode() string {
	var parts []string
	for n, k := range f.From {
		parts = append(parts, fmt.Sprintf("%s %d", n, k))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, ", ")
}
