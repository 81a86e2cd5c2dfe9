package reloader

import (
	"context"
	"fmt"
	"strings"
)

// bgpdOwn are the top-level entries of a config that bgpd holds: vtysh's combined running config
// merges the copies other daemons keep of shared definitions (zebra has its own route-maps and
// prefix lists), so a restarted bgpd that lacks them still looks complete there and then sends
// nothing. Its own view (`vtysh -d bgpd`) is checked after any restart, retry or drift check.
var bgpdOwn = struct{ blocks, lines []string }{
	blocks: []string{"router bgp ", "route-map "},
	lines:  []string{"bgp ", "ip prefix-list ", "ipv6 prefix-list "},
}

// bgpdPart keeps the entries of cfg that bgpd holds.
func bgpdPart(cfg *Block) *Block {
	part := &Block{}
	for _, l := range cfg.Lines {
		if hasPrefix(l, bgpdOwn.lines) {
			part.Lines = append(part.Lines, l)
		}
	}
	for _, b := range cfg.Blocks {
		if hasPrefix(b.Header, bgpdOwn.blocks) {
			part.Blocks = append(part.Blocks, b)
		}
	}
	return part
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// bgpdDiff compares bgpd's own running config with bgpd's part of the target.
func (a *Applier) bgpdDiff(ctx context.Context, want *Block) ([]string, error) {
	running, err := a.FRR.DaemonRunning(ctx, "bgpd")
	if err != nil {
		return nil, fmt.Errorf("reading bgpd's running config: %w", err)
	}
	return a.Rules().Compare(bgpdPart(want), bgpdPart(Parse(running))), nil
}

// checkOwnView runs after a successful apply that followed Forget: when bgpd lacks part of the
// target that the combined view shows (it restarted), the whole target is sent again (every
// line, so bgpd gets the definitions other daemons still had) and both views are checked. Until
// bgpd's own view matches, the apply is a failure, retried by the reloader.
func (a *Applier) checkOwnView(ctx context.Context, target []byte, want *Block, outcome string, res *Result) (string, error) {
	diff, err := a.bgpdDiff(ctx, want)
	if err != nil || len(diff) == 0 {
		if err == nil {
			a.checkOwn = false
		}
		return outcomeOr(outcome, err), err
	}
	a.Log.Info("bgpd lacks part of the config that vtysh's combined view shows, sending the whole config again", "lines", len(diff))
	file, err := a.writeScratch("target.conf", target)
	if err != nil {
		return OutcomeFailed, err
	}
	if err := a.FRR.ApplyFile(ctx, file); err != nil {
		a.Log.Info("vtysh reported errors while sending the whole config", "error", Scrub(err.Error(), Secrets(target)))
	}
	if err := a.verify(ctx, want, res); err != nil {
		return OutcomeFailed, err
	}
	if diff, err = a.bgpdDiff(ctx, want); err != nil {
		return OutcomeFailed, err
	}
	if len(diff) > 0 {
		res.Diff = diff
		return OutcomeFailed, fmt.Errorf("bgpd's own running config differs from the target in %d lines, first %q", len(diff), diff[0])
	}
	a.checkOwn = false
	return OutcomeApplied, nil
}

func outcomeOr(outcome string, err error) string {
	if err != nil {
		return OutcomeFailed
	}
	return outcome
}
