package frrtemplates_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/templatetest"
	"github.com/routelb/routelb/reloader/frr"
)

// TestGoldenRunsInFRR loads golden files into a real FRR (8.4 and 10.x) and checks that FRR's running config
// equals the file under the reloader's semantic comparison: FRR accepts every line (not only parses
// it), and the reloader will see no drift right after applying what the speaker wrote.
func TestGoldenRunsInFRR(t *testing.T) {
	netlab.ForEachFRR(t, testGoldenRunsInFRR)
}

func testGoldenRunsInFRR(t *testing.T, v *netlab.FRRVersion) {
	lab := templatetest.NewLab(t, "root and FRR")
	host := lab.AddHost("node1", "198.51.100.11/24", "2001:db8::11/64")
	// The unnumbered golden refers to eth1. (This kernel has no VRF devices; bgpd keeps the VRF
	// golden's instance configured, inactive, which is what is compared.)
	host.MustRun("ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1-peer")
	host.MustRun("ip", "link", "set", "eth1", "up")
	cases, err := filepath.Glob("testdata/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, golden := range cases {
		name := strings.TrimSuffix(filepath.Base(golden), ".conf")
		t.Run(name, func(t *testing.T) {
			conf, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			f := lab.StartFRRVersion(v, host, "n", string(conf))
			defer f.Stop()
			running := f.MustVtysh("show running-config")
			rules := frr.RulesFor(frr.ParseVersion(f.MustVtysh("show version")))
			if d := rules.Compare(frr.Parse(string(conf)), frr.Parse(running)); len(d) > 0 {
				t.Errorf("FRR's running config differs from %s (+ only in the file, - only in FRR):\n%s\nrunning:\n%s",
					golden, strings.Join(d, "\n"), running)
			}
		})
	}
}
