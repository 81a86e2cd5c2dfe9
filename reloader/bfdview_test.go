package reloader

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/routelb/routelb/reloader/frr"
)

const bfdTarget = `router bgp 64513
 neighbor 198.51.100.1 remote-as 64512
 neighbor 198.51.100.1 bfd
 neighbor 198.51.100.1 bfd profile fast
 neighbor 198.51.100.2 remote-as 64512
 neighbor 2001:db8::1 remote-as 64512
 neighbor 2001:db8::1 bfd
 neighbor eth1 interface remote-as external
 neighbor eth1 bfd
 neighbor eth1 bfd profile fast
exit
router bgp 64513 vrf red
 neighbor 198.51.100.1 remote-as 64512
 neighbor 198.51.100.1 bfd
exit
`

func TestBFDNeighbors(t *testing.T) {
	got := fmt.Sprint(bfdNeighbors(frr.Parse(bfdTarget)))
	want := fmt.Sprint([]bfdNeighbor{
		{"router bgp 64513", "default", "198.51.100.1", []string{"neighbor 198.51.100.1 bfd", "neighbor 198.51.100.1 bfd profile fast"}},
		{"router bgp 64513", "default", "2001:db8::1", []string{"neighbor 2001:db8::1 bfd"}},
		{"router bgp 64513", "default", "eth1", []string{"neighbor eth1 bfd", "neighbor eth1 bfd profile fast"}},
		{"router bgp 64513 vrf red", "red", "198.51.100.1", []string{"neighbor 198.51.100.1 bfd"}},
	})
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestBFDHeldIn matches bgpd's neighbours with bfdd's sessions as `show bfd peers json` prints
// them: by address and VRF, by interface for an unnumbered neighbour.
func TestBFDHeldIn(t *testing.T) {
	var peers []bfdPeer
	if err := json.Unmarshal([]byte(`[
 {"multihop":false,"peer":"198.51.100.1","local":"198.51.100.11","vrf":"default","interface":"eth0","status":"up"},
 {"multihop":false,"peer":"2001:db8:0::1","vrf":"default","status":"down"},
 {"multihop":false,"peer":"fe80::1","vrf":"default","interface":"eth1","status":"up"}]`), &peers); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    bfdNeighbor
		held bool
	}{
		{bfdNeighbor{vrf: "default", id: "198.51.100.1"}, true},
		{bfdNeighbor{vrf: "red", id: "198.51.100.1"}, false},
		{bfdNeighbor{vrf: "default", id: "198.51.100.2"}, false},
		{bfdNeighbor{vrf: "default", id: "2001:db8::1"}, true},
		{bfdNeighbor{vrf: "default", id: "eth1"}, true},
		{bfdNeighbor{vrf: "default", id: "eth2"}, false},
	} {
		if got := tc.n.heldIn(peers); got != tc.held {
			t.Errorf("%s/%s: held %v, want %v", tc.n.vrf, tc.n.id, got, tc.held)
		}
	}
	if (bfdNeighbor{vrf: "default", id: "198.51.100.1"}).heldIn([]bfdPeer{{Peer: "198.51.100.1"}}) != true {
		t.Error("a session without a vrf name is in the default VRF")
	}
}

// TestZebraHasClients reads `show zebra client summary` as FRR 8.4 and 10.x print it.
func TestZebraHasClients(t *testing.T) {
	out := `Name    Connect Time    Last Read  Last Write  IPv4 Routes       IPv6 Routes
------------------------------------------------------------------------------------------
bgp           00:00:05     00:00:05    00:00:05          0/0                0/0
bgp[0:1]      00:00:05     00:00:05    00:00:05          0/0                0/0
static        00:00:05     00:00:05    00:00:05          0/0                0/0

Routes column shows (added+updated)/deleted
`
	if zebraHasClients(out, "bfd", "bgp") {
		t.Error("bfd is not connected yet")
	}
	if !zebraHasClients(out+"bfd           00:00:01     00:00:01    00:00:01          0/0                0/0\n", "bfd", "bgp") {
		t.Error("bfd and bgp are both listed")
	}
}
