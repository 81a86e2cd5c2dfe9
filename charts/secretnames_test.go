package charts_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// checkSecretNames: as the speaker's ServiceAccount, with the chart's RBAC applied for real, a
// Secret can be read by name but the Secrets cannot be listed or watched; with
// speaker.bgpPasswordSecrets, only the Secrets named there can be read. Runs last: it re-applies the
// chart with that value and puts the default back.
func checkSecretNames(t *testing.T, s *server) {
	ctx := t.Context()
	cfg := rest.CopyConfig(s.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: saUser("routelb-speaker"), Groups: saGroups()}
	spk, err := client.NewWithWatch(cfg, client.Options{Scheme: s.client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"named-password", "other-secret"} {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Type: corev1.SecretTypeBasicAuth,
			StringData: map[string]string{"password": "pw-" + name}}
		if err := s.client.Create(ctx, sec); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) error {
		return spk.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &corev1.Secret{})
	}
	noEnumeration := func() {
		t.Helper()
		if err := spk.List(ctx, &corev1.SecretList{}, client.InNamespace(namespace)); !apierrors.IsForbidden(err) {
			t.Errorf("speaker listing Secrets: %v, want forbidden", err)
		}
		w, err := spk.Watch(ctx, &corev1.SecretList{}, client.InNamespace(namespace))
		if err == nil {
			w.Stop()
		}
		if !apierrors.IsForbidden(err) {
			t.Errorf("speaker watching Secrets: %v, want forbidden", err)
		}
	}

	// The default chart: get by any name, no list or watch.
	noEnumeration()
	for _, name := range []string{"named-password", "other-secret"} {
		if err := get(name); err != nil {
			t.Errorf("speaker getting Secret %s with the default chart: %v", name, err)
		}
	}

	named := render(t, "--set", "speaker.bgpPasswordSecrets={named-password}")
	if out, err := s.apply(t, named, false); err != nil {
		t.Fatalf("kubectl apply with speaker.bgpPasswordSecrets: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := s.apply(t, render(t), false); err != nil {
			t.Errorf("putting the default chart back: %v\n%s", err, out)
		}
	})
	// The API server's RBAC follows Roles through an informer: wait for it to see the new rule.
	waitFor(t, "the narrowed Role to take effect", func() (string, bool) {
		return "", !allow(s.client, t, "routelb-speaker", access{verb: "get", resource: "secrets", ns: namespace, name: "other-secret"})
	})
	noEnumeration()
	if err := get("named-password"); err != nil {
		t.Errorf("speaker getting the Secret speaker.bgpPasswordSecrets names: %v", err)
	}
	if err := get("other-secret"); !apierrors.IsForbidden(err) {
		t.Errorf("speaker getting a Secret speaker.bgpPasswordSecrets leaves out: %v, want forbidden", err)
	}
}
