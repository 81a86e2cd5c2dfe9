package birdtemplates_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
)

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

// BenchmarkBulk is frrtemplates' BenchmarkBulk for BIRD: the reloader's BIRD apply of bird.conf
// for N single-VIP Services announced to one peer (an FRR router) with one community, timed until
// the router has every prefix. A session reset fails it.
//
//	go test -run '^$' -bench Bulk -benchtime 1x ./birdtemplates/
func BenchmarkBulk(b *testing.B) {
	lab := netlab.New(b)
	lab.Reserve("198.18.0.0/15")
	router := lab.StartFRR(lab.AddHost("router", "198.51.100.1/24"), "router", bulkRouter)
	node := templatetest.AddBIRDNode(b, lab, logr.Discard(), "node1", "198.51.100.11/24")
	for _, c := range []struct{ from, to int }{{0, 1000}, {0, 2000}, {0, 10000}, {10000, 10001}, {10000, 10100}, {10000, 9900}, {10000, 0}} {
		from, to := bulkConfig(b, c.from), bulkConfig(b, c.to)
		b.Run(fmt.Sprintf("%dto%d", c.from, c.to), func(b *testing.B) {
			b.StopTimer()
			for i := 0; i < b.N; i++ {
				if res := node.Applier.Apply(context.Background(), from, false); res.Err != nil {
					b.Fatalf("setting up: %s %v", res.Outcome, res.Err)
				}
				router.WaitEstablished("198.51.100.11", 60*time.Second)
				waitReceived(b, router, c.from)
				time.Sleep(time.Second)
				before := router.EstablishedCounts()
				b.StartTimer()
				start := time.Now()
				node.Apply(b, to)
				applied := time.Since(start)
				waitReceived(b, router, c.to)
				atRouter := time.Since(start)
				b.StopTimer()
				if after := router.EstablishedCounts(); !maps.Equal(after, before) {
					b.Fatalf("the change reset the session: established %v -> %v", before, after)
				}
				b.ReportMetric(applied.Seconds(), "s-applied")
				b.ReportMetric(atRouter.Seconds(), "s-at-router")
			}
		})
	}
}

func bulkConfig(b *testing.B, n int) []byte {
	in := templatetest.ScaleInput(n)
	in.Peers = in.Peers[:1]
	return templatetest.MustCompute(b, in, nodeconfig.DaemonBIRD).Rendered
}

// waitReceived polls the router (every 20 ms) until it has want prefixes from the node.
func waitReceived(b *testing.B, router *netlab.FRR, want int) {
	deadline := time.Now().Add(10 * time.Minute)
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
	b.Fatalf("the router has %d prefixes from the node, want %d", got, want)
}
