package speaker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// logLines collects a logger's lines from the manager's goroutines.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(&l.b, prefix, args)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoPasswordInSpeakerLogsEventsOrStatus: through a real API server, a speaker renders one
// peer's password from a Secret and refuses two others (Secrets of 81 characters and with a space;
// the API server itself refuses such inline passwords). The good one reaches frr.conf; none appears in any line the speaker logged (at
// every verbosity), in any event, nor in any BGPPeer's status.
func TestNoPasswordInSpeakerLogsEventsOrStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	var logs logLines
	e := startSpeakerLogged(t, funcr.Options{Verbosity: 10}, &logs)
	ns := testenv.Namespace
	good, longSecret, spaced := "pw-secret-ok-3c9d", "pw-secret-long-"+strings.Repeat("s", 66), "pw-secret-spaced has-space"
	basicAuth := func(name, pw string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Type: corev1.SecretTypeBasicAuth,
			Data: map[string][]byte{corev1.BasicAuthPasswordKey: []byte(pw)}}
	}
	peer := func(name, addr string, mut func(*v1beta2.BGPPeerSpec)) *v1beta2.BGPPeer {
		p := &v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: addr}}
		mut(&p.Spec)
		return p
	}
	e.create(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24"}}},
		basicAuth("pw-good", good), basicAuth("pw-long", longSecret), basicAuth("pw-spaced", spaced),
		peer("from-secret", "198.51.100.1", func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "pw-good" }),
		peer("long-secret", "198.51.100.2", func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "pw-long" }),
		peer("spaced-secret", "198.51.100.3", func(s *v1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "pw-spaced" }),
	)
	e.eventually("frr.conf with the Secret's password", func() error {
		if !hasLine(e.conf(), " neighbor 198.51.100.1 password "+good) {
			return fmt.Errorf("no password line in:\n%s", e.conf())
		}
		return nil
	})
	e.waitWarning("long-secret", "spec.passwordSecret")
	e.waitWarning("spaced-secret", "spec.passwordSecret")

	artefacts := map[string]string{"log": logs.String()}
	if !strings.Contains(artefacts["log"], "Wrote routing daemon config") {
		t.Fatalf("the speaker's log was not captured:\n%s", artefacts["log"])
	}
	var evs eventsv1.EventList
	if err := e.c.List(context.Background(), &evs); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Items {
		artefacts["event "+ev.Name] = ev.Note
	}
	var peers v1beta2.BGPPeerList
	if err := e.c.List(context.Background(), &peers); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers.Items {
		b, err := json.Marshal(p.Status)
		if err != nil {
			t.Fatal(err)
		}
		artefacts["status of BGPPeer "+p.Name] = string(b)
	}
	for name, text := range artefacts {
		for _, pw := range []string{good, longSecret, "pw-secret-spaced", "has-space"} {
			if strings.Contains(text, pw) {
				t.Errorf("%s holds the password %q:\n%s", name, pw, text)
			}
		}
	}
}

// startSpeakerLogged is startSpeaker with the manager's logger writing into logs.
func startSpeakerLogged(t *testing.T, fo funcr.Options, logs *logLines) *speakerEnv {
	t.Helper()
	env := testenv.Start(t)
	dir := t.TempDir()
	opts := ctrl.Options{Cache: SpeakerCacheOptions(testenv.Namespace, "node1"), Logger: funcr.New(logs.add, fo)}
	env.StartManager(t, opts, func(mgr ctrl.Manager) error {
		r := &SpeakerBGPReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("routelb-speaker"),
			NodeName: "node1", Namespace: testenv.Namespace, ConfigDir: dir, Daemon: nodeconfig.DaemonFRR}
		return r.SetupWithManager(mgr)
	})
	return &speakerEnv{t: t, c: env.Client, dir: dir}
}
