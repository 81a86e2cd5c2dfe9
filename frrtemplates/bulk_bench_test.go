package frrtemplates_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
	"github.com/routelb/routelb/reloader"
	"github.com/routelb/routelb/reloader/frr"
)

// bulkRouter is the router of the bulk benchmark: it accepts whatever the node announces.
const bulkRouter = `frr defaults traditional
router bgp 64512
 no bgp ebgp-requires-policy
 bgp router-id 198.51.100.1
 neighbor 198.51.100.11 remote-as 64513
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
exit
`

// bulkChanges are the changes of docs/benchmarks.md, "Bulk changes": numbers of single-VIP Services.
var bulkChanges = []struct{ from, to int }{{0, 1000}, {0, 2000}, {0, 10000}, {10000, 10001}, {10000, 10100}, {10000, 9900}, {10000, 0}}

// bulkConfig is node1's frr.conf with n Services announced to one peer (tor-1, the router) with one
// community, as the renderer writes it.
func bulkConfig(tb testing.TB, n int) string {
	in := templatetest.ScaleInput(n)
	in.Peers = in.Peers[:1]
	return string(templatetest.MustCompute(tb, in, nodeconfig.DaemonFRR).Rendered)
}

var bareDrop = regexp.MustCompile(`(?m)^(ip|ipv6) prefix-list .*\n|^bgp (large-)?community-list .*\n|^  neighbor \S+ route-map .*\n| route-map \S+$`)

// bareConfig is the floor: the same config with nothing but the network lines (no policy at all).
func bareConfig(tb testing.TB, n int) string {
	c := bulkConfig(tb, n)
	if i, j := strings.Index(c, "route-map "), strings.Index(c, "router bgp "); i >= 0 && i < j {
		c = c[:i] + c[j:]
	}
	return bareDrop.ReplaceAllString(c, "")
}

// BenchmarkBulk applies each change of bulkChanges with the reloader (Applier.Apply) to a node FRR
// peering with a router FRR, and times until the router has every prefix: for the config the renderer
// writes and for the bare network lines, side by side in one run, on each FRR version (the node's;
// the router runs the host's). A session reset fails the benchmark.
//
//	go test -run '^$' -bench Bulk -benchtime 1x -timeout 60m ./frrtemplates/
func BenchmarkBulk(b *testing.B) {
	for _, v := range netlab.FRRVersions(b) {
		b.Run(v.String(), func(b *testing.B) {
			for _, shape := range bulkShapes() {
				b.Run(shape.name, func(b *testing.B) { benchBulk(b, v, shape) })
			}
		})
	}
}

type bulkShape struct {
	name   string
	config func(testing.TB, int) string
	// batch > 0 sends the delta's network lines in vtysh calls of batch lines each instead of
	// the reloader's one call, to compare the two.
	batch int
}

func bulkShapes() []bulkShape {
	shapes := []bulkShape{{name: "rendered", config: bulkConfig}, {name: "bare", config: bareConfig}}
	if os.Getenv("ROUTELB_BULK_BATCHES") != "" {
		shapes = append(shapes, bulkShape{name: "rendered-batch500", config: bulkConfig, batch: 500})
	}
	// ROUTELB_BULK_FILES=DIR adds DIR/SHAPE-N.conf files as shapes, for measuring other renderings.
	if dir := os.Getenv("ROUTELB_BULK_FILES"); dir != "" {
		for _, name := range strings.Split(os.Getenv("ROUTELB_BULK_SHAPES"), ",") {
			shapes = append(shapes, bulkShape{name: name, config: func(tb testing.TB, n int) string {
				b, err := os.ReadFile(fmt.Sprintf("%s/%s-%d.conf", dir, name, n))
				if err != nil {
					tb.Fatal(err)
				}
				return string(b)
			}})
		}
	}
	return shapes
}

func benchBulk(b *testing.B, v *netlab.FRRVersion, shape bulkShape) {
	lab := netlab.New(b)
	lab.Reserve("198.18.0.0/15")
	router := lab.StartFRR(lab.AddHost("router", "198.51.100.1/24"), "router", bulkRouter)
	node := lab.StartFRRVersion(v, lab.AddHost("node", "198.51.100.11/24"), "node", "")
	vtysh, frrReload := node.ReloaderTools()
	applier := &reloader.Applier{Scratch: node.ScratchDir(), Log: logr.Discard(),
		FRR: &reloader.FRR{Vtysh: vtysh, Pathspace: node.Pathspace, ConfigDir: node.ConfigDir, RunDir: node.RunRoot(), FrrReload: frrReload}}
	if only := os.Getenv("ROUTELB_BULK_CHANGES"); only != "" {
		b.Logf("changes limited to %s", only)
	}
	for _, c := range bulkChanges {
		name := fmt.Sprintf("%dto%d", c.from, c.to)
		if only := os.Getenv("ROUTELB_BULK_CHANGES"); only != "" && !strings.Contains(","+only+",", ","+name+",") {
			continue
		}
		from, to := shape.config(b, c.from), shape.config(b, c.to)
		b.Run(name, func(b *testing.B) {
			b.StopTimer()
			for i := 0; i < b.N; i++ {
				bulkApply(b, applier, from)
				router.WaitEstablished("198.51.100.11", 30*time.Second)
				waitReceived(b, router, c.from, 10*time.Minute)
				time.Sleep(time.Second) // the node's bgpd at rest before the change
				before := router.EstablishedCounts()
				b.StartTimer()
				start := time.Now()
				var res reloader.Result
				if shape.batch > 0 {
					res = batchedApply(b, applier, from, to, shape.batch)
				} else {
					res = bulkApply(b, applier, to)
				}
				waitReceived(b, router, c.to, 10*time.Minute)
				atRouter := time.Since(start)
				b.StopTimer()
				if after := router.EstablishedCounts(); !maps.Equal(after, before) {
					b.Fatalf("the change reset the session: established %v -> %v", before, after)
				}
				b.ReportMetric(float64(res.Commands), "commands")
				b.ReportMetric(res.ApplyDuration.Seconds(), "s-applied")
				b.ReportMetric(atRouter.Seconds(), "s-at-router")
			}
		})
	}
}

func bulkApply(b *testing.B, a *reloader.Applier, cfg string) reloader.Result {
	res := a.Apply(context.Background(), []byte(cfg))
	if res.Err != nil || res.Outcome != reloader.OutcomeApplied && res.Outcome != reloader.OutcomeUnchanged {
		b.Fatalf("apply: %s: %v %q", res.Outcome, res.Err, res.Diff)
	}
	return res
}

// waitReceived polls the router (every 20 ms) until it has want prefixes from the node.
func waitReceived(b testing.TB, router *netlab.FRR, want int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	got := -1
	for time.Now().Before(deadline) {
		out, err := router.Vtysh("-c", "show bgp ipv4 unicast summary json")
		var sum struct {
			Peers map[string]struct {
				PfxRcd int `json:"pfxRcd"`
			} `json:"peers"`
		}
		if err == nil && json.Unmarshal([]byte(out), &sum) == nil {
			if got = sum.Peers["198.51.100.11"].PfxRcd; got == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("the router has %d prefixes from the node after %v, want %d", got, timeout, want)
}

// batchedApply sends the delta from -> to as the reloader computes it, but its network lines in
// calls of n lines each, every call re-entering the BGP instance and address family.
func batchedApply(b *testing.B, a *reloader.Applier, from, to string, n int) reloader.Result {
	start := time.Now()
	delta := a.Rules().Delta(frr.Parse(from), frr.Parse(to))
	var head, nets []string
	for _, l := range delta {
		if strings.HasPrefix(strings.TrimSpace(l), "network ") || strings.HasPrefix(strings.TrimSpace(l), "no network ") {
			nets = append(nets, l)
		} else {
			head = append(head, l)
		}
	}
	apply := func(name string, lines []string) {
		file := filepath.Join(a.Scratch, name)
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := a.FRR.ApplyFile(context.Background(), file); err != nil {
			b.Fatal(err)
		}
	}
	apply("head.conf", head) // lists and route-maps, and the instance's empty address family
	for i := 0; i < len(nets); i += n {
		chunk := nets[i:min(i+n, len(nets))]
		apply("batch.conf", append(append([]string{"router bgp 64513", " address-family ipv4 unicast"}, chunk...), " exit-address-family", "exit"))
	}
	a.Forget() // the applier did not see this change
	return reloader.Result{Commands: len(delta), ApplyDuration: time.Since(start)}
}
