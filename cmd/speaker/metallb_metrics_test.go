package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
)

// checkMetalLBBGPMetrics gives node7's speaker (pool "vips", peer "tor") a Service to announce
// and checks MetalLB's speaker and k8s client series on its /metrics: names, types, label sets,
// and that the announced series goes when the Service does.
func checkMetalLBBGPMetrics(t *testing.T, c client.Client, metricsAddr string) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create(ctx, &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: testenv.Namespace},
		Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"vips"}}}))
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
	must(c.Create(ctx, svc))
	pods := "node7"
	must(c.Create(ctx, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-pods", Namespace: "default",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}, AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.9"}, NodeName: &pods}}}))
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.5"}}
	must(c.Status().Update(ctx, svc))

	announced := `metallb_speaker_announced{ip="203.0.113.5",node="node7",protocol="bgp",service="default/web"} 1`
	body := waitScrape(t, metricsAddr, "the Service is announced", func(b string) bool {
		return strings.Contains(b, "\n"+announced+"\n") && strings.Contains(b, "\nmetallb_k8s_client_config_loaded_bool 1\n") &&
			strings.Contains(b, "\nmetallb_k8s_client_config_stale_bool 0\n")
	})
	for name, typ := range map[string]string{
		"metallb_speaker_announced": "gauge", "metallb_k8s_client_updates_total": "counter",
		"metallb_k8s_client_update_errors_total": "counter", "metallb_k8s_client_config_loaded_bool": "gauge",
		"metallb_k8s_client_config_stale_bool": "gauge",
	} {
		if !strings.Contains(body, "\n# TYPE "+name+" "+typ+"\n") {
			t.Errorf("/metrics has no %s of type %s", name, typ)
		}
	}
	if regexp.MustCompile(`\nmetallb_k8s_client_updates_total [1-9]`).FindString(body) == "" {
		t.Error("no k8s update counted")
	}
	// The allocator's series are the controller's: a speaker exporting them would double every pool.
	if strings.Contains(body, "metallb_allocator_") {
		t.Error("the speaker's /metrics has allocator series")
	}

	must(c.Delete(ctx, svc))
	waitScrape(t, metricsAddr, "the withdrawn Service's series is gone", func(b string) bool {
		return !strings.Contains(b, "metallb_speaker_announced{")
	})
}

func waitScrape(t *testing.T, addr, what string, ok func(string) bool) string {
	t.Helper()
	var body string
	wait.Eventually(t, 60*time.Second, func() error {
		if body = scrape(addr); ok(body) {
			return nil
		}
		return fmt.Errorf("%s; metallb series:\n%s", what, strings.Join(regexp.MustCompile(`(?m)^metallb_.*$`).FindAllString(body, -1), "\n"))
	})
	return body
}

func scrape(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics") //nolint:gosec,noctx // a test's own local endpoint
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close() //nolint:errcheck
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() //nolint:errcheck
	return l.Addr().String()
}
