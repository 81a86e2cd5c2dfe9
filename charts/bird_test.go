package charts_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestBIRDSidecar: routingDaemon: bird replaces the FRR sidecar with a BIRD one, which the reloader
// drives in BIRD mode over a shared control socket and config directory, and the speaker renders
// bird.conf; the chart lints clean, and the schema refuses an unknown daemon or a missing image.
func TestBIRDSidecar(t *testing.T) {
	out, err := helm(t, append([]string{"lint", chartDir(), "--strict", "--namespace", namespace, "--kube-version", kubeVersion},
		valuesArgs("testdata/bird.yaml")...)...)
	if err != nil || !bytes.Contains(out, []byte("0 chart(s) failed")) {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	objs := rendered(decode(t, render(t, "-f", "testdata/bird.yaml")))
	ds := as[appsv1.DaemonSet](t, objs.find("DaemonSet", "lb-speaker"))
	spec := ds.Spec.Template.Spec
	if got := strings.Join(containerNames(spec), ","); got != "cp-reloader,bird,reloader,speaker" {
		t.Fatalf("containers %s, want cp-reloader,bird,reloader,speaker", got)
	}
	if objs.find("ConfigMap", "-frr-startup") != nil {
		t.Errorf("the FRR start-up ConfigMap is rendered in BIRD mode")
	}
	bird, rel, spk := container(t, spec, "bird"), container(t, spec, "reloader"), container(t, spec, "speaker")
	checks := []struct {
		what string
		ok   bool
	}{
		{"BIRD image", bird.Image == "registry.example.com/net/bird2:2.0.12" && rel.Image == bird.Image},
		{"BIRD runs the file the reloader writes", strings.Contains(strings.Join(bird.Command, " "), "bird -f -c /etc/bird/bird.conf -s /run/bird/bird.ctl") &&
			slices.Contains(rel.Args, "--bird-config=/etc/bird/bird.conf") && slices.Contains(rel.Args, "--bird-socket=/run/bird/bird.ctl")},
		{"reloader in BIRD mode on the speaker's bird.conf", slices.Contains(rel.Args, "--routing-daemon=bird") && slices.Contains(rel.Args, "--config=/etc/frr-rendered/bird.conf")},
		{"speaker renders bird.conf", slices.Contains(spk.Args, "--routing-daemon=bird") && slices.Contains(spk.Args, "--config-dir=/etc/frr-rendered")},
		{"shared socket and config", mounts(bird)["bird-sockets"] == "/run/bird" && mounts(rel)["bird-sockets"] == "/run/bird" &&
			mounts(bird)["bird-conf"] == "/etc/bird" && mounts(rel)["bird-conf"] == "/etc/bird"},
		{"shared rendered directory", mounts(rel)["frr-rendered"] == "/etc/frr-rendered" && mounts(spk)["frr-rendered"] == "/etc/frr-rendered"},
		{"BIRD resources", bird.Resources.Limits.Memory().String() == "128Mi"},
		{"native sidecars", bird.RestartPolicy != nil && rel.RestartPolicy != nil},
		{"BIRD readiness from its socket", bird.StartupProbe != nil && slices.Contains(bird.StartupProbe.Exec.Command, "/run/bird/bird.ctl")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("BIRD mode: %s", c.what)
		}
	}
	defaults := as[appsv1.DaemonSet](t, rendered(decode(t, render(t))).find("DaemonSet", "lb-speaker"))
	if !slices.Contains(container(t, defaults.Spec.Template.Spec, "speaker").Args, "--routing-daemon=frr") {
		t.Errorf("the default speaker does not say --routing-daemon=frr")
	}

	for _, c := range []struct{ values, want string }{
		{"routingDaemon: gobgp\n", "routingDaemon"},
		{"routingDaemon: bird\n", "repository"},
	} {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(c.values), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := helm(t, "template", release, chartDir(), "--namespace", namespace, "--kube-version", kubeVersion, "-f", f)
		if err == nil || !strings.Contains(err.Error()+string(out), c.want) {
			t.Errorf("helm template accepted %q or did not name %q: %v\n%s", c.values, c.want, err, out)
		}
	}
}
