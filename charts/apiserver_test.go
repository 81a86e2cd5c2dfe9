package charts_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/routelb/routelb/internal/testing/testenv"
)

// server is a real kube-apiserver with RBAC authorization and an audit log, so a request the chart's
// ServiceAccounts may not make shows up as a 403 there whatever the binary logs.
type server struct {
	cfg      *rest.Config
	client   client.Client
	kubectl  string
	assets   string
	auditLog string
	dir      string
}

func startServer(t *testing.T) *server {
	t.Helper()
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &server{assets: assets, kubectl: filepath.Join(assets, "kubectl"), auditLog: filepath.Join(dir, "audit.log"), dir: dir}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		// The chart's CRDs, and stand-ins for the ServiceMonitor and cert-manager kinds it can render.
		CRDDirectoryPaths:     []string{filepath.Join(chartDir(), "crds"), filepath.Join("testdata", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	api := env.ControlPlane.GetAPIServer().Configure()
	// envtest's default today, set here so the RBAC checks never run against AlwaysAllow.
	api.Set("authorization-mode", "RBAC")
	api.Set("audit-policy-file", policy)
	api.Set("audit-log-path", s.auditLog)
	api.Set("audit-log-format", "json")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the API server: %v", err)
		}
	})
	s.cfg = cfg
	if s.client, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{namespace, "demo"} {
		if err := s.client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// kubeconfig writes a kubeconfig for the server: as its admin, or impersonating a ServiceAccount.
func (s *server) kubeconfig(t *testing.T, serviceAccount string) string {
	t.Helper()
	auth := &clientcmdapi.AuthInfo{ClientCertificateData: s.cfg.CertData, ClientKeyData: s.cfg.KeyData}
	name := "admin"
	if serviceAccount != "" {
		name = serviceAccount
		auth.Impersonate = saUser(serviceAccount)
		auth.ImpersonateGroups = saGroups()
		auth.ImpersonateUserExtra = saExtra(serviceAccount, node)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: s.cfg.Host, CertificateAuthorityData: s.cfg.CAData}
	kc.AuthInfos[name] = auth
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: name}
	kc.CurrentContext = name
	path := filepath.Join(s.dir, "kubeconfig-"+name)
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func saUser(name string) string { return "system:serviceaccount:" + namespace + ":" + name }

// nodeNameExtra is the user extra a ServiceAccount token bound to a Pod carries its node in
// (Kubernetes 1.32+); the speaker's own-node admission policy reads it.
const nodeNameExtra = "authentication.kubernetes.io/node-name"

// saExtra is what a pod-bound token of the speaker on node would carry; nothing for the others.
func saExtra(serviceAccount, node string) map[string][]string {
	if serviceAccount != "routelb-speaker" || node == "" {
		return nil
	}
	return map[string][]string{nodeNameExtra: {node}}
}
func saGroups() []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
}

// apply runs kubectl apply on a manifest, for real or as a server-side dry run.
func (s *server) apply(t *testing.T, manifest []byte, dryRun bool) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(f, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--kubeconfig", s.kubeconfig(t, ""), "apply", "-f", f}
	if dryRun {
		args = append(args, "--dry-run=server")
	}
	out, err := exec.Command(s.kubectl, args...).CombinedOutput()
	return string(out), err
}

// forbidden lists the audit log's refused requests by the given users.
func (s *server) forbidden(t *testing.T, users ...string) (refused []string, seen map[string]int) {
	t.Helper()
	f, err := os.Open(s.auditLog)
	if err != nil {
		t.Fatalf("reading the audit log: %v", err)
	}
	defer f.Close()
	seen = map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			Stage            string                     `json:"stage"`
			Verb             string                     `json:"verb"`
			RequestURI       string                     `json:"requestURI"`
			User             struct{ Username string }  `json:"user"`
			ImpersonatedUser *struct{ Username string } `json:"impersonatedUser"`
			ResponseStatus   *struct{ Code int }        `json:"responseStatus"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		who := ev.User.Username
		if ev.ImpersonatedUser != nil {
			who = ev.ImpersonatedUser.Username
		}
		for _, u := range users {
			if who != u {
				continue
			}
			seen[u]++
			if ev.ResponseStatus != nil && ev.ResponseStatus.Code == 403 {
				path, _, _ := strings.Cut(ev.RequestURI, "?")
				refused = append(refused, who+": "+ev.Verb+" "+path)
			}
		}
	}
	return refused, seen
}

// TestOnAPIServer: every object of every values file is accepted by the real API server; then the
// chart's RBAC, applied for real, allows each component exactly its calls (here as access reviews,
// and in binaries_test.go by running the binaries as the ServiceAccounts).
func TestOnAPIServer(t *testing.T) {
	s := startServer(t)
	t.Run("dry-run", func(t *testing.T) {
		for _, vs := range valueSets {
			t.Run(vs.name, func(t *testing.T) {
				manifest := render(t, valuesArgs(vs.file)...)
				out, err := s.apply(t, manifest, true)
				if err != nil {
					t.Fatalf("kubectl apply --dry-run=server refused the chart: %v\n%s", err, out)
				}
				want := len(decode(t, manifest))
				if got := strings.Count(out, "(server dry run)"); got != want {
					t.Errorf("%d of %d objects accepted:\n%s", got, want, out)
				}
			})
		}
	})
	manifest := render(t)
	if out, err := s.apply(t, manifest, false); err != nil {
		t.Fatalf("kubectl apply of the default chart: %v\n%s", err, out)
	}
	// This API server cannot reach a Service's endpoints, so the registered webhook would refuse every
	// metallb.io write; runBinaries calls the controller's webhook directly instead.
	vwc := rendered(decode(t, manifest)).find("ValidatingWebhookConfiguration", "")
	if out, err := exec.Command(s.kubectl, "--kubeconfig", s.kubeconfig(t, ""), "delete",
		"validatingwebhookconfiguration", vwc.GetName()).CombinedOutput(); err != nil {
		t.Fatalf("deleting the webhook registration: %v\n%s", err, out)
	}
	t.Run("access-reviews", func(t *testing.T) { checkAccess(t, s) })
	t.Run("binaries", func(t *testing.T) { runBinaries(t, s, manifest) })
	t.Run("lease-policy", func(t *testing.T) { checkLeasePolicy(t, s) })
	t.Run("own-node-policy", func(t *testing.T) { checkOwnNodePolicy(t, s) })
	t.Run("pod-bound-token", func(t *testing.T) { checkPodBoundToken(t, s) })
	t.Run("secret-names", func(t *testing.T) { checkSecretNames(t, s) })
}

type access struct {
	verb, group, resource, sub, ns, name string
}

func (a access) String() string {
	r := a.resource
	if a.sub != "" {
		r += "/" + a.sub
	}
	if a.group != "" {
		r += "." + a.group
	}
	return a.verb + " " + r + " ns=" + a.ns + " name=" + a.name
}

func allow(c client.Client, t *testing.T, sa string, a access) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: saUser(sa), Groups: saGroups(),
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: a.ns, Verb: a.verb, Group: a.group,
			Resource: a.resource, Subresource: a.sub, Name: a.name},
	}}
	if err := c.Create(t.Context(), sar); err != nil {
		t.Fatalf("access review %s: %v", a, err)
	}
	return sar.Status.Allowed
}

func expand(verbs []string, a access) []access {
	var out []access
	for _, v := range verbs {
		b := a
		b.verb = v
		out = append(out, b)
	}
	return out
}

var metallbKinds = []string{"ipaddresspools", "bgppeers", "bgpadvertisements", "l2advertisements", "bfdprofiles", "communities"}

// checkAccess: the calls each binary makes (the flag contracts in the chart README) are allowed, and
// a sample of calls it never makes is refused, so the rules are both sufficient and tight.
func checkAccess(t *testing.T, s *server) {
	read := []string{"get", "list", "watch"}
	ctl, spk := "routelb-controller", "routelb-speaker"
	var ctlAllowed, spkAllowed []access
	ctlAllowed = append(ctlAllowed, expand([]string{"get", "list", "watch", "patch"}, access{resource: "services", ns: "demo"})...)
	ctlAllowed = append(ctlAllowed, expand(read, access{resource: "services"})...)
	ctlAllowed = append(ctlAllowed,
		access{verb: "patch", resource: "services", sub: "status", ns: "demo"},
		access{verb: "list", resource: "nodes"},
		access{verb: "update", group: "metallb.io", resource: "ipaddresspools", sub: "status", ns: namespace},
		access{verb: "list", resource: "secrets", ns: namespace},
		access{verb: "create", group: "coordination.k8s.io", resource: "leases", ns: namespace},
		access{verb: "get", group: "coordination.k8s.io", resource: "leases", ns: namespace, name: "routelb-controller"},
		access{verb: "update", group: "coordination.k8s.io", resource: "leases", ns: namespace, name: "routelb-controller"},
	)
	ctlAllowed = append(ctlAllowed, expand(read, access{resource: "namespaces"})...)
	ctlAllowed = append(ctlAllowed, expand([]string{"create", "patch"}, access{group: "events.k8s.io", resource: "events", ns: "demo"})...)
	ctlAllowed = append(ctlAllowed, expand([]string{"create", "patch"}, access{resource: "events", ns: namespace})...)
	ctlAllowed = append(ctlAllowed, expand(read, access{group: "metallb.io", resource: "ipaddresspools", ns: namespace})...)
	ctlAllowed = append(ctlAllowed, expand([]string{"get", "list", "watch", "create"}, access{group: "metallb.io", resource: "configurationstates", ns: namespace})...)
	ctlAllowed = append(ctlAllowed, access{verb: "update", group: "metallb.io", resource: "configurationstates", sub: "status", ns: namespace})
	for _, k := range metallbKinds {
		ctlAllowed = append(ctlAllowed, access{verb: "list", group: "metallb.io", resource: k, ns: namespace})
	}
	ctlRefused := []access{
		{verb: "update", resource: "services", ns: "demo"},
		{verb: "delete", resource: "services", ns: "demo"},
		{verb: "get", resource: "secrets", ns: namespace, name: "x"},
		{verb: "list", resource: "secrets", ns: "demo"},
		{verb: "update", group: "metallb.io", resource: "ipaddresspools", ns: namespace},
		{verb: "list", group: "metallb.io", resource: "ipaddresspools", ns: "demo"},
		{verb: "create", group: "metallb.io", resource: "servicebgpstatuses", ns: namespace},
		{verb: "update", group: "coordination.k8s.io", resource: "leases", ns: namespace, name: "someone-else"},
		{verb: "update", group: "admissionregistration.k8s.io", resource: "validatingwebhookconfigurations"},
		{verb: "create", resource: "pods", ns: namespace},
	}

	spkAllowed = append(spkAllowed, expand(read, access{resource: "services"})...)
	spkAllowed = append(spkAllowed, expand(read, access{resource: "nodes"})...)
	spkAllowed = append(spkAllowed, expand(read, access{group: "discovery.k8s.io", resource: "endpointslices"})...)
	spkAllowed = append(spkAllowed, access{verb: "get", resource: "secrets", ns: namespace, name: "any-name"})
	spkAllowed = append(spkAllowed, expand([]string{"create", "patch"}, access{group: "events.k8s.io", resource: "events", ns: "default"})...)
	for _, k := range metallbKinds {
		spkAllowed = append(spkAllowed, expand(read, access{group: "metallb.io", resource: k, ns: namespace})...)
		spkAllowed = append(spkAllowed, access{verb: "update", group: "metallb.io", resource: k, sub: "status", ns: namespace})
	}
	spkAllowed = append(spkAllowed, access{verb: "patch", group: "metallb.io", resource: "bgppeers", sub: "status", ns: namespace})
	spkAllowed = append(spkAllowed, expand([]string{"get", "list", "watch", "create", "delete"}, access{group: "metallb.io", resource: "servicebgpstatuses", ns: namespace})...)
	spkAllowed = append(spkAllowed, expand([]string{"get", "list", "watch", "create"}, access{group: "metallb.io", resource: "configurationstates", ns: namespace})...)
	spkAllowed = append(spkAllowed, access{verb: "update", group: "metallb.io", resource: "configurationstates", sub: "status", ns: namespace})
	spkAllowed = append(spkAllowed, expand([]string{"get", "list", "watch", "create", "update", "delete"}, access{group: "metallb.io", resource: "servicel2statuses", ns: namespace})...)
	spkAllowed = append(spkAllowed,
		access{verb: "update", group: "metallb.io", resource: "servicebgpstatuses", sub: "status", ns: namespace},
		access{verb: "update", group: "metallb.io", resource: "servicel2statuses", sub: "status", ns: namespace})
	spkAllowed = append(spkAllowed, expand([]string{"get", "list", "watch", "create", "update", "delete"}, access{group: "coordination.k8s.io", resource: "leases", ns: namespace})...)
	spkRefused := []access{
		{verb: "patch", resource: "services", ns: "demo"},
		{verb: "patch", resource: "services", sub: "status", ns: "demo"},
		{verb: "list", resource: "secrets"},
		{verb: "list", resource: "secrets", ns: namespace},
		{verb: "watch", resource: "secrets", ns: namespace},
		{verb: "get", resource: "secrets", ns: "demo", name: "x"},
		{verb: "update", group: "metallb.io", resource: "ipaddresspools", ns: namespace},
		{verb: "delete", group: "metallb.io", resource: "bgppeers", ns: namespace},
		{verb: "patch", group: "metallb.io", resource: "bgppeers", ns: namespace},
		{verb: "patch", group: "metallb.io", resource: "ipaddresspools", sub: "status", ns: namespace},
		{verb: "update", group: "coordination.k8s.io", resource: "leases", ns: "demo"},
		{verb: "update", resource: "nodes"},
		{verb: "create", resource: "pods", ns: namespace},
	}
	for _, c := range []struct {
		sa               string
		allowed, refused []access
	}{{ctl, ctlAllowed, ctlRefused}, {spk, spkAllowed, spkRefused}} {
		for _, a := range c.allowed {
			if !allow(s.client, t, c.sa, a) {
				t.Errorf("%s may not %s, which it needs", c.sa, a)
			}
		}
		for _, a := range c.refused {
			if allow(s.client, t, c.sa, a) {
				t.Errorf("%s may %s, which it never needs", c.sa, a)
			}
		}
	}
	// The server enforces RBAC: an account without bindings may not even list Services.
	if allow(s.client, t, "nobody", access{verb: "list", resource: "services"}) {
		t.Fatal("the API server does not enforce RBAC")
	}
}
