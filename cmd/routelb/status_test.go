package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/statusview"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/l2responder/ownership"
)

const ns = testenv.Namespace

// TestStatusAgainstAPIServer runs `routelb status` against a real API server holding what the
// speakers write: status objects and session status as the BGP reconciler shapes them, a Lease
// written by the real Layer 2 ownership engine, and the Node event the real ReloaderOutcome
// records when FRR refuses a config.
func TestStatusAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	ctx := t.Context()
	c := env.Client

	createLBService(t, c, "shop", "web", "203.0.113.10")
	createLBService(t, c, "infra", "dns", "203.0.113.20")
	createPeer(t, c, "router-a", "198.51.100.1",
		v1beta2.BGPSessionStatus{Node: "node-a", State: "Established", BFDState: "up", PrefixesSent: 1, LastTransitionTime: metav1.Now()},
		v1beta2.BGPSessionStatus{Node: "node-b", State: "Active", LastError: "Notification received (OPEN Message Error/Bad Peer AS)"})
	createStatus(t, c, &v1beta1.ServiceBGPStatus{}, "node-a", "shop", "web", func(o client.Object) {
		o.(*v1beta1.ServiceBGPStatus).Status = v1beta1.MetalLBServiceBGPStatus{Node: "node-a", ServiceNamespace: "shop", ServiceName: "web", Peers: []string{"router-a"}}
	})
	createStatus(t, c, &v1beta1.ServiceBGPStatus{}, "node-b", "shop", "web", func(o client.Object) {
		o.(*v1beta1.ServiceBGPStatus).Status = v1beta1.MetalLBServiceBGPStatus{Node: "node-b", ServiceNamespace: "shop", ServiceName: "web", Peers: []string{"router-a"}}
	})
	createStatus(t, c, &v1beta1.ServiceL2Status{}, "node-c", "infra", "dns", func(o client.Object) {
		o.(*v1beta1.ServiceL2Status).Status = v1beta1.MetalLBServiceL2Status{Node: "node-c", ServiceNamespace: "infra", ServiceName: "dns",
			Interfaces: []v1beta1.InterfaceInfo{{Name: "eth0"}}}
	})
	cs := &v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "speaker-node-b",
		Labels: map[string]string{v1beta1.LabelComponentType: "speaker", v1beta1.LabelNodeName: "node-b"}}}
	must(t, c.Create(ctx, cs))
	cs.Status = v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationResultValid}
	must(t, c.Status().Update(ctx, cs))

	claimL2(t, env.Config, "node-c", "203.0.113.20")
	refuseConfig(t, env, "node-b", "line 7: % Unknown command: neighbor 198.51.100.9 remote-as 0")

	kubeconfig := writeKubeconfig(t, env.Config)
	var v statusview.View
	eventually(t, "the refused apply in the status", func() string {
		out := runStatus(t, "--kubeconfig", kubeconfig, "-n", ns, "-o", "json")
		v = statusview.View{}
		must(t, json.Unmarshal([]byte(out), &v))
		if n := findNode(v, "node-b"); n == nil || n.LastApply == nil {
			return out
		}
		return ""
	})
	checkView(t, v)

	text := runStatus(t, "--kubeconfig", kubeconfig, "-n", ns)
	var squeezed []string // columns one space apart, so the check does not depend on their widths
	for _, l := range strings.Split(text, "\n") {
		squeezed = append(squeezed, strings.Join(strings.Fields(l), " "))
	}
	for _, want := range []string{
		"\n203.0.113.10 shop/web bgp node-a router-a (Established)\n",
		"\n203.0.113.10 shop/web bgp node-b router-a (Active)\n",
		"\n203.0.113.20 infra/dns layer2 node-c Lease renewed ",
		"\nnode-b Valid RoutingConfigRefused ",
		"\nnode-b router-a 198.51.100.1 Active - 0 - Notification received (OPEN Message Error/Bad Peer AS)\n",
	} {
		if !strings.Contains("\n"+strings.Join(squeezed, "\n"), want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
	t.Logf("routelb status:\n%s", text)
}

func checkView(t *testing.T, v statusview.View) {
	t.Helper()
	if len(v.VIPs) != 2 || v.VIPs[0].IP != "203.0.113.10" || len(v.VIPs[0].BGP) != 2 {
		t.Fatalf("VIPs: %+v", v.VIPs)
	}
	dns := v.VIPs[1]
	if dns.Layer2 == nil || dns.Layer2.Owner != "node-c" || dns.Layer2.StatusNode != "node-c" || dns.Layer2.LeaseExpired ||
		dns.Layer2.LeaseAgeSeconds == nil || *dns.Layer2.LeaseAgeSeconds > 30 {
		t.Errorf("Layer 2 VIP: %+v", dns.Layer2)
	}
	b := findNode(v, "node-b")
	if b.LastApply.Reason != "RoutingConfigRefused" || b.LastApply.OK || !strings.Contains(b.LastApply.Message, "remote-as 0") {
		t.Errorf("node-b's last apply: %+v", b.LastApply)
	}
	if b.Config != "Valid" || len(b.Sessions) != 1 || b.Sessions[0].State != "Active" || b.Sessions[0].LastError == "" {
		t.Errorf("node-b: %+v", b)
	}
	if a := findNode(v, "node-a"); a == nil || len(a.Sessions) != 1 || a.Sessions[0].BFD != "up" || a.Sessions[0].SinceSeconds == nil {
		t.Errorf("node-a: %+v", a)
	}
	if len(v.Problems) > 0 {
		t.Errorf("problems: %q", v.Problems)
	}
}

func TestStatusBadFlagsAndUnreachableCluster(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"status", "-o", "yaml"}, nil, &stdout, &stderr); code != 2 {
		t.Errorf("-o yaml: exit %d", code)
	}
	stderr.Reset()
	code := run([]string{"status", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "kubeconfig") || stdout.Len() > 0 {
		t.Errorf("missing kubeconfig: exit %d, stderr %q, stdout %q", code, stderr.String(), stdout.String())
	}
}

func findNode(v statusview.View, name string) *statusview.Node {
	for i := range v.Nodes {
		if v.Nodes[i].Name == name {
			return &v.Nodes[i]
		}
	}
	return nil
}

func runStatus(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"status"}, args...), nil, &stdout, &stderr); code != 0 {
		t.Fatalf("routelb status: exit %d: %s", code, stderr.String())
	}
	return stdout.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// eventually retries f (which returns what is still wrong, or "") for up to 30 s.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = f(); last == "" {
			return
		}
	}
	t.Fatalf("waiting for %s; last seen:\n%s", what, last)
}

func createLBService(t *testing.T, c client.Client, namespace, name, ip string) {
	t.Helper()
	ctx := t.Context()
	_ = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}}}
	must(t, c.Create(ctx, svc))
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip, IPMode: ptrTo(corev1.LoadBalancerIPModeVIP)}}
	must(t, c.Status().Update(ctx, svc))
}

func ptrTo[T any](v T) *T { return &v }

func createPeer(t *testing.T, c client.Client, name, addr string, sessions ...v1beta2.BGPSessionStatus) {
	t.Helper()
	p := &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1beta2.BGPPeerSpec{MyASN: 64500, ASN: 64501, Address: addr}}
	must(t, c.Create(t.Context(), p))
	p.Status.Sessions = sessions
	must(t, c.Status().Update(t.Context(), p))
}

// createStatus makes a status object as the speaker does: generateName, the speaker's labels, then
// the status subresource.
func createStatus(t *testing.T, c client.Client, obj client.Object, node, svcNS, svc string, fill func(client.Object)) {
	t.Helper()
	obj.SetNamespace(ns)
	obj.SetGenerateName(svc + "-")
	obj.SetLabels(map[string]string{speaker.LabelNode: node, speaker.LabelServiceNamespace: svcNS, speaker.LabelServiceName: svc})
	must(t, c.Create(t.Context(), obj))
	fill(obj)
	must(t, c.Status().Update(t.Context(), obj))
}

// claimL2 runs the real ownership engine for node until it owns vip, so its Lease is the speaker's.
func claimL2(t *testing.T, cfg *rest.Config, node, vip string) {
	t.Helper()
	kc, err := kubernetes.NewForConfig(cfg)
	must(t, err)
	ip := netip.MustParseAddr(vip)
	e := ownership.New(ownership.Config{Node: node, Namespace: ns, Client: kc, Logger: testr.New(t)})
	e.SetVIPs(map[netip.Addr]ownership.VIP{ip: {Eligible: []string{node}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, node+" owning "+vip, func() string {
		if e.Owns(ip) {
			return ""
		}
		return "not owned yet"
	})
}

// refuseConfig has the speaker's real ReloaderOutcome read a reloader status saying FRR refused the
// node's config, so it records its event on the Node.
func refuseConfig(t *testing.T, env *testenv.Env, node, msg string) {
	t.Helper()
	skip := true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: env.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: &skip}})
	must(t, err)
	dir := t.TempDir()
	st, _ := json.Marshal(map[string]any{"result": "invalid", "fileSHA256": "b", "error": "FRR refused the config: " + msg})
	must(t, os.WriteFile(filepath.Join(dir, daemonfile.StatusFile), st, 0o600))
	o := &speaker.ReloaderOutcome{ConfigDir: dir, Daemon: "frr", NodeName: node, Recorder: mgr.GetEventRecorder("routelb-speaker"),
		Log: testr.New(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	o.Sync()
}

func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, clientcmd.WriteToFile(*kc, path))
	return path
}
