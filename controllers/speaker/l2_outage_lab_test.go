package speaker_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/testing/testenv"
)

// cuttableAPI is a second way into the API server from a node's namespace (127.0.0.1:6444) that
// can be cut: while cut, open connections are closed and new ones refused, as when the node loses
// its route to the control plane.
type cuttableAPI struct {
	cut   atomic.Bool
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func (l *l2Lab) cuttableAPI(ns string) *cuttableAPI {
	ln, err := l2ListenInNetns(ns, "127.0.0.1:6444")
	if err != nil {
		l.t.Fatalf("API proxy in %s: %v", ns, err)
	}
	l.t.Cleanup(func() { _ = ln.Close() })
	u, err := url.Parse(l.env.Config.Host)
	if err != nil || u.Host == "" {
		l.t.Fatalf("API server address %q: %v", l.env.Config.Host, err)
	}
	a := &cuttableAPI{conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if a.cut.Load() {
				_ = c.Close()
				continue
			}
			a.mu.Lock()
			a.conns[c] = true
			a.mu.Unlock()
			go func() {
				l2Forward(c, u.Host)
				a.mu.Lock()
				delete(a.conns, c)
				a.mu.Unlock()
			}()
		}
	}()
	return a
}

func (a *cuttableAPI) setCut(cut bool) {
	a.cut.Store(cut)
	if !cut {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.conns {
		_ = c.Close()
	}
}

// startLAN runs node's speaker with --l2-memberlist, reaching the API server through its
// cuttable proxy.
func (l *l2Lab) startLAN(node, kcfg, secret string, i int) {
	logf, err := os.OpenFile(filepath.Join(l.lab.Dir, node+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	l2Must(l.t, err)
	defer func() { _ = logf.Close() }()
	frr := filepath.Join(l.lab.Dir, "frr-"+node)
	cmd := exec.Command("ip", "netns", "exec", l.nodes[node].NS, l.bin, "--node-name", node, "--kubeconfig", kcfg,
		"--namespace", testenv.Namespace, "--config-dir", frr, "--metrics-bind-address", labMetricsAddr,
		"--health-probe-bind-address", "0", "--l2-memberlist", "--l2-memberlist-bind-addr", fmt.Sprintf("198.51.100.%d", 11+i),
		"--l2-memberlist-secret-file", secret)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	l2Must(l.t, cmd.Start())
	l.mu.Lock()
	l.procs[node] = cmd
	l.mu.Unlock()
}

var (
	arpingSummaryRe = regexp.MustCompile(`(\d+) packets transmitted`)
	// arping (Habets') numbers the probes: two replies to one probe share an index.
	arpingReplyRe = regexp.MustCompile(`from ([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}) \(\S+\): index=(\d+)`)
)

// probe runs arping for the VIP once a second, count times, and returns how many probes were
// sent, the MAC of every reply, the probes that got more than one reply, and the longest run of
// unanswered probes.
func (l *l2Lab) probe(count int) (sent int, replies []string, doubled []int, gap int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count+10)*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", l.client.NS, "arping", "-c", strconv.Itoa(count), "-i", "eth0", labVIP).CombinedOutput()
	seen := map[int]bool{}
	for _, m := range arpingReplyRe.FindAllStringSubmatch(string(out), -1) {
		replies = append(replies, m[1])
		i, _ := strconv.Atoi(m[2])
		if seen[i] {
			doubled = append(doubled, i)
		}
		seen[i] = true
	}
	if m := arpingSummaryRe.FindStringSubmatch(string(out)); m != nil {
		sent, _ = strconv.Atoi(m[1])
	}
	return sent, replies, doubled, longestGap(seen, sent)
}

// longestGap is the longest run of unanswered probes among the first sent (probe indices 0..).
func longestGap(answered map[int]bool, sent int) int {
	longest, run := 0, 0
	for i := range sent {
		if answered[i] {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return longest
}

// TestL2LabOutage: three real speakers with --l2-memberlist in their namespaces and a client
// arping the VIP, through a 40 s outage of the API server for every node, then a 40 s cut of the
// owner alone from it: the owner must keep answering (at least 95% of probes) and every reply must
// come from it alone. Then the owner is SIGKILLed during a 40 s whole-cluster outage: another node
// must answer before the API server is back, and no probe may be answered twice.
func TestL2LabOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts network namespaces and an API server")
	}
	l := newL2Lab(t)
	secret := filepath.Join(l.lab.Dir, "memberlist-secret")
	l2Must(t, os.WriteFile(secret, []byte("lab-secret-"+strconv.FormatInt(time.Now().UnixNano(), 36)), 0o600))
	kcfg := testenv.WriteKubeconfig(t, l.env.Config, "https://127.0.0.1:6444")
	apis := map[string]*cuttableAPI{}
	for i, n := range l2NodeNames {
		apis[n] = l.cuttableAPI(l.nodes[n].NS)
		l.startLAN(n, kcfg, secret, i)
	}
	owner := l.owner(60 * time.Second)
	t.Logf("owner: %s (%s)", owner, l.macs[owner])
	// Let every speaker hear every other one before the outage.
	time.Sleep(5 * time.Second)

	through := func(what string, cut []string) {
		t.Helper()
		var sent int
		var replies []string
		var doubled []int
		var gap int
		done := make(chan struct{})
		go func() { defer close(done); sent, replies, doubled, gap = l.probe(44) }()
		time.Sleep(2 * time.Second)
		t.Logf("%s: cutting %v from the API server for 40 s", what, cut)
		for _, n := range cut {
			apis[n].setCut(true)
		}
		time.Sleep(40 * time.Second)
		for _, n := range cut {
			apis[n].setCut(false)
		}
		<-done
		from := map[string]int{}
		for _, m := range replies {
			from[l.nodeOfMAC(strings.ToLower(m))]++
		}
		t.Logf("%s: %d probes, %d replies, by node %v, longest run of unanswered probes (1/s): %d",
			what, sent, len(replies), from, gap)
		if sent < 40 {
			t.Fatalf("%s: arping sent only %d probes", what, sent)
		}
		if len(doubled) > 0 || len(from) != 1 || from[owner] != len(replies) {
			t.Errorf("%s: replies from %v (probes answered twice: %v), want only %s, one per probe", what, from, doubled, owner)
		}
		if float64(len(replies)) < 0.95*float64(sent) {
			t.Errorf("%s: %d of %d probes answered, want at least 95%%", what, len(replies), sent)
		}
	}
	through("whole-cluster outage", l2NodeNames)
	through("owner cut from the API", []string{owner})
	if now := l.owner(20 * time.Second); now != owner {
		t.Fatalf("owner moved from %s to %s though it never stopped answering", owner, now)
	}

	// Owner SIGKILLed during a 40 s whole-cluster outage: the survivors vote it dead and the
	// first-ranked one answers (rule T), without the API server. Probed every 0.2 s to time it.
	done := make(chan struct{})
	var replies []timedReply
	var sent int
	var doubled []int
	go func() { defer close(done); sent, replies, doubled = l.probeTimed(230, 200*time.Millisecond) }()
	time.Sleep(2 * time.Second)
	t.Logf("owner killed during the outage: cutting every node from the API server for 40 s")
	cutAt := time.Now()
	for _, n := range l2NodeNames {
		apis[n].setCut(true)
	}
	// Its heartbeats must say its Lease is stale before it dies (rule D votes only for such a run).
	time.Sleep(3 * time.Second)
	t.Logf("SIGKILL %s during the outage", owner)
	killed := time.Now()
	l.signal(owner, syscall.SIGKILL)
	time.Sleep(time.Until(cutAt.Add(40 * time.Second)))
	back := time.Now()
	for _, n := range l2NodeNames {
		apis[n].setCut(false)
	}
	<-done
	from := map[string]int{}
	var next string
	var nextAt, lastOld time.Time
	for _, r := range replies {
		n := l.nodeOfMAC(strings.ToLower(r.mac))
		from[n]++
		switch {
		case n == owner:
			lastOld = r.at
		case next == "" && r.at.Before(back):
			next, nextAt = n, r.at
		}
	}
	t.Logf("owner killed during the outage: %d probes, %d replies, by node %v; killed %s, last reply from it %s",
		sent, len(replies), from, killed.Format("15:04:05.000"), lastOld.Format("15:04:05.000"))
	if len(doubled) > 0 {
		t.Errorf("probes answered twice: %v", doubled)
	}
	if next == "" {
		t.Fatalf("nobody answered for %s between its owner's death and the API server's return", labVIP)
	}
	t.Logf("new owner %s answers %v after the SIGKILL, %v before the API server is back",
		next, nextAt.Sub(killed).Round(10*time.Millisecond), back.Sub(nextAt).Round(100*time.Millisecond))
	if now := l.owner(30 * time.Second); now == owner {
		t.Errorf("the killed %s owns the VIP again", owner)
	}
}

type timedReply struct {
	mac string
	at  time.Time
}

// probeTimed runs arping for the VIP every interval, count times, stamping each reply as it is
// read; it returns how many probes were sent, the replies, and the probes answered twice.
func (l *l2Lab) probeTimed(count int, interval time.Duration) (sent int, replies []timedReply, doubled []int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(count)*interval+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.client.NS, "arping", "-c", strconv.Itoa(count),
		"-W", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64), "-i", "eth0", labVIP)
	out, err := cmd.StdoutPipe()
	l2Must(l.t, err)
	l2Must(l.t, cmd.Start())
	seen := map[int]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if m := arpingReplyRe.FindStringSubmatch(line); m != nil {
			replies = append(replies, timedReply{m[1], time.Now()})
			i, _ := strconv.Atoi(m[2])
			if seen[i] {
				doubled = append(doubled, i)
			}
			seen[i] = true
		}
		if m := arpingSummaryRe.FindStringSubmatch(line); m != nil {
			sent, _ = strconv.Atoi(m[1])
		}
	}
	_ = cmd.Wait()
	return sent, replies, doubled
}
