package api_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/routelb/routelb/internal/testing/testenv"
)

// migrationKinds are the kinds a MetalLB configuration is made of, at their stored versions.
var migrationKinds = map[string]string{
	"IPAddressPool": "v1beta1", "BGPPeer": "v1beta2", "BGPAdvertisement": "v1beta1",
	"L2Advertisement": "v1beta1", "BFDProfile": "v1beta1", "Community": "v1beta1",
}

// TestReplaceMetalLBCRDs runs docs/migration.md's CRD step on a live API server: MetalLB 0.16.1's
// CRDs with MetalLB's own examples stored under them are replaced by routelb's, whole. Every object
// is still there with the same spec, labels and annotations, and routelb's status fields, which
// MetalLB's schema would prune, are kept afterwards.
func TestReplaceMetalLBCRDs(t *testing.T) {
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ErrorIfCRDPathMissing: true,
		CRDDirectoryPaths: []string{filepath.Join("testdata", "metallb-crds")}}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testenv.Namespace}}); err != nil {
		t.Fatal(err)
	}

	// MetalLB's examples, as MetalLB's CRDs store them (no webhook here: later files replace
	// earlier objects of the same name).
	files, _ := filepath.Glob(filepath.Join("testdata", "metallb", "*.yaml"))
	for _, f := range files {
		for _, obj := range readObjects(t, f) {
			if _, ok := migrationKinds[obj.GetKind()]; !ok || !strings.HasPrefix(obj.GetAPIVersion(), "metallb.io/") {
				continue
			}
			unstructured.RemoveNestedField(obj.Object, "status")
			if err := c.Create(ctx, obj); apierrors.IsAlreadyExists(err) {
				cur := obj.DeepCopy()
				if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
					t.Fatal(err)
				}
				obj.SetResourceVersion(cur.GetResourceVersion())
				err = c.Update(ctx, obj)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
			} else if err != nil {
				t.Fatalf("%s: MetalLB's CRDs refuse %s %s: %v", f, obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	before := snapshot(t, c)
	if len(before) < 30 {
		t.Fatalf("only %d objects stored under MetalLB's CRDs", len(before))
	}

	replaceCRDs(t, c, filepath.Join(testenv.RepoRoot(), "charts", "routelb", "crds"))

	// routelb's schema is served once a condition on a pool's status survives a write.
	pool := &unstructured.Unstructured{}
	pool.SetAPIVersion("metallb.io/v1beta1")
	pool.SetKind("IPAddressPool")
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := c.Get(ctx, client.ObjectKey{Namespace: testenv.Namespace, Name: "first-pool"}, pool); err != nil {
			t.Fatal(err)
		}
		cond := map[string]any{"type": "Valid", "status": "True", "reason": "Valid", "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"}
		_ = unstructured.SetNestedSlice(pool.Object, []any{cond}, "status", "conditions")
		for _, f := range []string{"assignedIPv4", "assignedIPv6", "availableIPv4", "availableIPv6"} {
			_ = unstructured.SetNestedField(pool.Object, int64(0), "status", f)
		}
		err := c.Status().Update(ctx, pool)
		if err == nil {
			got, _, _ := unstructured.NestedSlice(pool.Object, "status", "conditions")
			if len(got) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("routelb's status schema is not served 60s after replacing the CRDs (last write: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	after := snapshot(t, c)
	for key, want := range before {
		got, ok := after[key]
		if !ok {
			t.Errorf("%s: gone after replacing the CRDs", key)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s changed:\n got %v\nwant %v", key, got, want)
		}
	}
	t.Logf("%d objects kept across the CRD replacement", len(before))
}

// snapshot maps "Kind name" to what a migration must keep of each object.
func snapshot(t *testing.T, c client.Client) map[string]any {
	t.Helper()
	out := map[string]any{}
	for kind, version := range migrationKinds {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("metallb.io/" + version)
		list.SetKind(kind + "List")
		if err := c.List(t.Context(), list, client.InNamespace(testenv.Namespace)); err != nil {
			t.Fatalf("listing %s: %v", kind, err)
		}
		for _, o := range list.Items {
			out[kind+" "+o.GetName()] = []any{o.Object["spec"], o.GetLabels(), o.GetAnnotations(), o.GetUID()}
		}
	}
	return out
}

// replaceCRDs is `kubectl replace -f` for every CRD file of dir (create where missing).
func replaceCRDs(t *testing.T, c client.Client, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err)
		}
		for _, crd := range readObjects(t, f) {
			cur := crd.DeepCopy()
			err := c.Get(t.Context(), client.ObjectKeyFromObject(crd), cur)
			switch {
			case apierrors.IsNotFound(err):
				err = c.Create(t.Context(), crd)
			case err == nil:
				crd.SetResourceVersion(cur.GetResourceVersion())
				err = c.Update(t.Context(), crd)
			}
			if err != nil {
				t.Fatalf("replacing %s: %v", crd.GetName(), err)
			}
		}
	}
}
