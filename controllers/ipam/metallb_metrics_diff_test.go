//go:build metallbdiff

package ipam

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// family is one metric family as an exposition shows it: its type and the label names of its
// samples.
type family struct {
	typ    string
	labels string
}

var (
	typeLine   = regexp.MustCompile(`(?m)^# TYPE (metallb_\S+) (\S+)$`)
	sampleLine = regexp.MustCompile(`(?m)^(metallb_[a-z0-9_]+)(?:\{([^}]*)\})? (\S+)$`)
	labelName  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
)

// exposedFamilies reads the metallb_* families of a text exposition, and each sample's value by
// name+labels.
func exposedFamilies(body string) (map[string]family, map[string]string) {
	fs := map[string]family{}
	for _, m := range typeLine.FindAllStringSubmatch(body, -1) {
		fs[m[1]] = family{typ: m[2]}
	}
	values := map[string]string{}
	for _, m := range sampleLine.FindAllStringSubmatch(body, -1) {
		var names []string
		for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
			names = append(names, l[1])
		}
		slices.Sort(names)
		f := fs[m[1]]
		f.labels = strings.Join(names, ",")
		fs[m[1]] = f
		values[m[1]+"{"+m[2]+"}"] = m[3]
	}
	return fs, values
}

// TestDifferentialMetalLBMetrics scrapes MetalLB's own controller and routelb's after the same pool
// and Service: every metallb_* family MetalLB serves with samples, routelb serves with the same
// type and label names, and the pool's values agree.
func TestDifferentialMetalLBMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts two API servers and MetalLB's controller")
	}
	port := freePort(t)
	theirs := startMetalLB(t, "--port", fmt.Sprint(port))
	ours := startIPAMEnv(t, false)
	if err := RegisterMetalLBMetrics(metrics.Registry); err != nil {
		t.Fatal(err)
	}
	ours.startManager()
	ctx := context.Background()
	for _, c := range []client.Client{ours.c, theirs.c} {
		pool := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "mdiff", Namespace: testenv.Namespace},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"198.18.60.0/29", "2001:db8:60::/126"}}}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "mdiff", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
		for _, o := range []client.Object{pool, svc} {
			if err := c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	// MetalLB v0.15.2's controller serves plain HTTP without authentication.
	scrapeTheirs := func() string { return httpGet(fmt.Sprintf("http://127.0.0.1:%d/metrics", port)) }
	want := []string{
		`metallb_allocator_addresses_total{pool="mdiff"}`, `metallb_allocator_addresses_in_use_total{pool="mdiff"}`,
		`metallb_allocator_ipv4_addresses_total{pool="mdiff"}`, `metallb_allocator_ipv6_addresses_total{pool="mdiff"}`,
		`metallb_allocator_ipv4_addresses_in_use_total{pool="mdiff"}`, `metallb_allocator_ipv6_addresses_in_use_total{pool="mdiff"}`,
	}
	var theirFams, ourFams map[string]family
	var theirVals, ourVals map[string]string
	eventually(t, "both controllers count the Service's address", func() (bool, string) {
		body := scrapeTheirs()
		theirFams, theirVals = exposedFamilies(body)
		if !strings.Contains(body, "# TYPE metallb_") {
			return false, "MetalLB's /metrics: " + tailOf(body, 300)
		}
		ourFams, ourVals = exposedFamilies(gatherText(t))
		for _, k := range want[:2] {
			if theirVals[k] != "1" && !strings.HasPrefix(k, "metallb_allocator_addresses_total") {
				return false, "MetalLB: " + k + "=" + theirVals[k]
			}
		}
		return theirVals[want[1]] == "1" && ourVals[want[1]] == "1", fmt.Sprintf("in use: MetalLB %q, routelb %q", theirVals[want[1]], ourVals[want[1]])
	})
	for _, k := range want {
		if theirVals[k] != ourVals[k] {
			t.Errorf("%s: MetalLB %q, routelb %q", k, theirVals[k], ourVals[k])
		}
	}
	compared := 0
	for name, f := range theirFams {
		if f.labels == "" && !strings.HasPrefix(name, "metallb_k8s_client_") {
			continue // a family without samples says nothing of its labels
		}
		if !strings.HasPrefix(name, "metallb_allocator_") && !strings.HasPrefix(name, "metallb_k8s_client_") {
			continue // the controller's own families only
		}
		compared++
		if name == "metallb_allocator_services_allocated_total" {
			if _, ok := ourFams[name]; ok {
				t.Errorf("%s is served but docs/metrics.md says it is not", name)
			}
			continue
		}
		if got, ok := ourFams[name]; !ok || got != f {
			t.Errorf("%s: MetalLB serves %+v, routelb %+v (served %v)", name, f, got, ok)
		}
	}
	t.Logf("compared %d of MetalLB's families; pool values %v", compared, theirVals)
	if compared < 10 {
		t.Errorf("compared only %d MetalLB families: %v", compared, theirFams)
	}
}

func httpGet(url string) string {
	resp, err := http.Get(url) //nolint:gosec,noctx // a test's own local endpoint
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close() //nolint:errcheck
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// gatherText is routelb's registry as /metrics would show it.
func gatherText(t *testing.T) string {
	t.Helper()
	srv := &http.Server{Handler: promHandler()} //nolint:gosec
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close() //nolint:errcheck
	return httpGet("http://" + l.Addr().String() + "/")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() //nolint:errcheck
	return l.Addr().(*net.TCPAddr).Port
}

func promHandler() http.Handler {
	return promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{})
}
