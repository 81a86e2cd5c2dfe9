package charts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/routelb/routelb/internal/testing/testenv"
)

// promtool returns the promtool that hack/promtool.sh builds into the cache.
func promtool(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "promtool.sh"), "--no-build").Output()
	if err != nil {
		t.Fatalf("promtool is not built: run `make promtool` (hack/promtool.sh): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestMetalLBAlertsEvaluate checks the chart's PrometheusRule with promtool and runs MetalLB's alerts
// on series shaped as routelb exports them (charts/testdata/metallb-alerts.test.yaml): each fires
// after its `for`, not before, and resolves when the series recovers.
func TestMetalLBAlertsEvaluate(t *testing.T) {
	bin := promtool(t)
	objs := rendered(decode(t, render(t, "--set", "prometheus.prometheusRule.enabled=true")))
	pr := objs.find("PrometheusRule", release)
	if pr == nil {
		t.Fatal("no PrometheusRule")
	}
	rules, err := yaml.Marshal(pr.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "metallb-alerts.test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.test.yaml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "alerts.test.yaml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s\nrules:\n%s", strings.Join(args, " "), err, out, rules)
		}
	}
	// Every alert the defaults render is exercised by the test file, so a new alert cannot slip
	// in untested.
	for name := range alertRules(t, pr) {
		if !strings.Contains(string(tests), "alertname: "+name+",") && !strings.Contains(string(tests), "alertname: "+name+"\n") {
			t.Errorf("alert %s is not in testdata/metallb-alerts.test.yaml", name)
		}
	}
}
