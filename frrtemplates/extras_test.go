package frrtemplates_test

import (
	"context"
	"strings"
	"testing"

	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/nodeconfig"
	"github.com/routelb/routelb/internal/templatetest"
	"github.com/routelb/routelb/reloader"
)

const (
	goodExtras = "ip prefix-list extras-demo seq 5 permit 198.51.100.0/24\n"
	badExtras  = "ip prefix-list extras-demo seq 5 permit 198.51.100.0/25\nthis is not an FRR command\n"
)

func renderWithExtras(t *testing.T, extras string) []byte {
	t.Helper()
	in := templatetest.DecodeFile(t, "testdata/basic-ebgp.yaml")
	in.FRRExtras, in.FRRExtrasFrom = extras, "metallb-system/bgpextras"
	return templatetest.MustCompute(t, in, nodeconfig.DaemonFRR).Rendered
}

// TestExtrasAppendedVerbatim: the ConfigMap's extras follow everything routelb renders, unchanged,
// after a marker naming the ConfigMap; without extras there is no marker.
func TestExtrasAppendedVerbatim(t *testing.T) {
	out := string(renderWithExtras(t, strings.TrimSuffix(goodExtras, "\n")))
	want := "!\n" + frrtemplates.ExtrasMarker + "metallb-system/bgpextras\n" + goodExtras
	if !strings.HasSuffix(out, want) {
		t.Errorf("frr.conf does not end with the extras:\n%s", out)
	}
	if plain := string(renderWithExtras(t, "")); strings.Contains(plain, frrtemplates.ExtrasMarker) {
		t.Errorf("no extras, yet a marker:\n%s", plain)
	}
	in := templatetest.DecodeFile(t, "testdata/basic-ebgp.yaml")
	in.FRRExtras, in.FRRExtrasFrom = goodExtras, "metallb-system/bgpextras"
	if bird := templatetest.MustCompute(t, in, nodeconfig.DaemonBIRD).Rendered; strings.Contains(string(bird), "extras-demo") {
		t.Errorf("FRR extras reached bird.conf:\n%s", bird)
	}
}

// TestLabExtrasValidatedBeforeApply runs the reloader against FRR 8.4 and 10.x: good extras are
// applied with routelb's config and FRR runs them; a file whose extras FRR's parser refuses is
// not applied at all (outcome invalid) and FRR keeps running the last good config.
func TestLabExtrasValidatedBeforeApply(t *testing.T) {
	netlab.ForEachFRR(t, testLabExtras)
}

func testLabExtras(t *testing.T, v *netlab.FRRVersion) {
	lab := templatetest.NewLab(t, "root and FRR")
	node := lab.StartFRRVersion(v, lab.AddHost("node1", "198.51.100.11/24"), "node", "")
	a := newApplier(t, node)
	if res := a.Apply(context.Background(), renderWithExtras(t, goodExtras)); res.Outcome != reloader.OutcomeApplied {
		t.Fatalf("good extras: %s, %v %q", res.Outcome, res.Err, res.Diff)
	}
	running := node.MustVtysh("show running-config")
	if !strings.Contains(running, "ip prefix-list extras-demo seq 5 permit 198.51.100.0/24") ||
		!strings.Contains(running, "neighbor 198.51.100.1 remote-as 64512") {
		t.Fatalf("FRR does not run routelb's config and the extras:\n%s", running)
	}
	res := a.Apply(context.Background(), renderWithExtras(t, badExtras))
	if res.Outcome != reloader.OutcomeInvalid {
		t.Fatalf("bad extras: outcome %s, want %s (%v)", res.Outcome, reloader.OutcomeInvalid, res.Err)
	}
	after := node.MustVtysh("show running-config")
	if strings.Contains(after, "198.51.100.0/25") || !strings.Contains(after, "198.51.100.0/24") {
		t.Errorf("a file with bad extras reached FRR:\n%s", after)
	}
}
