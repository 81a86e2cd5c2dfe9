package reloader

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/routelb/routelb/reloader/frr"
)

// bgpd asks bfdd for its BFD sessions through zebra, and replays them when zebra comes back. After
// a zebra restart that replay can be lost (bfdd drops its clients' sessions when it reconnects to
// zebra), leaving bgpd with "BFD: Status: Down" for a session bfdd does not hold: nothing ever
// brings it up again. On FRR 10.2 and 10.3.0 (Debian 13's FRR) bgpd does not even start a
// neighbour whose BFD is down, so the session stays Idle for good and the node announces nothing.
// After a restart the reloader therefore checks that bfdd holds a session for every neighbour the
// target configures with BFD, and registers the missing ones again.

// bfdNeighbor is one neighbour configured with BFD, and the target's lines that configure it.
type bfdNeighbor struct {
	instance string // the router bgp block's header
	vrf      string // as bfdd names it: "default" for the default instance
	id       string // the neighbour's address or interface
	lines    []string
}

// bfdWaitFor bounds the wait for bfdd to hold a re-registered session; bfdRegisterPoll paces it.
const (
	bfdWaitFor      = 3 * time.Second
	bfdRegisterPoll = 100 * time.Millisecond
	// zebraClientsWaitFor bounds the wait for bfdd and bgpd to be zebra's clients again.
	zebraClientsWaitFor = 10 * time.Second
)

// bfdNeighbors lists the neighbours of cfg that have `neighbor ID bfd`, in config order.
func bfdNeighbors(cfg *frr.Block) []bfdNeighbor {
	var out []bfdNeighbor
	for _, b := range cfg.Blocks {
		if !strings.HasPrefix(b.Header, "router bgp ") {
			continue
		}
		vrf := "default"
		if _, name, ok := strings.Cut(b.Header, " vrf "); ok {
			vrf = strings.TrimSpace(name)
		}
		at := map[string]int{}
		for _, l := range b.Lines {
			f := strings.Fields(l)
			if len(f) < 3 || f[0] != "neighbor" || f[2] != "bfd" {
				continue
			}
			i, ok := at[f[1]]
			if !ok {
				i = len(out)
				at[f[1]] = i
				out = append(out, bfdNeighbor{instance: b.Header, vrf: vrf, id: f[1]})
			}
			out[i].lines = append(out[i].lines, strings.TrimSpace(l))
		}
	}
	return out
}

// bfdPeer is one session of `show bfd peers json`; bfdd leaves vrf out of a session without a
// VRF name, which is the default VRF.
type bfdPeer struct {
	Peer      string `json:"peer"`
	Local     string `json:"local"`
	VRF       string `json:"vrf"`
	Interface string `json:"interface"`
	Status    string `json:"status"`
}

// heldIn reports whether bfdd's sessions include one for n: by address, or by interface for an
// unnumbered neighbour.
func (n bfdNeighbor) heldIn(peers []bfdPeer) bool {
	addr, err := netip.ParseAddr(n.id)
	for _, p := range peers {
		vrf := p.VRF
		if vrf == "" {
			vrf = "default"
		}
		if vrf != n.vrf {
			continue
		}
		if err != nil && p.Interface == n.id {
			return true
		}
		if a, perr := netip.ParseAddr(p.Peer); err == nil && perr == nil && a.Unmap() == addr.Unmap() {
			return true
		}
	}
	return false
}

// missingBFD returns the neighbours of want that bfdd holds no session for.
func (a *Applier) missingBFD(ctx context.Context, want []bfdNeighbor) ([]bfdNeighbor, error) {
	out, err := a.FRR.Show(ctx, "show bfd peers json")
	if err != nil {
		return nil, fmt.Errorf("reading bfdd's sessions: %w", err)
	}
	var peers []bfdPeer
	if err := json.Unmarshal([]byte(out), &peers); err != nil {
		return nil, fmt.Errorf("reading bfdd's sessions: %w: %q", err, lastLines(out, 3))
	}
	var missing []bfdNeighbor
	for _, n := range want {
		if !n.heldIn(peers) {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// checkBFD runs after a restart, once the config is in place: every neighbour configured with BFD
// must have its session in bfdd. A missing one is registered again by removing and re-adding the
// neighbour's BFD lines in bgpd (the only way to make bgpd send the registration again; a session
// bfdd does not hold exchanges no packet, so nothing that works is disturbed). Until bfdd holds
// them all the apply is a failure, retried by the reloader. It returns how many neighbours it
// registered again.
func (a *Applier) checkBFD(ctx context.Context, want *frr.Block) (int, error) {
	neighbors := bfdNeighbors(want)
	if len(neighbors) == 0 {
		return 0, nil
	}
	// bfdd drops its clients' sessions when it reconnects to a restarted zebra: checked before
	// that, a session bfdd is about to lose looks held.
	if err := a.waitZebraClients(ctx); err != nil {
		return 0, err
	}
	missing, err := a.missingBFD(ctx, neighbors)
	if err != nil || len(missing) == 0 {
		return 0, err
	}
	ids := make([]string, len(missing))
	for i, n := range missing {
		ids[i] = n.vrf + "/" + n.id
	}
	a.Log.Info("bfdd holds no BFD session for neighbors configured with BFD, registering them again", "neighbors", ids)
	if err := a.reregisterBFD(ctx, missing); err != nil {
		return 0, err
	}
	bfdReregisteredTotal.Add(float64(len(missing)))
	return len(missing), a.waitBFD(ctx, missing)
}

// waitZebraClients waits, zebraClientsWaitFor at most, until zebra lists bfdd and bgpd among its
// clients (`show zebra client summary`, the same lines on FRR 8.4 and 10.x).
func (a *Applier) waitZebraClients(ctx context.Context) error {
	var err error
	ok, cerr := poll(ctx, zebraClientsWaitFor, func() bool {
		var out string
		out, err = a.FRR.Show(ctx, "show zebra client summary")
		return err == nil && zebraHasClients(out, "bfd", "bgp")
	})
	switch {
	case cerr != nil || ok:
		return cerr
	case err != nil:
		return fmt.Errorf("asking zebra for its clients: %w", err)
	}
	return fmt.Errorf("zebra does not list bfdd and bgpd as clients after %s", zebraClientsWaitFor)
}

// zebraHasClients reports whether a `show zebra client summary` lists every one of names (the
// first column; bgpd's second session shows as "bgp[0:1]").
func zebraHasClients(out string, names ...string) bool {
	seen := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			seen[f[0]] = true
		}
	}
	for _, n := range names {
		if !seen[n] {
			return false
		}
	}
	return true
}

// waitBFD waits, bfdWaitFor at most, for bfdd to hold a session for each of ns.
func (a *Applier) waitBFD(ctx context.Context, ns []bfdNeighbor) error {
	var missing []bfdNeighbor
	var err error
	ok, cerr := poll(ctx, bfdWaitFor, func() bool {
		missing, err = a.missingBFD(ctx, ns)
		return err != nil || len(missing) == 0
	})
	switch {
	case cerr != nil:
		return cerr
	case ok:
		return err
	}
	return fmt.Errorf("bfdd holds no BFD session for neighbor %s (vrf %s) %s after registering it again",
		missing[0].id, missing[0].vrf, bfdWaitFor)
}

// poll calls done every bfdRegisterPoll until it returns true, and reports whether it did within d
// (done is called once more at d's end); the error is ctx's, when it ends first.
func poll(ctx context.Context, d time.Duration, done func() bool) (bool, error) {
	deadline := time.Now().Add(d)
	for {
		if done() {
			return true, nil
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(bfdRegisterPoll):
		}
	}
}

// reregisterBFD sends, in one vtysh call, `no neighbor ID bfd` and the target's BFD lines again for
// each neighbour.
func (a *Applier) reregisterBFD(ctx context.Context, ns []bfdNeighbor) error {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "%s\n no neighbor %s bfd\n", n.instance, n.id)
		for _, l := range n.lines {
			fmt.Fprintf(&b, " %s\n", l)
		}
		b.WriteString("exit\n")
	}
	file, err := a.writeScratch("bfd.conf", []byte(b.String()))
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(file) }()
	if err := a.FRR.ApplyFile(ctx, file); err != nil {
		return fmt.Errorf("registering BFD sessions again: %w", err)
	}
	return nil
}

// checkBFDAfter runs checkBFD after a successful apply: commands sent make an unchanged apply an
// applied one, and a failure keeps the checks of a restart for the retry.
func (a *Applier) checkBFDAfter(ctx context.Context, want *frr.Block, outcome string) (string, error) {
	n, err := a.checkBFD(ctx, want)
	if err != nil {
		a.checkOwn = true
		return OutcomeFailed, err
	}
	if n > 0 && outcome == OutcomeUnchanged {
		outcome = OutcomeApplied
	}
	return outcome, nil
}
