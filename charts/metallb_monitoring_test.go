package charts_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type alertRule struct {
	Alert, Expr, For string
	Labels           map[string]string
}

func alertRules(t *testing.T, pr *unstructured.Unstructured) map[string]alertRule {
	t.Helper()
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	if len(groups) != 1 {
		t.Fatalf("PrometheusRule has %d groups, MetalLB's has 1", len(groups))
	}
	g := groups[0].(map[string]any)
	if g["name"] != release+".rules" {
		t.Errorf("group name %v, want %s.rules as MetalLB's <fullname>.rules", g["name"], release)
	}
	out := map[string]alertRule{}
	for _, r := range g["rules"].([]any) {
		m := r.(map[string]any)
		a := alertRule{Labels: map[string]string{}}
		a.Alert, _ = m["alert"].(string)
		a.Expr, _ = m["expr"].(string)
		a.For, _ = m["for"].(string)
		if ls, ok := m["labels"].(map[string]any); ok {
			for k, v := range ls {
				a.Labels[k] = v.(string)
			}
		}
		out[a.Alert] = a
	}
	return out
}

// TestMetalLBMonitoringOffByDefault: the chart's defaults render no Prometheus Operator objects,
// whose CRDs a cluster may not have.
func TestMetalLBMonitoringOffByDefault(t *testing.T) {
	objs := rendered(decode(t, render(t)))
	if n := objs.count("PodMonitor") + objs.count("PrometheusRule"); n != 0 {
		t.Errorf("defaults render %d PodMonitor/PrometheusRule objects", n)
	}
}

// TestMetalLBPrometheusRule renders MetalLB's alerts from MetalLB's values: the expressions of
// MetalLB's chart, with the job matcher selecting this chart's scrape jobs, and each value applied.
func TestMetalLBPrometheusRule(t *testing.T) {
	if out, err := helm(t, "lint", chartDir(), "--namespace", namespace, "--kube-version", kubeVersion,
		"-f", "testdata/metallb-monitoring.yaml"); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	objs := rendered(decode(t, render(t, "-f", "testdata/metallb-monitoring.yaml")))
	pr := objs.find("PrometheusRule", release)
	if pr == nil {
		t.Fatal("no PrometheusRule")
	}
	if pr.GetLabels()["release"] != "prometheus" {
		t.Errorf("additionalLabels not applied: %v", pr.GetLabels())
	}
	rules := alertRules(t, pr)
	job := `{job=~"` + release + `.*"}`
	want := map[string]alertRule{
		"MetalLBStaleConfig": {Expr: "metallb_k8s_client_config_stale_bool" + job + " == 1", For: "1m",
			Labels: map[string]string{"severity": "warning"}},
		"MetalLBAddressPoolExhausted": {Expr: `metallb_allocator_addresses_in_use_total{pool!~"^scratch-.*"} >= metallb_allocator_addresses_total`,
			For: "1m", Labels: map[string]string{"severity": "page"}},
		"MetalLBAddressPoolUsage90Percent": {Expr: `( metallb_allocator_addresses_in_use_total{pool!~""} / metallb_allocator_addresses_total ) * 100 > 90`,
			Labels: map[string]string{"severity": "warning"}},
		"MetalLBBGPSessionDown": {Expr: "metallb_bgp_session_up" + job + " == 0", For: "1m",
			Labels: map[string]string{"severity": "critical"}},
		"RouteLBExtra": {Expr: "vector(1)", Labels: map[string]string{}},
	}
	for name, w := range want {
		got, ok := rules[name]
		if !ok {
			t.Errorf("no alert %s", name)
			continue
		}
		if got.Expr != w.Expr || got.For != w.For || len(got.Labels) != len(w.Labels) {
			t.Errorf("%s: expr %q for %q labels %v; want expr %q for %q labels %v", name, got.Expr, got.For, got.Labels, w.Expr, w.For, w.Labels)
		}
		for k, v := range w.Labels {
			if got.Labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q", name, k, got.Labels[k], v)
			}
		}
	}
	if len(rules) != len(want) {
		t.Errorf("alerts %v, want exactly %v (configNotLoaded disabled, one usage threshold)", keys(rules), keys(want))
	}

	// The job matcher must select the jobs this chart's scrape objects produce, or the alerts
	// never fire: the PodMonitors' job relabeling and the ServiceMonitors' Service names.
	jobRE := regexp.MustCompile("^(?:" + release + ".*)$")
	for _, comp := range []string{"controller", "speaker"} {
		pm := objs.find("PodMonitor", "-"+comp)
		if pm == nil {
			t.Fatalf("no %s PodMonitor", comp)
		}
		eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
		var ports []string
		for _, e := range eps {
			ep := e.(map[string]any)
			ports = append(ports, ep["port"].(string))
			if ep["interval"] != "15s" {
				t.Errorf("%s PodMonitor port %v: interval %v", comp, ep["port"], ep["interval"])
			}
			if _, ok := ep["metricRelabelings"]; !ok {
				t.Errorf("%s PodMonitor port %v: metricRelabelings not applied", comp, ep["port"])
			}
			jobs := 0
			for _, r := range ep["relabelings"].([]any) {
				rl := r.(map[string]any)
				if rl["targetLabel"] == "job" {
					jobs++
					if !jobRE.MatchString(rl["replacement"].(string)) {
						t.Errorf("%s PodMonitor sets job %v, which the rules' %s does not select", comp, rl["replacement"], job)
					}
				}
			}
			if jobs != 1 {
				t.Errorf("%s PodMonitor port %v: %d job relabelings, want 1", comp, ep["port"], jobs)
			}
		}
		wantPorts := []string{"metrics"}
		if comp == "speaker" {
			wantPorts = append(wantPorts, "reloader-mtr") // metallb_bgp_* come from the reloader
		}
		if !slices.Equal(ports, wantPorts) {
			t.Errorf("%s PodMonitor scrapes %v, want %v", comp, ports, wantPorts)
		}
		if pod := podPortNames(t, objs, comp); !containsAll(pod, ports) {
			t.Errorf("%s PodMonitor ports %v are not all ports of the pod (%v)", comp, ports, pod)
		}
	}
	for _, o := range objs {
		if o.GetKind() == "Service" && strings.HasSuffix(o.GetName(), "-metrics") && !jobRE.MatchString(o.GetName()) {
			t.Errorf("ServiceMonitor job %s is not selected by the rules' %s", o.GetName(), job)
		}
	}
}

// TestMetalLBPodMonitorL2Only: without BGP there is no reloader to scrape.
func TestMetalLBPodMonitorL2Only(t *testing.T) {
	objs := rendered(decode(t, render(t, "-f", "testdata/l2-only.yaml", "-f", "testdata/metallb-monitoring.yaml")))
	eps, _, _ := unstructured.NestedSlice(objs.find("PodMonitor", "-speaker").Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("L2-only speaker PodMonitor endpoints %v, want only metrics", eps)
	}
}

// TestMetalLBMonitoringNeedsMetrics: both objects scrape or alert on the metrics endpoints.
func TestMetalLBMonitoringNeedsMetrics(t *testing.T) {
	for _, key := range []string{"podMonitor", "prometheusRule"} {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte("metrics: {enabled: false}\nprometheus:\n  "+key+": {enabled: true}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := helm(t, "template", release, chartDir(), "--namespace", namespace, "--kube-version", kubeVersion, "-f", f)
		if err == nil || !strings.Contains(err.Error()+string(out), "/metrics/enabled") {
			t.Errorf("%s without metrics: err %v\n%s", key, err, out)
		}
	}
}

func podPortNames(t *testing.T, objs rendered, comp string) []string {
	t.Helper()
	kind := map[string]string{"controller": "Deployment", "speaker": "DaemonSet"}[comp]
	o := objs.find(kind, "-"+comp)
	var names []string
	for _, field := range []string{"containers", "initContainers"} {
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", field)
		for _, c := range cs {
			ps, _ := c.(map[string]any)["ports"].([]any)
			for _, p := range ps {
				names = append(names, p.(map[string]any)["name"].(string))
			}
		}
	}
	return names
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
