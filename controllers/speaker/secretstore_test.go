package speaker

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// restrictedUser is the identity TestSecretRotation runs the speaker as: everything it reads and
// writes elsewhere, but on Secrets only get, and only on the names in resourceNames.
const restrictedUser = "secret-rotation-speaker"

func grantRestricted(t *testing.T, c client.Client, secretNames []string) {
	t.Helper()
	all := []string{"*"}
	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: restrictedUser}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"services", "nodes", "configmaps", "events"}, Verbs: all},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: all},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: all},
		{APIGroups: []string{"metallb.io"}, Resources: all, Verbs: all},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: secretNames, Verbs: []string{"get"}},
	}}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: restrictedUser},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: restrictedUser},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: restrictedUser}}}
	for _, o := range []client.Object{cr, crb} {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSecretRotation: a speaker that may only get named Secrets (no list, no watch: an informer
// on Secrets would never sync, and nothing would be rendered) renders the password of the Secret a
// BGPPeer names; a rotated password reaches frr.conf at the store's next refresh, and at once when
// the BGPPeer is edited; a Secret created after its peer, and one deleted (reported on its peer), are followed too; a
// Secret RBAC refuses leaves only its own peer waiting, with an event saying why.
func TestSecretRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	env := testenv.Start(t)
	ns := testenv.Namespace
	grantRestricted(t, env.Client, []string{"pw-a", "pw-b"})
	restricted := *env
	restricted.Config = rest.CopyConfig(env.Config)
	restricted.Config.Impersonate = rest.ImpersonationConfig{UserName: restrictedUser}

	dir := t.TempDir()
	e := &speakerEnv{t: t, c: env.Client, dir: dir, creates: map[string]int{}}
	var store *SecretStore
	restricted.StartManager(t, ctrl.Options{Cache: SpeakerCacheOptions(ns, "node1"), Client: SpeakerClientOptions()}, func(mgr ctrl.Manager) error {
		var err error
		// An hour: the test calls Refresh itself, so a timer never does the work it checks.
		if store, err = NewSecretStore(mgr, ns, time.Hour); err != nil {
			return err
		}
		e.r = &SpeakerBGPReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("routelb-speaker"),
			NodeName: "node1", Namespace: ns, ConfigDir: dir, Daemon: nodeconfig.DaemonFRR, Secrets: store}
		return e.r.SetupWithManager(mgr)
	})
	secret := func(name, pw string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Type: corev1.SecretTypeBasicAuth,
			Data: map[string][]byte{corev1.BasicAuthPasswordKey: []byte(pw)}}
	}
	peer := func(name, addr, secretName string) *v1beta2.BGPPeer {
		return &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: addr, PasswordSecret: corev1.SecretReference{Name: secretName}}}
	}
	a, b, c := peer("peer-a", "198.51.100.1", "pw-a"), peer("peer-b", "198.51.100.2", "pw-b"), peer("peer-c", "198.51.100.3", "pw-c")
	e.create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24"}}},
		secret("pw-a", "first-password"), secret("pw-c", "not-for-the-speaker"), a, b, c)
	ctx := context.Background()
	want := func(what string, lines ...string) {
		t.Helper()
		e.eventually(what, func() error {
			conf := e.conf()
			for _, l := range lines {
				if !hasLine(conf, l) {
					return fmt.Errorf("no %q in:\n%s", l, conf)
				}
			}
			return nil
		})
	}
	refresh := func() {
		t.Helper()
		if err := store.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want("the first password", " neighbor 198.51.100.1 password first-password")
	refresh()
	e.waitWarning("peer-c", "speaker.bgpPasswordSecrets")
	if hasLine(e.conf(), " neighbor 198.51.100.3 password not-for-the-speaker") {
		t.Fatal("frr.conf has the password of a Secret the speaker may not read")
	}

	rotate := func(name, pw string) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var s corev1.Secret
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
				return err
			}
			s.Data[corev1.BasicAuthPasswordKey] = []byte(pw)
			return env.Client.Update(ctx, &s)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rotate("pw-a", "second-password")
	refresh()
	want("the rotated password, after a refresh", " neighbor 198.51.100.1 password second-password")

	e.create(secret("pw-b", "late-password"))
	refresh()
	want("the password of a Secret created after its peer", " neighbor 198.51.100.2 password late-password")

	// No refresh: editing the peer forgets its Secret.
	rotate("pw-a", "third-password")
	e.updatePeer(a, func(p *v1beta2.BGPPeer) { p.Spec.HoldTime = &metav1.Duration{Duration: 30 * time.Second} })
	want("the rotated password, after a peer edit", " neighbor 198.51.100.1 password third-password")

	if err := env.Client.Delete(ctx, secret("pw-a", "")); err != nil {
		t.Fatal(err)
	}
	refresh()
	// The model keeps the peer's last good version running, and says the Secret is gone.
	e.waitWarning("peer-a", `Secret "pw-a" does not exist`)
}
