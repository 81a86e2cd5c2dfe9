package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/netlab"
)

// TestShutdownBGPSendsNotification: what frr-init does on SIGTERM reaches the peer as a
// Cease/Administrative Shutdown NOTIFICATION carrying the message, on every tested FRR line, with
// the default graceful-restart helper mode negotiated (where bgpd alone would only close TCP).
func TestShutdownBGPSendsNotification(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root and FRR in network namespaces")
	}
	netlab.ForEachFRR(t, func(t *testing.T, v *netlab.FRRVersion) {
		lab := netlab.New(t)
		lab.Reserve("203.0.113.0/24")
		rh := lab.AddHost("router", "198.51.100.1/24")
		nh := lab.AddHost("node", "198.51.100.10/24")
		router := lab.StartFRR(rh, "router", "frr defaults traditional\nrouter bgp 64500\n no bgp ebgp-requires-policy\n neighbor 198.51.100.10 remote-as 64512\nexit\n")
		node := lab.StartFRRVersion(v, nh, "node", "frr defaults traditional\nrouter bgp 64512\n no bgp ebgp-requires-policy\n no bgp network import-check\n neighbor 198.51.100.1 remote-as 64500\n address-family ipv4 unicast\n  network 203.0.113.5/32\n exit-address-family\nexit\n")
		waitNeighbor(t, router, func(n peerState) bool { return n.State == "Established" })

		if err := shutdownBGP(node.Vtysh, "routelb test stopping"); err != nil {
			t.Fatal(err)
		}
		n := waitNeighbor(t, router, func(n peerState) bool { return n.State != "Established" })
		if !strings.Contains(n.Reason, "Administrative Shutdown") || n.Description != "routelb test stopping" {
			t.Fatalf("router saw %+v, want Cease/Administrative Shutdown with the message", n)
		}
	})
}

type peerState struct {
	State       string `json:"bgpState"`
	Reason      string `json:"lastNotificationReason"`
	Description string `json:"lastShutdownDescription"`
}

func waitNeighbor(t *testing.T, router *netlab.FRR, ok func(peerState) bool) peerState {
	t.Helper()
	var n peerState
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := router.Vtysh("-c", "show bgp neighbors 198.51.100.10 json")
		var m map[string]peerState
		if err == nil && json.Unmarshal([]byte(out), &m) == nil {
			if n = m["198.51.100.10"]; ok(n) {
				return n
			}
		}
	}
	t.Fatalf("router: neighbor never reached the expected state, last %+v\n%s", n, router.DumpString())
	return n
}
