package charts_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/controllers/ipam"
	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/l2responder"
	"github.com/routelb/routelb/reloader"
)

// descRecorder is a Registerer that only notes the names of what the binaries register.
type descRecorder map[string]bool

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 256)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqNameRE.FindStringSubmatch(d.String()); m != nil {
			r[m[1]] = true
		}
	}
	return nil
}

func (r descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r descRecorder) Unregister(prometheus.Collector) bool { return true }

// exportedNames is every metric family the controller, the speaker and the reloader (FRR and BIRD
// mode) register, through the functions their mains call.
func exportedNames(t *testing.T) descRecorder {
	t.Helper()
	r := descRecorder{}
	speakerMetrics := func(reg prometheus.Registerer) error { _, err := speaker.NewMetrics(reg, true); return err }
	responder := func(reg prometheus.Registerer) error { return l2responder.RegisterMetrics(reg, true) }
	for _, reg := range []func(prometheus.Registerer) error{ipam.RegisterMetrics, ipam.RegisterMetalLBMetrics,
		speakerMetrics, responder, reloader.RegisterMetrics} {
		if err := reg(r); err != nil {
			t.Fatal(err)
		}
	}
	r.MustRegister(&reloader.FRRCollector{}, &reloader.BIRDCollector{})
	return r
}

type dashPanel struct {
	Title   string      `json:"title"`
	Panels  []dashPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

var seriesRE = regexp.MustCompile(`\b(?:metallb|routelb)_[a-z0-9_]+`)

// TestDashboard: every expression of the chart's Grafana dashboard parses (promtool, as a
// recording rule) and names only series the binaries export.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir(), "dashboards", "routelb-metallb.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []dashPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	names := exportedNames(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, tg := range p.Targets {
				n++
				used := seriesRE.FindAllString(tg.Expr, -1)
				if len(used) == 0 {
					t.Errorf("panel %q: %q names no routelb or metallb series", p.Title, tg.Expr)
				}
				for _, s := range used {
					if !names[s] && !names[strings.TrimSuffix(s, "_bucket")] {
						t.Errorf("panel %q: %s is not exported by any binary", p.Title, s)
					}
				}
				// Grafana's $__rate_interval is not PromQL; any range stands in for it.
				expr := strings.ReplaceAll(tg.Expr, "$__rate_interval", "1m")
				q, _ := json.Marshal(expr)
				fmt.Fprintf(&rules, "      - record: dashboard:panel_%d\n        expr: %s\n", n, q)
			}
		}
	}
	walk(dash.Panels)
	if n < 10 {
		t.Fatalf("only %d expressions found in the dashboard", n)
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboard's expressions: %v\n%s", err, out)
	}
	if testing.Verbose() {
		all := make([]string, 0, len(names))
		for k := range names {
			all = append(all, k)
		}
		sort.Strings(all)
		t.Logf("exported families: %v", all)
	}
}
