package netlab

import (
	"encoding/json"
	"fmt"
	"time"
)

// Eventually polls cond every 100 ms until it returns nil or timeout passes,
// then fails the test with cond's last error. Bounds are meant to be
// generous: tests assert behaviour, benchmarks measure time.
func (l *Lab) Eventually(timeout time.Duration, cond func() error) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("netlab: condition not met after %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BGPPeers returns the state of each IPv4 unicast neighbour of the default
// VRF (e.g. "Established"), from `show bgp summary json`.
func (f *FRR) BGPPeers() (map[string]string, error) {
	out, err := f.Vtysh("-c", "show bgp ipv4 unicast summary json")
	if err != nil {
		return nil, err
	}
	var sum struct {
		Peers map[string]struct {
			State string `json:"state"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		return nil, fmt.Errorf("parsing bgp summary: %w: %s", err, out)
	}
	states := map[string]string{}
	for p, s := range sum.Peers {
		states[p] = s.State
	}
	return states, nil
}

// WaitEstablished waits until the BGP session with peer is Established.
func (f *FRR) WaitEstablished(peer string, timeout time.Duration) {
	f.lab.t.Helper()
	f.lab.Eventually(timeout, func() error {
		st, err := f.BGPPeers()
		if err != nil {
			return err
		}
		if st[peer] != "Established" {
			return fmt.Errorf("%s: session with %s is %q", f.Pathspace, peer, st[peer])
		}
		return nil
	})
}
