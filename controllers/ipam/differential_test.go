//go:build metallbdiff

package ipam

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// metallbVersion is the MetalLB release whose webhook routelb is compared with; hack/metallb-controller.sh
// builds its controller from the Go module proxy (metallbDir).
const metallbVersion = "v0.15.2"

// metallbWebhookPort is where MetalLB's controller serves its webhooks (fixed in its code).
const metallbWebhookPort = 9443

// metallbWebhooks is MetalLB's ValidatingWebhookConfiguration: one webhook per kind, on its paths.
func metallbWebhooks() *admissionv1.ValidatingWebhookConfiguration {
	fail, none := admissionv1.Fail, admissionv1.SideEffectClassNone
	vwc := &admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "metallb-webhook-configuration"}}
	for _, k := range []struct{ version, resource, kind string }{
		{"v1beta1", "ipaddresspools", "ipaddresspool"}, {"v1beta2", "bgppeers", "bgppeer"},
		{"v1beta1", "bgpadvertisements", "bgpadvertisement"}, {"v1beta1", "l2advertisements", "l2advertisement"},
		{"v1beta1", "bfdprofiles", "bfdprofile"}, {"v1beta1", "communities", "community"},
	} {
		path := "validate-metallb-io-" + k.version + "-" + k.kind // envtest joins host and path with a slash
		vwc.Webhooks = append(vwc.Webhooks, admissionv1.ValidatingWebhook{
			Name: k.kind + "validationwebhook.metallb.io", AdmissionReviewVersions: []string{"v1"},
			SideEffects: &none, FailurePolicy: &fail,
			ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: testenv.Namespace, Name: "metallb-webhook-service", Path: &path}},
			Rules: []admissionv1.RuleWithOperations{{
				Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete},
				Rule:       admissionv1.Rule{APIGroups: []string{"metallb.io"}, APIVersions: []string{k.version}, Resources: []string{k.resource}},
			}},
		})
	}
	return vwc
}

// startMetalLBWebhook runs MetalLB's controller in webhook-only mode against a fresh API server
// with routelb's CRDs, and returns a client of that API server.
func startMetalLBWebhook(t *testing.T) client.Client {
	t.Helper()
	bin := filepath.Join(metallbDir(t), "controller")
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets, ErrorIfCRDPathMissing: true,
		CRDDirectoryPaths: []string{filepath.Join(testenv.RepoRoot(), "charts", "routelb", "crds")},
		WebhookInstallOptions: envtest.WebhookInstallOptions{LocalServingHost: "127.0.0.1", LocalServingPort: metallbWebhookPort,
			ValidatingWebhooks: []*admissionv1.ValidatingWebhookConfiguration{metallbWebhooks()}},
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testenv.Namespace}}); err != nil {
		t.Fatal(err)
	}
	admin, err := env.AddUser(envtest.User{Name: "metallb", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcFile := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcFile, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	// MetalLB's webhook server reads its certificate from controller-runtime's default folder under
	// the temporary directory, whatever --cert-dir says: give it a private one.
	tmp := t.TempDir()
	certs := filepath.Join(tmp, "k8s-webhook-server", "serving-certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		data, err := os.ReadFile(filepath.Join(env.WebhookInstallOptions.LocalServingCertDir, f))
		if err == nil {
			err = os.WriteFile(filepath.Join(certs, f), data, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "--webhook-mode=onlywebhook", "--disable-cert-rotation", "--namespace="+testenv.Namespace,
		"--cert-dir="+certs, "--port=0", "--kubeconfig="+kcFile)
	// FRR mode, as routelb's speakers are FRR's: native mode refuses IPv6 pools, VRFs and timers.
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "METALLB_BGP_TYPE=frr")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("MetalLB's controller:\n%s", lastLines(out.String(), 40))
		}
	})
	return c
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestMetalLBDifferential feeds MetalLB's examples, all at once in reverse order, to routelb's
// webhook and to MetalLB's own (its controller in webhook-only mode, same CRDs, same order): routelb
// must refuse no object MetalLB accepts.
func TestMetalLBDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts API servers and MetalLB's controller")
	}
	ctx := context.Background()
	corpus := readCorpus(t)
	all := reversedCorpus(corpus)
	// The first object is applied until the webhook answers; delete it again so both runs start empty.
	ready := func(c client.Client) {
		eventually(t, "the webhook serving", func() (bool, string) {
			err := applyObject(ctx, c, all[len(all)-1].obj)
			return err == nil, errString(err)
		})
		clearNamespace(ctx, t, c)
	}

	e := startIPAMEnv(t, true)
	e.startManager()
	ready(e.c)
	ours := applyAll(ctx, e.c, all)
	e.stopManager()

	mc := startMetalLBWebhook(t)
	start := time.Now()
	ready(mc)
	t.Logf("MetalLB's webhook answered after %s", time.Since(start).Round(time.Second))
	theirs := applyAll(ctx, mc, all)

	for _, k := range slices.Sorted(maps.Keys(ours)) {
		if _, ok := theirs[k]; !ok {
			t.Errorf("%s: routelb refuses what MetalLB %s accepts: %s", k, metallbVersion, ours[k])
		}
	}
	// Both directions: with MetalLB's peer rule (model.checkPeersPerNode) routelb also refuses
	// what MetalLB refuses, so a difference either way is a regression.
	for _, k := range slices.Sorted(maps.Keys(theirs)) {
		if _, ok := ours[k]; !ok {
			t.Errorf("%s: MetalLB %s refuses, routelb accepts: %s", k, metallbVersion, theirs[k])
		}
	}
	t.Logf("%d objects: routelb refused %d, MetalLB %s refused %d", len(all), len(ours), metallbVersion, len(theirs))
	if len(theirs) == 0 {
		t.Errorf("MetalLB refused nothing: its webhook did not run (the examples contradict each other in %d places)", len(corpusContradictions))
	}
}
