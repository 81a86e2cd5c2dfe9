package charts_test

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// memberlistVolume is the Secret behind the speaker's memberlist volume ("" when none).
func memberlistVolume(spec corev1.PodSpec) string {
	for _, v := range spec.Volumes {
		if v.Name == "memberlist" && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	return ""
}

// TestMemberlist: l2.memberlist.enabled turns --l2-memberlist on with the node IP, mounts the key
// and creates a key Secret unless one is given; off (the default), none of it is there.
func TestMemberlist(t *testing.T) {
	off := rendered(decode(t, render(t)))
	ds := as[appsv1.DaemonSet](t, off.find("DaemonSet", "lb-speaker"))
	spk := container(t, ds.Spec.Template.Spec, "speaker")
	if slices.Contains(spk.Args, "--l2-memberlist") || memberlistVolume(ds.Spec.Template.Spec) != "" ||
		off.find("Secret", "lb-memberlist") != nil {
		t.Fatal("memberlist present though l2.memberlist.enabled is false")
	}

	on := rendered(decode(t, render(t, "--set", "l2.memberlist.enabled=true", "--set", "l2.memberlist.outageLimit=90s")))
	ds = as[appsv1.DaemonSet](t, on.find("DaemonSet", "lb-speaker"))
	spec := ds.Spec.Template.Spec
	spk = container(t, spec, "speaker")
	for _, a := range []string{"--l2-memberlist", "--l2-memberlist-bind-addr=$(NODE_IP)", "--l2-memberlist-port=7946",
		"--l2-outage-limit=90s", "--l2-memberlist-secret-file=/etc/routelb/memberlist/secretkey"} {
		if !slices.Contains(spk.Args, a) {
			t.Errorf("speaker args %v lack %s", spk.Args, a)
		}
	}
	if !slices.ContainsFunc(spk.Env, func(e corev1.EnvVar) bool {
		return e.Name == "NODE_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
	}) {
		t.Error("no NODE_IP from the (host network) pod IP")
	}
	sec := on.find("Secret", "lb-memberlist")
	if sec == nil || mounts(spk)["memberlist"] != "/etc/routelb/memberlist" || memberlistVolume(spec) != sec.GetName() {
		t.Fatalf("memberlist Secret %v not created or not mounted (mounts %v)", sec, mounts(spk))
	}
	if data, _ := sec.Object["data"].(map[string]any); len(data["secretkey"].(string)) < 40 {
		t.Errorf("generated key too short: %v", data)
	}

	own := rendered(decode(t, render(t, "--set", "l2.memberlist.enabled=true", "--set", "l2.memberlist.existingSecret=memberlist")))
	ds = as[appsv1.DaemonSet](t, own.find("DaemonSet", "lb-speaker"))
	if own.find("Secret", "lb-memberlist") != nil || memberlistVolume(ds.Spec.Template.Spec) != "memberlist" {
		t.Error("with existingSecret the chart must mount it and create none")
	}
}
