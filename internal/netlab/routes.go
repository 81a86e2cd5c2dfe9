package netlab

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Route is one kernel route: its destination and the gateways of its nexthops.
type Route struct {
	Dst      string
	Gateways []string
}

// Routes returns the host's kernel routes that an `ip route show` selector picks, e.g.
// ("203.0.113.5/32") for exactly that prefix or ("root", "203.0.113.0/24") for everything inside it.
func (h *Host) Routes(selector ...string) ([]Route, error) {
	args := append([]string{"ip", "-j", "route", "show"}, selector...)
	if len(selector) > 0 && strings.Contains(selector[len(selector)-1], ":") {
		args = append([]string{"ip", "-6", "-j", "route", "show"}, selector...)
	}
	out, err := h.Run(args...)
	if err != nil {
		return nil, err
	}
	var rs []struct {
		Dst      string `json:"dst"`
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		return nil, fmt.Errorf("parsing ip -j route: %w: %s", err, out)
	}
	routes := make([]Route, 0, len(rs))
	for _, r := range rs {
		rt := Route{Dst: r.Dst}
		if r.Gateway != "" {
			rt.Gateways = append(rt.Gateways, r.Gateway)
		}
		for _, nh := range r.Nexthops {
			rt.Gateways = append(rt.Gateways, nh.Gateway)
		}
		routes = append(routes, rt)
	}
	return routes, nil
}

// Gateways returns the gateways of the kernel's routes to dst in the host, sorted, and how many
// routes there are (a multipath route is one route with several nexthops).
func (h *Host) Gateways(dst string) (gateways []string, routes int, err error) {
	rs, err := h.Routes(dst)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range rs {
		gateways = append(gateways, r.Gateways...)
	}
	slices.Sort(gateways)
	return gateways, len(rs), nil
}

// WaitNexthops waits until the host's kernel routes dst through exactly the given gateways, all in
// one route (no route at all when none are given).
func (h *Host) WaitNexthops(dst string, timeout time.Duration, want ...string) {
	h.lab.t.Helper()
	want = slices.Sorted(slices.Values(want))
	h.lab.Eventually(timeout, func() error {
		got, routes, err := h.Gateways(dst)
		if err == nil && (routes > 1 || !slices.Equal(got, want)) {
			err = fmt.Errorf("%s: %d routes to %s via %v, want one via %v", h.Name, routes, dst, got, want)
		}
		return err
	})
}

// WaitDistinctNexthops waits until the host's kernel has one route to dst through n distinct
// gateways. It is for IPv6 routes learnt from BGP, whose gateways are the peers' link-local
// addresses: only their number can be known in advance.
func (h *Host) WaitDistinctNexthops(dst string, timeout time.Duration, n int) {
	h.lab.t.Helper()
	h.lab.Eventually(timeout, func() error {
		got, routes, err := h.Gateways(dst)
		if err == nil && (routes != 1 || len(got) != n || len(slices.Compact(slices.Clone(got))) != n) {
			err = fmt.Errorf("%s: %d routes to %s via %v, want one via %d distinct gateways", h.Name, routes, dst, got, n)
		}
		return err
	})
}

// WaitBFDUp waits until the instance's BFD sessions with every given peer are up.
func (f *FRR) WaitBFDUp(timeout time.Duration, peers ...string) {
	f.lab.t.Helper()
	f.lab.Eventually(timeout, func() error {
		out, err := f.Vtysh("-c", "show bfd peers json")
		if err != nil {
			return err
		}
		var ps []struct {
			Peer   string `json:"peer"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(out), &ps); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		up := map[string]bool{}
		for _, p := range ps {
			up[p.Peer] = p.Status == "up"
		}
		for _, p := range peers {
			if !up[p] {
				return fmt.Errorf("%s: BFD session with %s not up: %s", f.Pathspace, p, out)
			}
		}
		return nil
	})
}

// Neighbor is what the tests read of a BGP neighbour in `show bgp neighbors json`.
type Neighbor struct {
	Established      int    `json:"connectionsEstablished"`
	LastNotification string `json:"lastNotificationReason"`
}

// Neighbors returns the default VRF's BGP neighbours by address, failing the test on error.
func (f *FRR) Neighbors() map[string]Neighbor {
	f.lab.t.Helper()
	out := f.MustVtysh("show bgp neighbors json")
	var ns map[string]Neighbor
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		f.lab.t.Fatalf("netlab: %v: %s", err, out)
	}
	return ns
}

// EstablishedCounts is how many times each BGP session has been established: a session that was
// reset and came back counts one more.
func (f *FRR) EstablishedCounts() map[string]int {
	f.lab.t.Helper()
	counts := map[string]int{}
	for addr, n := range f.Neighbors() {
		counts[addr] = n.Established
	}
	return counts
}
