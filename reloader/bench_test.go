package reloader

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/reloader/frr"
)

// scaleConfig is the node config announcing n /32s from 198.18.0.0/15.
func scaleConfig(n int) string {
	s := spec{peers: []peer{{addr: "198.51.100.1", as: "64512", timers: "1 3"}}}
	for i := 0; i < n; i++ {
		s.networks = append(s.networks, fmt.Sprintf("198.18.%d.%d/32", i/250, 1+i%250))
	}
	return s.render()
}

// BenchmarkReloadVsFrrReload times each change with the reloader (validate,
// delta, one vtysh call, semantic check) and with frr-reload.py --reload,
// side by side on the same FRR daemons, for each FRR version (the node's; the router runs the
// host's). Run it once per change:
//
//	go test -run '^$' -bench ReloadVsFrrReload -benchtime 1x -timeout 30m ./reloader/
func BenchmarkReloadVsFrrReload(b *testing.B) {
	for _, v := range netlab.FRRVersions(b) {
		b.Run(v.String(), func(b *testing.B) { benchReloadVsFrrReload(b, v) })
	}
}

func benchReloadVsFrrReload(b *testing.B, v *netlab.FRRVersion) {
	lab := netlab.New(b)
	lab.Reserve("198.18.0.0/15")
	rh := lab.AddHost("router", "198.51.100.1/24")
	nh := lab.AddHost("node", "198.51.100.11/24")
	lab.StartFRR(rh, "router", routerConf)
	node := lab.StartFRRVersion(v, nh, "node", "")
	frr := reloaderFRR(node)
	applier := &Applier{FRR: frr, Scratch: node.ScratchDir(), Log: logr.Discard()}
	for _, c := range []struct{ from, to int }{{1, 1000}, {1000, 100}, {1000, 1}, {10000, 10001}} {
		from, to := scaleConfig(c.from), scaleConfig(c.to)
		b.Run(fmt.Sprintf("%dto%d/reloader", c.from, c.to), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				setTo(b, applier, from)
				b.StartTimer()
				res := applier.Apply(context.Background(), []byte(to))
				b.StopTimer()
				if res.Outcome != OutcomeApplied {
					b.Fatalf("outcome %s: %v", res.Outcome, res.Err)
				}
				b.ReportMetric(float64(res.Commands), "commands")
				b.ReportMetric(float64(res.ApplyDuration.Microseconds())/1000, "ms-to-applied")
			}
		})
		b.Run(fmt.Sprintf("%dto%d/frr-reload.py", c.from, c.to), func(b *testing.B) {
			file := filepath.Join(node.ScratchDir(), "frr.conf")
			if err := os.WriteFile(file, []byte(to), 0o644); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				setTo(b, applier, from)
				b.StartTimer()
				err := frr.FullReload(context.Background(), file, node.ScratchDir())
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				checkRunning(b, applier, to)
			}
		})
	}
}

// setTo brings FRR to cfg outside the timed section.
func setTo(b *testing.B, a *Applier, cfg string) {
	b.StopTimer()
	if res := a.Apply(context.Background(), []byte(cfg)); res.Err != nil {
		b.Fatalf("setting up: %s: %v", res.Outcome, res.Err)
	}
	time.Sleep(200 * time.Millisecond) // let bgpd/zebra settle so the next measure starts from rest
}

func checkRunning(b *testing.B, a *Applier, cfg string) {
	running, err := a.FRR.Running(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if d := a.Rules().Compare(frr.Parse(cfg), frr.Parse(running)); len(d) > 0 {
		b.Fatalf("frr-reload.py left %d differences, first %q", len(d), d[0])
	}
}
