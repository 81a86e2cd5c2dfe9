package charts_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/testing/testenv"
)

const node = "node-a"

// runBinaries builds cmd/controller and cmd/speaker, runs them with the chart's arguments as the
// chart's ServiceAccounts (kubeconfig impersonation) through a small scenario (pools, a peer,
// advertisements, a Service that gets an address and is announced, webhook reviews), and fails on any
// request the API server refused them, as its audit log and their logs show.
func runBinaries(t *testing.T, s *server, manifest []byte) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/controller", "./cmd/speaker")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cmd/controller and cmd/speaker do not build: %v\n%s", err, out)
	}
	objs := rendered(decode(t, manifest))
	dep := as[appsv1.Deployment](t, objs.find("Deployment", "-controller"))
	ds := as[appsv1.DaemonSet](t, objs.find("DaemonSet", "-speaker"))
	sec := as[corev1.Secret](t, objs.find("Secret", "-webhook-cert"))

	// The chart's Secret is what the controller serves the webhook with.
	certDir := t.TempDir()
	for _, f := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(certDir, f), sec.Data[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	frrDir := t.TempDir()
	webhookPort := freePort(t)
	ctlArgs := chartArgs(t, filepath.Join(bin, "controller"), container(t, dep.Spec.Template.Spec, "controller").Args, map[string]string{
		"metrics-bind-address":      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"health-probe-bind-address": fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"webhook-port":              strconv.Itoa(webhookPort),
		"cert-dir":                  certDir,
	})
	spkArgs := chartArgs(t, filepath.Join(bin, "speaker"), container(t, ds.Spec.Template.Spec, "speaker").Args, map[string]string{
		"metrics-bind-address":      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"health-probe-bind-address": fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"config-dir":                frrDir,
		"node-name":                 node,
	})
	createScenario(t, s.client)
	var ctlLog, spkLog *proc
	// Registered before the processes start, so it runs after they stopped, also when a wait failed:
	// a refused request is then reported as the likely cause.
	t.Cleanup(func() {
		refused, seen := s.forbidden(t, saUser("routelb-controller"), saUser("routelb-speaker"))
		for _, r := range slices.Compact(slices.Sorted(slices.Values(refused))) {
			t.Errorf("API server refused: %s", r)
		}
		for _, u := range []string{saUser("routelb-controller"), saUser("routelb-speaker")} {
			if seen[u] == 0 {
				t.Errorf("the audit log has no request by %s: impersonation did not happen", u)
			}
		}
		for _, p := range []*proc{ctlLog, spkLog} {
			if p == nil {
				continue
			}
			n := 0
			for _, line := range strings.Split(p.out.String(), "\n") {
				if strings.Contains(strings.ToLower(line), "forbidden") {
					if n++; n <= 3 {
						t.Errorf("%s logged: %.400s", p.name, line)
					}
				}
			}
			if n > 3 {
				t.Errorf("%s logged %d more lines with \"forbidden\"", p.name, n-3)
			}
		}
	})
	ctlLog = start(t, filepath.Join(bin, "controller"), append(ctlArgs, "--kubeconfig", s.kubeconfig(t, "routelb-controller")))
	spkLog = start(t, filepath.Join(bin, "speaker"), append(spkArgs, "--kubeconfig", s.kubeconfig(t, "routelb-speaker")))

	ip := waitFor(t, "the Service to get an address from the controller", func() (string, bool) {
		var svc corev1.Service
		if err := s.client.Get(t.Context(), types.NamespacedName{Namespace: "demo", Name: "web"}, &svc); err != nil {
			return "", false
		}
		if len(svc.Status.LoadBalancer.Ingress) == 0 {
			return "", false
		}
		return svc.Status.LoadBalancer.Ingress[0].IP, true
	})
	t.Cleanup(func() {
		if t.Failed() {
			b, err := os.ReadFile(filepath.Join(frrDir, "frr.conf"))
			t.Logf("frr.conf (%v):\n%s", err, b)
		}
	})
	waitFor(t, "the speaker to render frr.conf announcing "+ip, func() (string, bool) {
		b, err := os.ReadFile(filepath.Join(frrDir, "frr.conf"))
		return "", err == nil && bytes.Contains(b, []byte(" "+ip+"/32"))
	})
	// The password, read with get alone (the chart grants no list or watch on Secrets); a rotation
	// reaches frr.conf at once when the peer is edited too (docs/security.md, "Least privilege").
	hasPassword := func(pw string) func() (string, bool) {
		return func() (string, bool) {
			b, err := os.ReadFile(filepath.Join(frrDir, "frr.conf"))
			return "", err == nil && bytes.Contains(b, []byte(" neighbor 198.51.100.1 password "+pw+"\n"))
		}
	}
	waitFor(t, "the speaker to render the peer's password", hasPassword("s3cret"))
	rotatePassword(t, s.client, "s3cret-rotated")
	waitFor(t, "the speaker to render the rotated password", hasPassword("s3cret-rotated"))
	waitFor(t, "the speaker's ServiceBGPStatus", func() (string, bool) {
		var l v1beta1.ServiceBGPStatusList
		err := s.client.List(t.Context(), &l, client.InNamespace(namespace))
		return "", err == nil && len(l.Items) > 0 && l.Items[0].Status.Node == node
	})
	waitFor(t, "the controller's and the speaker's ConfigurationState", func() (string, bool) {
		var l v1beta1.ConfigurationStateList
		if err := s.client.List(t.Context(), &l, client.InNamespace(namespace)); err != nil {
			return err.Error(), false
		}
		got := map[string]v1beta1.ConfigurationResult{}
		for _, st := range l.Items {
			got[st.Name+"/"+st.Labels[v1beta1.LabelComponentType]] = st.Status.Result
		}
		return fmt.Sprint(got), got["controller/controller"] != "" && got["speaker-"+node+"/speaker"] != ""
	})
	// The reloader's session report: the speaker publishes it in the peer's status (a patch).
	report := `{"time":"2026-11-28T12:00:00Z","sessions":[{"vrf":"","neighbor":"198.51.100.1","state":"Established","prefixesSent":1,"since":"2026-11-28T12:00:00Z"}]}`
	if err := os.WriteFile(filepath.Join(frrDir, "sessions.json"), []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the speaker to publish its session in the BGPPeer's status", func() (string, bool) {
		var p v1beta2.BGPPeer
		err := s.client.Get(t.Context(), types.NamespacedName{Namespace: namespace, Name: "router"}, &p)
		return "", err == nil && len(p.Status.Sessions) == 1 && p.Status.Sessions[0].Node == node &&
			p.Status.Sessions[0].State == "Established"
	})
	checkWebhook(t, sec, webhookPort)
	// A pool edit makes both binaries write statuses and events once more before they stop.
	var pool v1beta1.IPAddressPool
	if err := s.client.Get(t.Context(), types.NamespacedName{Namespace: namespace, Name: "pool"}, &pool); err != nil {
		t.Fatal(err)
	}
	pool.Spec.Addresses = append(pool.Spec.Addresses, "203.0.113.64/28")
	if err := s.client.Update(t.Context(), &pool); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)

}

var flagLine = regexp.MustCompile(`(?m)^\s+-{1,2}([A-Za-z0-9][A-Za-z0-9_.-]*)`)

// chartArgs returns the chart's arguments for a binary with the machine-local ones replaced. A flag
// the binary does not define fails the test (the pod would crash-loop on it) and is left out so the
// RBAC run still happens.
func chartArgs(t *testing.T, bin string, args []string, override map[string]string) []string {
	t.Helper()
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	defined := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(string(help), -1) {
		defined[m[1]] = true
	}
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !defined[name] {
			t.Errorf("the chart passes %s to %s, which does not define it (see the chart README's flag contract)", a, filepath.Base(bin))
			continue
		}
		if v, ok := override[name]; ok {
			a = "--" + name + "=" + v
		}
		out = append(out, a)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func start(t *testing.T, bin string, args []string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(bin), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		stop(t, p)
		if t.Failed() {
			t.Logf("%s log:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// stop ends the process this test started, by its PID: SIGTERM, then SIGKILL after 10 s.
func stop(t *testing.T, p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Logf("%s ignored SIGTERM for 10 s: killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitFor polls cond for up to a generous minute (a bound for a hang, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if v, ok := cond(); ok {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func createScenario(t *testing.T, c client.Client) {
	t.Helper()
	objs := []client.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node, Labels: map[string]string{"kubernetes.io/hostname": node}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "peer-password", Namespace: namespace},
			Type: corev1.SecretTypeBasicAuth, StringData: map[string]string{"password": "s3cret"}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "pool", Namespace: namespace},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/28"}}},
		&v1beta1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast", Namespace: namespace}},
		&v1beta1.Community{ObjectMeta: metav1.ObjectMeta{Name: "communities", Namespace: namespace}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "router", Namespace: namespace},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "198.51.100.1", BFDProfile: "fast",
				PasswordSecret: corev1.SecretReference{Name: "peer-password", Namespace: namespace}}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "bgp", Namespace: namespace},
			Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"pool"}}},
		&v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: namespace},
			Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: []v1beta1.ObjectName{"pool"}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "demo",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.5"}, NodeName: ptr.To(node),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}}},
	}
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// checkWebhook sends the controller's webhook two reviews over TLS, trusting only the chart's CA: a
// pool that fits is allowed, one overlapping "pool" is denied. Both need the webhook to read the
// namespace's objects as the controller's ServiceAccount.
func checkWebhook(t *testing.T, sec *corev1.Secret, port int) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(sec.Data["ca.crt"])
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, ServerName: "routelb-webhook." + namespace + ".svc", MinVersion: tls.VersionTLS12}}}
	for _, c := range []struct {
		name, cidr string
		allowed    bool
	}{{"other", "203.0.113.128/28", true}, {"overlap", "203.0.113.8/29", false}} {
		pool := &v1beta1.IPAddressPool{TypeMeta: metav1.TypeMeta{APIVersion: "metallb.io/v1beta1", Kind: "IPAddressPool"},
			ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: namespace},
			Spec:       v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{v1beta1.PoolAddress(c.cidr)}}}
		raw, _ := json.Marshal(pool)
		review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: types.UID("uid-" + c.name),
				Kind:     metav1.GroupVersionKind{Group: "metallb.io", Version: "v1beta1", Kind: "IPAddressPool"},
				Resource: metav1.GroupVersionResource{Group: "metallb.io", Version: "v1beta1", Resource: "ipaddresspools"},
				Name:     c.name, Namespace: namespace, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}}
		body, _ := json.Marshal(review)
		var resp *http.Response
		waitFor(t, "the controller's webhook to serve", func() (string, bool) {
			var err error
			resp, err = hc.Post(fmt.Sprintf("https://127.0.0.1:%d/validate-metallb-io", port), "application/json", bytes.NewReader(body))
			return "", err == nil
		})
		var got admissionv1.AdmissionReview
		err := json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || got.Response == nil {
			t.Fatalf("webhook answer for %s: %v", c.name, err)
		}
		if got.Response.Allowed != c.allowed || (got.Response.Result != nil && got.Response.Result.Code >= 500) {
			t.Errorf("webhook on pool %s (%s): allowed=%v, want %v; result %+v", c.name, c.cidr, got.Response.Allowed, c.allowed, got.Response.Result)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rotatePassword sets the scenario's Secret to pw and edits its BGPPeer, as an operator rotating a
// password would to have it applied without waiting for the speaker's refresh.
func rotatePassword(t *testing.T, c client.Client, pw string) {
	t.Helper()
	ctx := t.Context()
	var sec corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "peer-password"}, &sec); err != nil {
		t.Fatal(err)
	}
	sec.Data = map[string][]byte{"password": []byte(pw)}
	if err := c.Update(ctx, &sec); err != nil {
		t.Fatal(err)
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var p v1beta2.BGPPeer
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "router"}, &p); err != nil {
			return err
		}
		p.Spec.HoldTime = &metav1.Duration{Duration: 60 * time.Second}
		return c.Update(ctx, &p)
	})
	if err != nil {
		t.Fatal(err)
	}
}
