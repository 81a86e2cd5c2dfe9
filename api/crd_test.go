package api_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/internal/testing/testenv"
)

// readObjects decodes every YAML document of a file.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// expectedField reads the "# field: PATH" header of an invalid manifest.
func expectedField(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	field, ok := strings.CutPrefix(first, "# field: ")
	if !ok {
		t.Fatalf("%s: first line must be '# field: PATH'", path)
	}
	return field
}

// contains reports whether every field set in want is set to the same value in got, so a field the
// schema does not know (and the API server would silently prune) is caught.
func contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !contains(g[k], v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		// YAML decodes numbers as float64 and the API client as int64.
		if gf, ok := number(got); ok {
			wf, ok := number(want)
			return ok && gf == wf
		}
		return reflect.DeepEqual(got, want)
	}
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func TestCRDs(t *testing.T) {
	env := testenv.Start(t)
	t.Run("valid", func(t *testing.T) { testValid(t, env.Client) })
	t.Run("invalid", func(t *testing.T) { testInvalid(t, env.Client) })
	t.Run("immutable", func(t *testing.T) { testImmutable(t, env.Client) })
}

func testValid(t *testing.T, c client.Client) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) < 25 {
		t.Fatalf("want at least 25 valid manifests, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, obj := range readObjects(t, f) {
				createAndCompare(t, c, obj)
			}
		})
	}
}

func createAndCompare(t *testing.T, c client.Client, obj *unstructured.Unstructured) {
	t.Helper()
	want := obj.DeepCopy()
	if err := c.Create(t.Context(), obj); err != nil {
		t.Fatalf("create %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	if status, ok := want.Object["status"]; ok {
		obj.Object["status"] = status
		if err := c.Status().Update(t.Context(), obj); err != nil {
			t.Fatalf("status update %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(want.GroupVersionKind())
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(want), got); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"spec", "status", "stringData"} {
		if w, ok := want.Object[part]; ok && part != "stringData" && !contains(got.Object[part], w) {
			t.Errorf("%s %s: stored %s %v does not keep the manifest's %v", want.GetKind(), want.GetName(), part, got.Object[part], w)
		}
	}
}

func testInvalid(t *testing.T, c client.Client) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 20 {
		t.Fatalf("want at least 20 invalid manifests, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			field := expectedField(t, f)
			for _, obj := range readObjects(t, f) {
				err := c.Create(t.Context(), obj)
				if err == nil {
					t.Fatalf("the API server accepted %s %s", obj.GetKind(), obj.GetName())
				}
				if !apierrors.IsInvalid(err) {
					t.Fatalf("want an Invalid error, got %v", err)
				}
				if !strings.Contains(err.Error(), field+":") && !strings.Contains(err.Error(), field+" ") {
					t.Fatalf("error does not name %s: %v", field, err)
				}
				t.Log(err)
			}
		})
	}
}

// gracefulPeer creates a copy of peer-minimal named name, with enableGracefulRestart set to set
// (nil: absent).
func gracefulPeer(t *testing.T, c client.Client, name string, set *bool) *unstructured.Unstructured {
	t.Helper()
	peer := readObjects(t, "testdata/valid/peer-minimal.yaml")[0]
	peer.SetName(name)
	if set != nil {
		if err := unstructured.SetNestedField(peer.Object, *set, "spec", "enableGracefulRestart"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Create(t.Context(), peer); err != nil {
		t.Fatal(err)
	}
	return peer
}

// testGracefulRestart checks MetalLB's rule, which is on the field: a value once set cannot change,
// but setting it on a peer that never had it is allowed.
func testGracefulRestart(t *testing.T, c client.Client) {
	on, off := true, false
	for _, tc := range []struct {
		name    string
		from    *bool
		to      bool
		refused bool
	}{
		{"true-to-false", &on, false, true},
		{"false-to-true", &off, true, true},
		{"absent-to-true", nil, true, false},
		{"absent-to-false", nil, false, false},
		{"true-to-true", &on, true, false},
	} {
		peer := gracefulPeer(t, c, "graceful-"+tc.name, tc.from)
		_ = unstructured.SetNestedField(peer.Object, tc.to, "spec", "enableGracefulRestart")
		err := c.Update(t.Context(), peer)
		switch {
		case tc.refused && (err == nil || !strings.Contains(err.Error(), "spec.enableGracefulRestart")):
			t.Errorf("%s: want an error naming spec.enableGracefulRestart, got %v", tc.name, err)
		case !tc.refused && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		}
	}
}

func testImmutable(t *testing.T, c client.Client) {
	testGracefulRestart(t, c)

	status := &unstructured.Unstructured{}
	status.SetGroupVersionKind(readObjects(t, "testdata/valid/servicel2status.yaml")[0].GroupVersionKind())
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: testenv.Namespace, Name: "l2-default-web"}, status); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(status.Object, "node3", "status", "node")
	err := c.Status().Update(t.Context(), status)
	if err == nil || !strings.Contains(err.Error(), "status.node") {
		t.Fatalf("changing status.node: want an error naming status.node, got %v", err)
	}
}
