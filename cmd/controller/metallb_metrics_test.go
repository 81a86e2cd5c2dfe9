package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// metallbTypes is every metallb_* family the controller serves, with MetalLB's type.
var metallbTypes = map[string]string{
	"metallb_allocator_addresses_total":             "gauge",
	"metallb_allocator_ipv4_addresses_total":        "gauge",
	"metallb_allocator_ipv6_addresses_total":        "gauge",
	"metallb_allocator_addresses_in_use_total":      "gauge",
	"metallb_allocator_ipv4_addresses_in_use_total": "gauge",
	"metallb_allocator_ipv6_addresses_in_use_total": "gauge",
	"metallb_k8s_client_updates_total":              "counter",
	"metallb_k8s_client_update_errors_total":        "counter",
	"metallb_k8s_client_config_loaded_bool":         "gauge",
	"metallb_k8s_client_config_stale_bool":          "gauge",
}

// checkMetalLBMetrics scrapes the running controller (one pool "demo" of 10 IPv4 addresses, svc
// holding one) and checks MetalLB's names, types and label sets, and that the values follow a
// pool that overlaps (a rejected config: stale) and the release of the Service's address.
func checkMetalLBMetrics(t *testing.T, c client.Client, metricsAddr string, svc *corev1.Service) {
	t.Helper()
	ctx := context.Background()
	scrape := func() string { body, _ := get("http://" + metricsAddr + "/metrics"); return body }
	has := func(lines ...string) func() (bool, string) {
		return func() (bool, string) {
			body := scrape()
			for _, l := range lines {
				if !strings.Contains(body, "\n"+l+"\n") {
					return false, "missing " + l
				}
			}
			return true, ""
		}
	}
	eventually(t, "MetalLB's allocator and k8s client series", has(
		`metallb_allocator_addresses_total{pool="demo"} 10`,
		`metallb_allocator_ipv4_addresses_total{pool="demo"} 10`,
		`metallb_allocator_ipv6_addresses_total{pool="demo"} 0`,
		`metallb_allocator_addresses_in_use_total{pool="demo"} 1`,
		`metallb_allocator_ipv4_addresses_in_use_total{pool="demo"} 1`,
		`metallb_allocator_ipv6_addresses_in_use_total{pool="demo"} 0`,
		`metallb_k8s_client_config_loaded_bool 1`,
		`metallb_k8s_client_config_stale_bool 0`,
	))
	body := scrape()
	for name, typ := range metallbTypes {
		if !strings.Contains(body, "\n# TYPE "+name+" "+typ+"\n") {
			t.Errorf("/metrics has no %s of type %s", name, typ)
		}
	}
	// Every sample of a metallb_* family carries exactly MetalLB's labels.
	sample := regexp.MustCompile(`(?m)^(metallb_[a-z0-9_]+)(\{[^}]*\})? `)
	for _, m := range sample.FindAllStringSubmatch(body, -1) {
		want := "{}"
		if strings.HasPrefix(m[1], "metallb_allocator_") {
			want = `{pool=""}`
		}
		got := regexp.MustCompile(`="[^"]*"`).ReplaceAllString(m[2], `=""`)
		if got == "" {
			got = "{}"
		}
		if got != want {
			t.Errorf("%s has labels %s, MetalLB's are %s", m[1], m[2], want)
		}
	}
	if regexp.MustCompile(`\nmetallb_k8s_client_updates_total [1-9]`).FindString(body) == "" {
		t.Errorf("no k8s update counted:\n%s", grepMetalLB(body))
	}

	// A pool overlapping demo is rejected: MetalLB calls that running on a stale config.
	overlap := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "overlap", Namespace: testenv.Namespace},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.15/32"}}}
	if err := c.Create(ctx, overlap); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rejected pool makes the config stale", has(`metallb_k8s_client_config_stale_bool 1`))
	if err := c.Delete(ctx, overlap); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the config is fresh again", has(`metallb_k8s_client_config_stale_bool 0`))

	if err := c.Delete(ctx, svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the released address is no longer in use", has(
		`metallb_allocator_addresses_in_use_total{pool="demo"} 0`,
		`metallb_allocator_ipv4_addresses_in_use_total{pool="demo"} 0`,
		`metallb_allocator_addresses_total{pool="demo"} 10`,
	))
}

func grepMetalLB(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, "metallb_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestBinaryWithoutMetalLBMetrics: --metallb-metrics=false leaves only routelb's own series.
func TestBinaryWithoutMetalLBMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an API server and the binary")
	}
	env := testenv.Start(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "controller")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kubeconfig := env.Kubeconfig(t)
	metricsAddr := freeAddr(t)
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--disable-webhook", "--metallb-metrics=false",
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // only the process this test started
		_ = cmd.Wait()
	})
	pool := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: testenv.Namespace},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.10-203.0.113.19"}}}
	if err := env.Client.Create(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	eventually(t, "routelb's pool series", func() (bool, string) {
		body, _ := get("http://" + metricsAddr + "/metrics")
		return strings.Contains(body, `routelb_allocator_addresses_total{pool="demo"} 10`), "not yet"
	})
	body, _ := get("http://" + metricsAddr + "/metrics")
	if s := grepMetalLB(body); s != "" {
		t.Errorf("--metallb-metrics=false still serves:\n%s", s)
	}
}
