package charts_test

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/routelb/routelb/internal/metricsauth"
	"github.com/routelb/routelb/internal/metricsauth/metricsauthtest"
	"github.com/routelb/routelb/internal/testing/testenv"
)

const metricsCertDir = "/etc/routelb/metrics-tls"

// metricsContainers are the containers that serve metrics, by pod: the controller's and, in the
// speaker pod, the speaker and the reloader.
func metricsContainers(t *testing.T, objs rendered) []corev1.Container {
	t.Helper()
	dep := as[appsv1.Deployment](t, objs.find("Deployment", "-controller"))
	ds := as[appsv1.DaemonSet](t, objs.find("DaemonSet", "-speaker"))
	return []corev1.Container{container(t, dep.Spec.Template.Spec, "controller"),
		container(t, ds.Spec.Template.Spec, "speaker"), container(t, ds.Spec.Template.Spec, "reloader")}
}

// endpoints returns the monitor's scrape endpoints (ServiceMonitor or PodMonitor).
func endpoints(t *testing.T, o *unstructured.Unstructured) []map[string]any {
	t.Helper()
	key := "endpoints"
	if o.GetKind() == "PodMonitor" {
		key = "podMetricsEndpoints"
	}
	list, _, err := unstructured.NestedSlice(o.Object, "spec", key)
	if err != nil || len(list) == 0 {
		t.Fatalf("%s %s: no %s (%v)", o.GetKind(), o.GetName(), key, err)
	}
	var out []map[string]any
	for _, e := range list {
		out = append(out, e.(map[string]any))
	}
	return out
}

// TestMetricsSecureTemplate: metrics.secure reaches every binary (flags, the certificate Secret
// mounted where --metrics-cert-dir points), the review RBAC is bound to the controller's and the
// speaker's (and so the reloader's) ServiceAccounts, the reader ClusterRole has get on /metrics,
// and both monitors scrape https. By default none of it is rendered.
func TestMetricsSecureTemplate(t *testing.T) {
	for _, daemon := range []string{"frr", "bird"} {
		t.Run(daemon, func(t *testing.T) {
			args := []string{"-f", "testdata/metrics-secure.yaml", "-f", "testdata/metrics-secure-podmonitor.yaml"}
			if daemon == "bird" {
				args = append(args, "-f", "testdata/bird.yaml")
			}
			objs := rendered(decode(t, render(t, args...)))
			for _, c := range metricsContainers(t, objs) {
				if !slices.Contains(c.Args, "--metrics-secure") || !slices.Contains(c.Args, "--metrics-cert-dir="+metricsCertDir) {
					t.Errorf("%s args %v: no --metrics-secure --metrics-cert-dir=%s", c.Name, c.Args, metricsCertDir)
				}
				if mounts(c)["metrics-tls"] != metricsCertDir {
					t.Errorf("%s mounts %v: the metrics certificate is not at %s", c.Name, mounts(c), metricsCertDir)
				}
			}
			auth := as[rbacv1.ClusterRole](t, objs.find("ClusterRole", "-metrics-auth-"+namespace))
			if !grants(auth.Rules, "authentication.k8s.io", "tokenreviews", "create") ||
				!grants(auth.Rules, "authorization.k8s.io", "subjectaccessreviews", "create") || len(auth.Rules) != 2 {
				t.Errorf("metrics-auth rules %+v", auth.Rules)
			}
			crb := as[rbacv1.ClusterRoleBinding](t, objs.find("ClusterRoleBinding", "-metrics-auth-"+namespace))
			var subjects []string
			for _, s := range crb.Subjects {
				subjects = append(subjects, s.Namespace+"/"+s.Name)
			}
			if want := []string{namespace + "/routelb-controller", namespace + "/routelb-speaker"}; !slices.Equal(subjects, want) {
				t.Errorf("metrics-auth subjects %v, want %v", subjects, want)
			}
			reader := as[rbacv1.ClusterRole](t, objs.find("ClusterRole", "routelb-metrics-reader"))
			if len(reader.Rules) != 1 || !slices.Equal(reader.Rules[0].NonResourceURLs, []string{"/metrics"}) ||
				!slices.Equal(reader.Rules[0].Verbs, []string{"get"}) {
				t.Errorf("routelb-metrics-reader rules %+v", reader.Rules)
			}
			rb := as[rbacv1.ClusterRoleBinding](t, objs.find("ClusterRoleBinding", "-metrics-reader-"+namespace))
			if rb.RoleRef.Name != "routelb-metrics-reader" || len(rb.Subjects) != 1 || rb.Subjects[0].Name != "prometheus-k8s" {
				t.Errorf("reader binding %+v", rb)
			}
			for _, kind := range []string{"ServiceMonitor", "PodMonitor"} {
				for _, comp := range []string{"-controller", "-speaker"} {
					o := objs.find(kind, comp)
					if o == nil {
						t.Fatalf("no %s%s", kind, comp)
					}
					for _, e := range endpoints(t, o) {
						if e["scheme"] != "https" || e["tlsConfig"] == nil {
							t.Errorf("%s %s endpoint %v: not https with a tlsConfig", kind, o.GetName(), e)
						}
						if kind == "ServiceMonitor" && e["bearerTokenFile"] == nil || kind == "PodMonitor" && e["authorization"] == nil {
							t.Errorf("%s %s endpoint %v: no token", kind, o.GetName(), e)
						}
					}
				}
			}
		})
	}
	t.Run("default", func(t *testing.T) {
		objs := rendered(decode(t, render(t, "--set", "metrics.serviceMonitor.enabled=true")))
		for _, c := range metricsContainers(t, objs) {
			if slices.ContainsFunc(c.Args, func(a string) bool {
				return strings.HasPrefix(a, "--metrics-secure") || strings.HasPrefix(a, "--metrics-cert-dir")
			}) {
				t.Errorf("%s args %v: secure metrics without metrics.secure", c.Name, c.Args)
			}
		}
		if objs.find("ClusterRole", "-metrics-auth-"+namespace) != nil || objs.find("ClusterRole", "-metrics-reader") != nil {
			t.Error("metrics RBAC rendered without metrics.secure")
		}
		for _, e := range endpoints(t, objs.find("ServiceMonitor", "-speaker")) {
			if e["scheme"] != nil || e["bearerTokenFile"] != nil {
				t.Errorf("plain metrics scraped with %v", e)
			}
		}
	})
}

// TestHealthBinding: the speaker's and the reloader's health endpoints listen on the loopback
// address of the node, where their probes go; the reloader's liveness probe no longer scrapes
// /metrics. speaker.healthBindAddress "" restores every address (and probes without a host).
func TestHealthBinding(t *testing.T) {
	for _, c := range []struct {
		name, host string
		args       []string
	}{
		{"default", "127.0.0.1", nil},
		{"bird", "127.0.0.1", []string{"-f", "testdata/bird.yaml"}},
		{"every address", "", []string{"--set", "speaker.healthBindAddress="}},
		{"IPv6", "::1", []string{"--set", "speaker.healthBindAddress=::1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			objs := rendered(decode(t, render(t, c.args...)))
			spec := as[appsv1.DaemonSet](t, objs.find("DaemonSet", "-speaker")).Spec.Template.Spec
			addr := c.host
			if strings.Contains(addr, ":") {
				addr = "[" + addr + "]"
			}
			for _, x := range []struct {
				container, port string
				probes          []*corev1.Probe
			}{
				{"speaker", "8082", []*corev1.Probe{container(t, spec, "speaker").LivenessProbe, container(t, spec, "speaker").ReadinessProbe}},
				{"reloader", "7475", []*corev1.Probe{container(t, spec, "reloader").LivenessProbe}},
			} {
				if args := container(t, spec, x.container).Args; !slices.Contains(args, "--health-probe-bind-address="+addr+":"+x.port) {
					t.Errorf("%s args %v: health not bound to %s:%s", x.container, args, addr, x.port)
				}
				for _, p := range x.probes {
					if p == nil || p.HTTPGet == nil || p.HTTPGet.Host != c.host || p.HTTPGet.Path == "/metrics" {
						t.Errorf("%s probe %+v: want host %q, not /metrics", x.container, p, c.host)
					}
				}
			}
		})
	}
}

// TestMetricsSecureValuesRefused: values that would be silently unused fail the render.
func TestMetricsSecureValuesRefused(t *testing.T) {
	for _, c := range []struct{ set, want string }{
		{"metrics.tlsSecret=x", "metrics.tlsSecret needs metrics.secure"},
		{"metrics.readers[0].name=p,metrics.readers[0].namespace=m", "metrics.readers needs metrics.secure"},
		{"speaker.reloaderHealthPort=8082", "must differ"},
	} {
		_, err := helm(t, "template", release, chartDir(), "--namespace", namespace, "--kube-version", kubeVersion, "--set", c.set)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--set %s: %v, want an error with %q", c.set, err, c.want)
		}
	}
}

// TestMetricsSecureOnAPIServer applies the chart with metrics.secure to a real API server, then
// serves metrics as the chart's speaker ServiceAccount would (its own token, from TokenRequest) and
// scrapes with the token of metrics.readers' ServiceAccount: the chart's RBAC is enough for the
// reviews and for the reader, and refuses a ServiceAccount it does not name. The three binaries
// accept the chart's arguments.
func TestMetricsSecureOnAPIServer(t *testing.T) {
	s := startServer(t)
	cs, err := kubernetes.NewForConfig(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	manifest := render(t, "-f", "testdata/metrics-secure.yaml", "--set", "controller.webhook.enabled=false")
	if out, err := s.apply(t, manifest, false); err != nil {
		t.Fatalf("kubectl apply of the chart with metrics.secure: %v\n%s", err, out)
	}
	token := func(ns, sa string) string {
		t.Helper()
		if ns == "monitoring" {
			if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest for %s/%s: %v", ns, sa, err)
		}
		return tr.Status.Token
	}
	c := metricsauthtest.Cluster{Reader: token("monitoring", "prometheus-k8s"), Outsider: token("monitoring", "grafana")}
	for _, sa := range []string{"routelb-speaker", "routelb-controller"} {
		t.Run(sa, func(t *testing.T) {
			cfg := rest.AnonymousClientConfig(s.cfg)
			cfg.BearerToken = token(namespace, sa)
			srv, err := metricsauth.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte("routelb_up 1\n"))
			}), metricsauth.Options{Secure: true}, cfg, testr.New(t))
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			sctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(sctx, l) }()
			defer func() { cancel(); <-done }()
			c.Check(t, "https://"+l.Addr().String()+"/metrics", "routelb_up 1", func() error { return nil })
		})
	}

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/controller", "./cmd/speaker", "./cmd/reloader")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the binaries do not build: %v\n%s", err, out)
	}
	// The container names are the binaries' names.
	for _, c := range metricsContainers(t, rendered(decode(t, manifest))) {
		chartArgs(t, filepath.Join(bin, c.Name), c.Args, nil)
	}
}
