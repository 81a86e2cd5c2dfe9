// Package testenv starts a real kube-apiserver and etcd for tests (controller-runtime's envtest), with
// routelb's CRDs installed from the Helm chart, so every API test runs against the real validation.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
)

// Namespace is where the metallb.io objects live, as in MetalLB.
const Namespace = "metallb-system"

// Env is a running API server with a client for it.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *k8sruntime.Scheme
	env    *envtest.Environment
}

// Scheme returns a scheme with the core Kubernetes kinds and routelb's metallb.io kinds.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme, v1beta2.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// RepoRoot is the checkout's top folder, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Start runs an API server and etcd for the test and stops them when it ends. It fails the test with
// a clear message when the binaries are missing rather than skipping it. configure, if given, adjusts
// the environment before it starts (e.g. a larger --service-cluster-ip-range for benchmarks).
func Start(t testing.TB, configure ...func(*envtest.Environment)) *Env {
	t.Helper()
	assets, err := Assets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "charts", "routelb", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	for _, f := range configure {
		f(env)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the API server: %v", err)
		}
	})
	s := Scheme()
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", Namespace, err)
	}
	return &Env{Config: cfg, Client: c, Scheme: s, env: env}
}

// Assets returns the folder holding kube-apiserver, kubectl and etcd: $KUBEBUILDER_ASSETS as the
// Makefile sets it, or else the cache that hack/kube-bin.sh fills, with Debian's etcd linked into it.
func Assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		out, err := exec.Command(filepath.Join(RepoRoot(), "hack", "kube-bin.sh"), "--no-build").Output()
		if err != nil {
			return "", fmt.Errorf("kube-apiserver is not built: run `make test` (or hack/kube-bin.sh) first: %w", err)
		}
		dir = string(trimNewline(out))
	}
	for _, bin := range []string{"kube-apiserver", "kubectl", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s is missing from %s: run `make test` (it builds kube-apiserver and installs etcd-server): %w", bin, dir, err)
		}
	}
	return dir, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
