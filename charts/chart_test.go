// Package charts_test checks the Helm chart charts/routelb: helm lint and helm template for several
// values files, the schema refusing bad values, every rendered object accepted by a real API server,
// and the chart's RBAC covering every call the controller and speaker make (apiserver_test.go,
// binaries_test.go). It uses the helm binary the Makefile builds (never helm as a Go library).
package charts_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/routelb/routelb/internal/memlimit"
	"github.com/routelb/routelb/internal/testing/testenv"
)

const (
	release     = "routelb"
	namespace   = "metallb-system"
	helmVersion = "v3.22.0"
	// helm built with `go install` assumes Kubernetes v1.20 for `helm template`; the chart needs 1.29+.
	kubeVersion = "v1.37.2"
)

// valueSets are the values files every chart test renders; "" is the chart's defaults.
var valueSets = []struct{ name, file string }{
	{"default", ""},
	{"bgp-only", "testdata/bgp-only.yaml"},
	{"l2-only", "testdata/l2-only.yaml"},
	{"custom", "testdata/custom.yaml"},
	{"cert-manager", "testdata/cert-manager.yaml"},
	{"no-webhook-no-metrics", "testdata/no-webhook-no-metrics.yaml"},
	{"metrics-secure", "testdata/metrics-secure.yaml"},
}

func chartDir() string { return filepath.Join(testenv.RepoRoot(), "charts", "routelb") }

// helmBin returns the cached helm binary, building it through the Makefile's rule when missing.
func helmBin(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("ROUTELB_CACHE")
	if cache == "" {
		cache = "/var/cache/routelb"
	}
	bin := filepath.Join(cache, "bin", "helm-"+helmVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("helm %s is not in %s: building it with make (a few minutes, once)", helmVersion, bin)
	cmd := exec.Command("make", "-C", testenv.RepoRoot(), "CACHE="+cache, bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm %s is missing from %s and `make %s` failed (run `make tools`): %v\n%s", helmVersion, bin, bin, err, out)
	}
	return bin
}

// helm runs the helm binary and returns its stdout, or an error carrying its stderr.
func helm(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	// A private helm home: no repositories or plugins of the machine leak in.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), errors.New(strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

func valuesArgs(file string) []string {
	if file == "" {
		return nil
	}
	return []string{"-f", file}
}

// render is `helm template` of the chart with the given values files and flags.
func render(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir(), "--namespace", namespace,
		"--kube-version", kubeVersion}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	return out
}

// decode splits a YAML stream into objects.
func decode(t testing.TB, manifest []byte) []*unstructured.Unstructured {
	t.Helper()
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding the rendered chart: %v", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

type rendered []*unstructured.Unstructured

func (r rendered) find(kind, nameSuffix string) *unstructured.Unstructured {
	for _, o := range r {
		if o.GetKind() == kind && strings.HasSuffix(o.GetName(), nameSuffix) {
			return o
		}
	}
	return nil
}

func (r rendered) count(kind string) int {
	n := 0
	for _, o := range r {
		if o.GetKind() == kind {
			n++
		}
	}
	return n
}

func as[T any](t testing.TB, o *unstructured.Unstructured) *T {
	t.Helper()
	if o == nil {
		t.Fatalf("object of type %T not rendered", *new(T))
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
		t.Fatalf("converting %s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return out
}

func TestLint(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			args := append([]string{"lint", chartDir(), "--strict", "--namespace", namespace, "--kube-version", kubeVersion},
				valuesArgs(vs.file)...)
			out, err := helm(t, args...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("0 chart(s) failed")) {
				t.Fatalf("helm lint did not pass:\n%s", out)
			}
		})
	}
}

func container(t testing.TB, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("pod has no container %q", name)
	return corev1.Container{}
}

func containerNames(spec corev1.PodSpec) []string {
	var names []string
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		names = append(names, c.Name)
	}
	return names
}

func mounts(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, v := range c.VolumeMounts {
		m[v.Name] = v.MountPath
	}
	return m
}

// speakerCaps is the capability set of each speaker pod container, exactly (why: the chart README).
var speakerCaps = map[string][]corev1.Capability{
	"cp-frr-files": nil, "cp-reloader": nil,
	"frr":      {"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE", "KILL"},
	"reloader": {"DAC_OVERRIDE"},
	"bird":     {"NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"},
	"speaker":  {"NET_RAW"},
}

// checkSpeakerSecurity: host network, never privileged, no privilege escalation, and each container
// with its capability set and no more; containers that add capabilities run as root so that the
// capabilities are effective (an image user of 65532 would get none).
func checkSpeakerSecurity(t *testing.T, ds *appsv1.DaemonSet) {
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork {
		t.Error("speaker pod does not use the host network")
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s has no securityContext", c.Name)
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s is privileged", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s allows privilege escalation", c.Name)
		}
		want, known := speakerCaps[c.Name]
		if !known {
			t.Errorf("container %s: no capability set in speakerCaps", c.Name)
			continue
		}
		var add []corev1.Capability
		if sc.Capabilities != nil {
			add = sc.Capabilities.Add
		}
		if c.Name == "speaker" && !slices.Contains(c.Args, "--layer2=true") {
			want = nil
		}
		if !slices.Equal(add, want) {
			t.Errorf("container %s adds %v, want %v", c.Name, add, want)
		}
		if c.Name != "cp-frr-files" && (sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"})) {
			t.Errorf("container %s does not drop ALL capabilities", c.Name)
		}
		if len(add) > 0 && (sc.RunAsUser == nil || *sc.RunAsUser != 0) {
			t.Errorf("container %s adds capabilities but does not run as root: they would not be effective", c.Name)
		}
	}
}

func hasToleration(ts []corev1.Toleration, key string) bool {
	return slices.ContainsFunc(ts, func(tl corev1.Toleration) bool {
		return (tl.Key == key || tl.Key == "") && tl.Operator == corev1.TolerationOpExists
	})
}

func TestTemplate(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			objs := rendered(decode(t, render(t, valuesArgs(vs.file)...)))
			for _, o := range objs {
				switch o.GetKind() {
				case "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration",
					"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
				default:
					if o.GetNamespace() != namespace {
						t.Errorf("%s %s is in namespace %q, not the release's", o.GetKind(), o.GetName(), o.GetNamespace())
					}
				}
			}
			ds := as[appsv1.DaemonSet](t, objs.find("DaemonSet", "-speaker"))
			checkSpeakerSecurity(t, ds)
			if !hasToleration(ds.Spec.Template.Spec.Tolerations, "node-role.kubernetes.io/control-plane") {
				t.Error("speaker does not tolerate control-plane nodes")
			}
			spec := ds.Spec.Template.Spec
			bgp := vs.name != "l2-only"
			if got := slices.Contains(containerNames(spec), "frr"); got != bgp {
				t.Errorf("frr container present = %v, want %v (containers %v)", got, bgp, containerNames(spec))
			}
			speaker := container(t, spec, "speaker")
			if bgp {
				checkBGPPod(t, spec, objs)
			}
			l2 := vs.name != "bgp-only"
			if got := slices.Contains(speaker.Args, "--layer2=true"); got != l2 {
				t.Errorf("speaker args %v: --layer2=true present = %v, want %v", speaker.Args, got, l2)
			}
			checkRBAC(t, objs, bgp, l2)
			checkMemoryLimitEnv(t, "speaker", speaker)
			ctrlSpec := as[appsv1.Deployment](t, objs.find("Deployment", "-controller")).Spec.Template.Spec
			checkMemoryLimitEnv(t, "controller", container(t, ctrlSpec, "controller"))
		})
	}
}

// checkMemoryLimitEnv: the binary learns its container's memory limit (internal/memlimit) from the
// downward API, in bytes.
func checkMemoryLimitEnv(t *testing.T, name string, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == memlimit.EnvVar {
			if e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" ||
				!e.ValueFrom.ResourceFieldRef.Divisor.IsZero() && e.ValueFrom.ResourceFieldRef.Divisor.String() != "1" {
				t.Errorf("%s: %s is %+v, want the container's limits.memory in bytes", name, memlimit.EnvVar, e.ValueFrom)
			}
			return
		}
	}
	t.Errorf("%s: no %s in its env", name, memlimit.EnvVar)
}

// checkBGPPod: FRR, reloader and speaker share the rendered-config and socket directories, and start
// in order: FRR's files, FRR (native sidecar with a start-up probe), reloader, then the speaker.
func checkBGPPod(t *testing.T, spec corev1.PodSpec, objs rendered) {
	var inits []string
	for _, c := range spec.InitContainers {
		inits = append(inits, c.Name)
	}
	if want := []string{"cp-frr-files", "cp-reloader", "frr", "reloader"}; !slices.Equal(inits, want) {
		t.Errorf("init containers %v, want %v", inits, want)
	}
	frr, rel, spk := container(t, spec, "frr"), container(t, spec, "reloader"), container(t, spec, "speaker")
	for _, c := range []corev1.Container{frr, rel} {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("%s is not a native sidecar (restartPolicy: Always)", c.Name)
		}
	}
	if frr.StartupProbe == nil {
		t.Error("frr has no startupProbe: the reloader and speaker would start before FRR's sockets exist")
	}
	if mounts(frr)["frr-sockets"] != "/var/run/frr" || mounts(rel)["frr-sockets"] != "/var/run/frr" {
		t.Errorf("frr and reloader do not share /var/run/frr: %v %v", mounts(frr), mounts(rel))
	}
	if mounts(spk)["frr-rendered"] == "" || mounts(spk)["frr-rendered"] != mounts(rel)["frr-rendered"] {
		t.Errorf("speaker and reloader do not share the rendered-config directory: %v %v", mounts(spk), mounts(rel))
	}
	dir := mounts(spk)["frr-rendered"]
	if !slices.Contains(spk.Args, "--config-dir="+dir) || !slices.Contains(rel.Args, "--config="+dir+"/frr.conf") {
		t.Errorf("speaker writes where the reloader does not read: speaker %v reloader %v", spk.Args, rel.Args)
	}
	cm := as[corev1.ConfigMap](t, objs.find("ConfigMap", "-frr-startup"))
	for _, d := range []string{"zebra", "bgpd", "bfdd", "staticd"} {
		if !strings.Contains(cm.Data["daemons"], "\n"+d+"=yes") {
			t.Errorf("daemons file does not enable %s:\n%s", d, cm.Data["daemons"])
		}
	}
	if !strings.Contains(cm.Data["vtysh.conf"], "service integrated-vtysh-config") {
		t.Errorf("vtysh.conf: %q", cm.Data["vtysh.conf"])
	}
}

func rules(t *testing.T, objs rendered, kind, suffix string) []rbacv1.PolicyRule {
	o := objs.find(kind, suffix)
	if kind == "Role" {
		return as[rbacv1.Role](t, o).Rules
	}
	return as[rbacv1.ClusterRole](t, o).Rules
}

func grants(rs []rbacv1.PolicyRule, group, resource, verb string) bool {
	return slices.ContainsFunc(rs, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
	})
}

// checkRBAC: the speaker gets Lease and ServiceL2Status rights only in Layer 2 mode; ServiceBGPStatus
// rights in every mode, as the speaker has no switch for BGP; nobody gets a wildcard.
func checkRBAC(t *testing.T, objs rendered, bgp, l2 bool) {
	role := rules(t, objs, "Role", "-speaker")
	if got := grants(role, "coordination.k8s.io", "leases", "update"); got != l2 {
		t.Errorf("speaker may update leases = %v with l2.enabled = %v", got, l2)
	}
	if got := grants(role, "metallb.io", "servicel2statuses", "create"); got != l2 {
		t.Errorf("speaker may create servicel2statuses = %v with l2.enabled = %v", got, l2)
	}
	if !grants(role, "metallb.io", "servicebgpstatuses", "create") {
		t.Errorf("speaker may not create servicebgpstatuses (bgp.enabled = %v)", bgp)
	}
	// The speaker reads BGP password Secrets by name: listing or watching would let it enumerate them.
	if !grants(role, "", "secrets", "get") || grants(role, "", "secrets", "list") || grants(role, "", "secrets", "watch") {
		t.Errorf("speaker's rights on secrets are not exactly get: %+v", role)
	}
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		for _, r := range as[rbacv1.ClusterRole](t, o).Rules {
			if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") {
				t.Errorf("%s %s has a wildcard rule: %+v", o.GetKind(), o.GetName(), r)
			}
		}
	}
}

// TestCustomValues: every knob of testdata/custom.yaml reaches the objects.
func TestCustomValues(t *testing.T) {
	objs := rendered(decode(t, render(t, "-f", "testdata/custom.yaml")))
	ds := as[appsv1.DaemonSet](t, objs.find("DaemonSet", "lb-speaker"))
	dep := as[appsv1.Deployment](t, objs.find("Deployment", "lb-controller"))
	spec := ds.Spec.Template.Spec
	frr, rel, spk := container(t, spec, "frr"), container(t, spec, "reloader"), container(t, spec, "speaker")
	ctl := container(t, dep.Spec.Template.Spec, "controller")
	checks := []struct {
		what string
		ok   bool
	}{
		{"FRR image and tag", frr.Image == "registry.example.com/frrouting/frr:10.2.1" && rel.Image == frr.Image},
		{"routelb image", spk.Image == "registry.example.com/routelb/routelb:v9.9.9" && ctl.Image == spk.Image},
		{"log level", slices.Contains(spk.Args, "--zap-log-level=debug") && slices.Contains(ctl.Args, "--zap-log-level=debug") && slices.Contains(rel.Args, "--zap-log-level=debug")},
		{"debounce", slices.Contains(rel.Args, "--debounce=500ms")},
		{"lease timings", slices.Contains(spk.Args, "--l2-renew-interval=1s") && slices.Contains(spk.Args, "--l2-lease-duration=3s") && slices.Contains(spk.Args, "--l2-lease-margin=500ms")},
		{"loadBalancerClass", slices.Contains(spk.Args, "--lb-class=example.com/routelb") && slices.Contains(ctl.Args, "--lb-class=example.com/routelb")},
		{"frr resources", frr.Resources.Limits.Memory().String() == "256Mi"},
		{"controller resources", ctl.Resources.Limits.Cpu().String() == "1"},
		{"speaker node selector", spec.NodeSelector["example.com/edge"] == "true"},
		{"speaker tolerates everything", len(spec.Tolerations) == 1 && spec.Tolerations[0].Operator == corev1.TolerationOpExists},
		{"controller node selector", dep.Spec.Template.Spec.NodeSelector["node-role.kubernetes.io/control-plane"] == ""},
		{"replicas", *dep.Spec.Replicas == 2},
		{"metrics ports", slices.Contains(ctl.Args, "--metrics-bind-address=:17472") && slices.Contains(spk.Args, "--metrics-bind-address=:17473") && slices.Contains(rel.Args, "--metrics-bind-address=:17474")},
		{"webhook port", slices.Contains(ctl.Args, "--webhook-port=19443")},
		{"webhook bind address", slices.Contains(ctl.Args, "--webhook-bind-address=$(POD_IP)") &&
			slices.ContainsFunc(ctl.Env, func(e corev1.EnvVar) bool {
				return e.Name == "POD_IP" && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
			})},
		{"pull secret", len(spec.ImagePullSecrets) == 1 && spec.ImagePullSecrets[0].Name == "regcred"},
		{"ServiceMonitors", objs.count("ServiceMonitor") == 2 && objs.find("ServiceMonitor", "lb-speaker").GetLabels()["release"] == "prometheus"},
		{"cert-manager Certificate from the ClusterIssuer", objs.find("Certificate", "lb-webhook-cert") != nil && objs.count("Issuer") == 0},
		{"no self-managed Secret", objs.count("Secret") == 0},
		{"ignore-exclude-lb", slices.Contains(spk.Args, "--ignore-exclude-lb=true")},
		{"password Secrets by name", slices.ContainsFunc(rules(t, objs, "Role", "lb-speaker"), func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.Resources, "secrets") && slices.Equal(r.ResourceNames, []string{"router-password"}) && slices.Equal(r.Verbs, []string{"get"})
		})},
		{"L2 excluded interfaces", slices.Contains(spk.Args, "--l2-exclude-interfaces=^cni,^veth")},
		{"excludel2 ConfigMap", mounts(spk)["excludel2"] == "/etc/metallb" && excludeConfigMap(spec) == "my-excludel2"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("custom values: %s not applied", c.what)
		}
	}
	vwc := objs.find("ValidatingWebhookConfiguration", "")
	if vwc.GetAnnotations()["cert-manager.io/inject-ca-from"] != namespace+"/lb-webhook-cert" {
		t.Errorf("webhook annotations %v", vwc.GetAnnotations())
	}
}

// excludeConfigMap is the optional ConfigMap behind the excludel2 volume ("" when none).
func excludeConfigMap(spec corev1.PodSpec) string {
	for _, v := range spec.Volumes {
		if v.Name == "excludel2" && v.ConfigMap != nil && v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
			return v.ConfigMap.Name
		}
	}
	return ""
}

// TestWebhookCertificate: the self-managed certificate is valid for the webhook Service's name and
// signed by the CA the ValidatingWebhookConfiguration trusts.
func TestWebhookCertificate(t *testing.T) {
	objs := rendered(decode(t, render(t)))
	sec := as[corev1.Secret](t, objs.find("Secret", "-webhook-cert"))
	vwc := objs.find("ValidatingWebhookConfiguration", "")
	hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
	caBundle, _, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
	ca, err := base64.StdEncoding.DecodeString(caBundle)
	if err != nil || !bytes.Equal(ca, sec.Data["ca.crt"]) {
		t.Fatalf("the webhook's caBundle is not the Secret's ca.crt (%v)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("caBundle holds no certificate")
	}
	block, _ := pem.Decode(sec.Data["tls.crt"])
	if block == nil {
		t.Fatal("tls.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"routelb-webhook.metallb-system.svc", "routelb-webhook.metallb-system.svc.cluster.local"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
			t.Errorf("certificate not valid for %s: %v", name, err)
		}
	}
}

// TestSchemaRefusesBadValues: a typo or a wrong type fails helm with a message naming the key.
func TestSchemaRefusesBadValues(t *testing.T) {
	cases := []struct {
		name, values, want string
	}{
		{"unknown top-level key", "bgpp:\n  enabled: true\n", "bgpp"},
		{"unknown nested key", "l2:\n  leaseDurtion: 10s\n", "leaseDurtion"},
		{"typo under controller.webhook", "controller:\n  webhook:\n    certManger: {enabled: true}\n", "certManger"},
		{"boolean as string", "bgp:\n  enabled: \"yes\"\n", "enabled"},
		{"port as string", "speaker:\n  metricsPort: \"7473\"\n", "metricsPort"},
		{"port out of range", "controller:\n  healthPort: 70000\n", "healthPort"},
		{"bad log level", "logLevel: verbose\n", "logLevel"},
		{"bad duration", "reloader:\n  debounce: 200\n", "debounce"},
		{"duration without unit", "l2:\n  leaseDuration: \"15\"\n", "leaseDuration"},
		{"MetalLB-style timing key", "l2:\n  retryPeriod: 2s\n", "retryPeriod"},
		{"bad toleration operator", "speaker:\n  tolerations:\n    - {key: a, operator: Maybe}\n", "operator"},
		{"resources typo", "frr:\n  resources:\n    limit: {memory: 1Gi}\n", "limit"},
		{"bad quantity", "frr:\n  resources:\n    limits: {memory: lots}\n", "memory"},
		{"frr image without tag", "frr:\n  image:\n    repository: x\n    tag: 9\n", "tag"},
		{"Secret name not a DNS name", "speaker:\n  bgpPasswordSecrets: [\"BGP Password\"]\n", "bgpPasswordSecrets"},
		{"bad loadBalancerClass", "loadBalancerClass: \"Not A Class\"\n", "loadBalancerClass"},
		{"bad failurePolicy", "controller:\n  webhook:\n    failurePolicy: Retry\n", "failurePolicy"},
		{"no mode at all", "bgp: {enabled: false}\nl2: {enabled: false}\n", "/l2/enabled"},
		{"two allocators", "controller:\n  replicas: 2\n  leaderElect: false\n", "/controller/leaderElect"},
		{"ServiceMonitor without metrics", "metrics:\n  enabled: false\n  serviceMonitor: {enabled: true}\n", "/metrics/enabled"},
		// Beyond JSON Schema: the template's `fail`, which helm install and template obey (helm lint
		// only logs a template's fail).
		{"speaker port clash", "speaker:\n  healthPort: 7473\n", "must differ"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(f, []byte(c.values), 0o600); err != nil {
				t.Fatal(err)
			}
			cmds := [][]string{{"template", release, chartDir(), "--namespace", namespace, "--kube-version", kubeVersion, "-f", f}}
			if c.want != "must differ" {
				cmds = append(cmds, []string{"lint", chartDir(), "--namespace", namespace, "--kube-version", kubeVersion, "-f", f})
			}
			for _, cmd := range cmds {
				out, err := helm(t, cmd...)
				msg := ""
				if err != nil {
					msg = err.Error()
				}
				// helm lint reports on stdout and exits non-zero.
				msg += string(out)
				if err == nil {
					t.Errorf("helm %s accepted %q", cmd[0], c.values)
				} else if !strings.Contains(msg, c.want) {
					t.Errorf("helm %s refused %q without naming %q:\n%s", cmd[0], c.values, c.want, msg)
				}
			}
		})
	}
}

// TestNoNamespace: the chart never renders its release namespace (Helm writes the release record
// there before any resource, so a chart-made namespace cannot work); the Pod Security check is a
// lookup, which renders nothing.
func TestNoNamespace(t *testing.T) {
	for _, o := range decode(t, render(t)) {
		if o.GetKind() == "Namespace" {
			t.Errorf("the chart renders a Namespace %s", o.GetName())
		}
	}
}
