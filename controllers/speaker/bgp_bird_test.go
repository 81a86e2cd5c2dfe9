package speaker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// TestSpeakerBGPBIRD runs the speaker with nodeconfig.DaemonBIRD against a real API server: it writes
// bird.conf (and no frr.conf), and a field BIRD cannot express (BFD echo mode) is a SpeakerValid=False
// condition and a Warning event on the BFDProfile and on the peer using it, which is left out.
func TestSpeakerBGPBIRD(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts kube-apiserver and etcd")
	}
	e := startSpeaker(t, nodeconfig.DaemonBIRD)
	ctx, dir := context.Background(), e.dir
	ns := testenv.Namespace
	echo := true
	e.create(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}},
		&v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "vips", Namespace: ns},
			Spec: v1beta1.IPAddressPoolSpec{Addresses: []v1beta1.PoolAddress{"203.0.113.0/24"}}},
		&v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: ns}},
		&v1beta1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns}, Spec: v1beta1.BFDProfileSpec{EchoMode: &echo}},
		&v1beta1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "slow", Namespace: ns}, Spec: v1beta1.BFDProfileSpec{DetectMultiplier: ptr.To[uint32](7)}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor-a", Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.1", BFDProfile: "slow"}},
		&v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: "tor-b", Namespace: ns},
			Spec: v1beta2.BGPPeerSpec{MyASN: 64513, ASN: 64512, Address: "198.51.100.2", BFDProfile: "echo"}},
	)
	web := lbSvc("web", corev1.ServiceExternalTrafficPolicyCluster)
	e.create(web, servingSlice("web", "node2"))
	e.setVIP(web, "203.0.113.5")
	e.eventually("bird.conf", func() error {
		b, _ := os.ReadFile(filepath.Join(dir, nodeconfig.BIRDConfigFile))
		c := string(b)
		if !strings.Contains(c, "protocol bgp 'rlb_tor-a' {\n") || !strings.Contains(c, "  route 203.0.113.5/32 blackhole;\n") ||
			!strings.Contains(c, "    multiplier 7;\n") {
			return fmt.Errorf("got:\n%s", c)
		}
		if strings.Contains(c, "rlb_tor-b") {
			return fmt.Errorf("the peer using BFD echo mode is in bird.conf:\n%s", c)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(dir, nodeconfig.FRRConfigFile)); !os.IsNotExist(err) {
		t.Errorf("frr.conf written in BIRD mode: %v", err)
	}
	for _, o := range []struct {
		obj  client.Object
		name string
	}{{&v1beta1.BFDProfile{}, "echo"}, {&v1beta2.BGPPeer{}, "tor-b"}} {
		obj, name := o.obj, o.name
		e.eventually(fmt.Sprintf("SpeakerValid=False on %T %s", obj, name), func() error {
			if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
				return err
			}
			var conds []metav1.Condition
			switch o := obj.(type) {
			case *v1beta1.BFDProfile:
				conds = o.Status.Conditions
			case *v1beta2.BGPPeer:
				conds = o.Status.Conditions
			}
			c := meta.FindStatusCondition(conds, ConditionSpeakerValid)
			if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "BIRD") {
				return fmt.Errorf("condition %+v", c)
			}
			return nil
		})
	}
	e.waitWarning("echo", "echo mode")

	// A running peer's profile is edited to what BIRD cannot express: the last good profile stays,
	// so nothing announced is withdrawn, and the profile says why.
	var slow v1beta1.BFDProfile
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "slow"}, &slow); err != nil {
		t.Fatal(err)
	}
	slow.Spec.EchoMode = &echo
	if err := e.c.Update(ctx, &slow); err != nil {
		t.Fatal(err)
	}
	e.eventually("SpeakerValid=False on BFDProfile slow", func() error {
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "slow"}, &slow); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(slow.Status.Conditions, ConditionSpeakerValid); c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	if b, _ := os.ReadFile(filepath.Join(dir, nodeconfig.BIRDConfigFile)); !strings.Contains(string(b), "protocol bgp 'rlb_tor-a' {\n") ||
		!strings.Contains(string(b), "    multiplier 7;\n") {
		t.Errorf("an edit BIRD cannot express withdrew the peer or changed its BFD:\n%s", b)
	}
}
