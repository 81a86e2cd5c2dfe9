package ipam

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/testing/testenv"
	"github.com/routelb/routelb/internal/testing/wait"
)

// ipamEnv is a real API server configured like a dual-stack cluster with room for thousands of
// Services, optionally with routelb's validating webhook registered, and the controller manager
// that tests start, stop and restart against it.
type ipamEnv struct {
	t       testing.TB
	cfg     *rest.Config
	c       client.Client
	env     *envtest.Environment
	webhook bool
	lbClass string
	workers int
	stop    context.CancelFunc
	done    chan error
}

func init() {
	// Errors only: the churn test's thousands of allocations would drown a failure's message.
	// ROUTELB_TEST_LOG=1 shows every Info line.
	level := zapcore.ErrorLevel
	if os.Getenv("ROUTELB_TEST_LOG") != "" {
		level = zapcore.InfoLevel
	}
	logf.SetLogger(zap.New(zap.Level(level)))
}

// startIPAMEnv starts the API server. Cluster IPs come from ranges that exist only inside the API
// server (nothing routes them), so they cannot collide with the machine's networks.
func startIPAMEnv(t testing.TB, withWebhook bool) *ipamEnv {
	t.Helper()
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(testenv.RepoRoot(), "charts", "routelb", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	if withWebhook {
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{ValidatingWebhooks: []*admissionv1.ValidatingWebhookConfiguration{webhookConfig()}}
		// envtest points the CRDs at the manager's /convert, as EnsureConversionWebhook does for
		// BGPPeer in a cluster. The types are not controller-runtime Convertibles (the API package
		// links no controller framework), so every CRD gets it; single-version ones never call it.
		env.WebhookInstallOptions.IgnoreSchemeConvertible = true
	}
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16,2001:db8:96::/112")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	e := &ipamEnv{t: t, cfg: cfg, env: env, webhook: withWebhook}
	t.Cleanup(func() {
		e.stopManager()
		if err := env.Stop(); err != nil {
			t.Logf("stopping the API server: %v", err)
		}
	})
	e.c, err = client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testenv.Namespace}}
	if err := e.c.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", testenv.Namespace, err)
	}
	return e
}

// webhookConfig is the ValidatingWebhookConfiguration the chart installs, pointed at WebhookPath.
func webhookConfig() *admissionv1.ValidatingWebhookConfiguration {
	path := strings.TrimPrefix(WebhookPath, "/") // envtest joins host and path with a slash
	fail, none := admissionv1.Fail, admissionv1.SideEffectClassNone
	return &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "routelb-validating"},
		Webhooks: []admissionv1.ValidatingWebhook{{
			Name:                    "metallb-io.routelb.io",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			ClientConfig:            admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: testenv.Namespace, Name: "routelb-webhook", Path: &path}},
			Rules: []admissionv1.RuleWithOperations{{
				Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete},
				Rule: admissionv1.Rule{
					APIGroups: []string{"metallb.io"}, APIVersions: []string{"*"},
					Resources: []string{"ipaddresspools", "bgppeers", "bgpadvertisements", "l2advertisements", "bfdprofiles", "communities"},
				},
			}},
		}},
	}
}

// startManager runs a fresh controller manager, as a restarted pod would.
func (e *ipamEnv) startManager() {
	e.t.Helper()
	wo := e.env.WebhookInstallOptions
	mgr, err := NewControllerManager(e.cfg, ControllerOptions{
		Namespace: testenv.Namespace, LBClass: e.lbClass, LeaderElect: true,
		MetricsBindAddress: "0", HealthProbeBindAddress: "0",
		DisableWebhook: !e.webhook, WebhookHost: wo.LocalServingHost, WebhookPort: wo.LocalServingPort, CertDir: wo.LocalServingCertDir,
		SkipNameValidation: true, Workers: e.workers, Logger: logf.Log,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan error, 1)
	go func() { e.done <- mgr.Start(ctx) }()
}

func (e *ipamEnv) stopManager() {
	if e.stop == nil {
		return
	}
	e.stop()
	if err := <-e.done; err != nil && !errors.Is(err, context.Canceled) {
		e.t.Errorf("manager stopped with: %v", err)
	}
	e.stop = nil
}

func (e *ipamEnv) restart() {
	e.t.Helper()
	e.stopManager()
	e.startManager()
}

// eventually is wait.Eventually for conditions that say what they last saw; the bound is
// generous, it asserts behaviour, not speed.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	if err := wait.Poll(60*time.Second, func() error {
		if ok, msg := cond(); !ok {
			return errors.New(msg)
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func ingressIPs(svc *corev1.Service) string {
	var s []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		s = append(s, in.IP)
	}
	return strings.Join(s, ",")
}

// events returns the notes of the Service's events with the reason.
func (e *ipamEnv) events(ns, name, reason string) []string {
	var list eventsv1.EventList
	if err := e.c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range list.Items {
		if ev.Regarding.Name == name && ev.Reason == reason {
			out = append(out, ev.Note)
		}
	}
	return out
}

func (e *ipamEnv) poolStatus(name string) (v1beta1.IPAddressPoolStatus, int64, error) {
	var p v1beta1.IPAddressPool
	err := e.c.Get(context.Background(), client.ObjectKey{Namespace: testenv.Namespace, Name: name}, &p)
	return p.Status, p.Generation, err
}

// waitPoolLoaded waits until the controller has reported on the pool's current generation.
func (e *ipamEnv) waitPoolLoaded(name string) {
	e.t.Helper()
	eventually(e.t, "pool "+name+" loaded", func() (bool, string) {
		st, gen, err := e.poolStatus(name)
		if err != nil {
			return false, err.Error()
		}
		for _, c := range st.Conditions {
			if c.Type == ConditionValid && c.ObservedGeneration == gen {
				return true, ""
			}
		}
		return false, fmt.Sprintf("conditions %+v at generation %d", st.Conditions, gen)
	})
}
