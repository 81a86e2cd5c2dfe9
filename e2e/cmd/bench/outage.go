package main

import (
	"fmt"
	"time"

	"github.com/routelb/routelb/e2e/lab"
)

// outageRows measures Layer 2 through API server outages (issue 19, lab.L2Outage): routelb's
// speakers with --l2-memberlist, MetalLB's with its memberlist, on the same lab.
func (b *bench) outageRows(im impl) {
	f := lab.L2Outage(b.c, im.speaker, func(format string, args ...any) {
		b.progress("%s: "+format, append([]any{im.name}, args...)...)
	})
	const whole, part = "40 s whole-cluster API outage", "40 s partition of the owner alone from the API"
	b.text(im, whole+": probes (1/s) answered, by node", "owner before: "+f.Owner, probesCell(f.Whole))
	b.text(im, whole+": longest unanswered run", "", gapCell(f.Whole))
	b.text(im, whole+": probes answered twice (by two MACs)", "", twiceCell(f.Whole))
	b.text(im, part+": probes (1/s) answered, by node", "", probesCell(f.OwnerCut))
	b.text(im, part+": longest unanswered run", "", gapCell(f.OwnerCut))
	b.text(im, part+": probes answered twice (by two MACs: split brain)", "", twiceCell(f.OwnerCut))
	b.text(im, "owner after the two cuts", "", f.After)
	const kill = "owner's speaker SIGKILLed 3 s into a 40 s whole-cluster outage"
	b.text(im, kill+": SIGKILL -> first answer by a new owner", "", killCell(f.Kill))
	b.text(im, kill+": probes (0.2 s) answered, by node", "", probesCell(f.Kill.Probes))
	b.text(im, kill+": longest unanswered run", "", gapCell(f.Kill.Probes))
	b.text(im, kill+": probes answered twice (by two MACs)", "", twiceCell(f.Kill.Probes))
}

func (b *bench) text(im impl, what, note, cell string) {
	b.t.add(im.name, what, note, result{text: cell})
}

func probesCell(p lab.ProbeFigures) string {
	return fmt.Sprintf("%d of %d (%s)", p.Answered, p.Sent, p.ByNode())
}

func gapCell(p lab.ProbeFigures) string {
	return fmt.Sprintf("%d probes (%.1f s)", p.Gap, (time.Duration(p.Gap) * p.Interval).Seconds())
}

func twiceCell(p lab.ProbeFigures) string {
	if p.Doubled == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%d)", p.Doubled, p.TwoMACs)
}

func killCell(k lab.KillFigures) string {
	if k.NewOwner == "" {
		return fmt.Sprintf("no other node answered (killed %s)", k.Killed)
	}
	when := fmt.Sprintf("%.1f s before the API server was back", k.Margin.Seconds())
	if !k.BeforeAPI {
		when = fmt.Sprintf("%.1f s after the API server was back", -k.Margin.Seconds())
	}
	return fmt.Sprintf("%s (%s -> %s), %s", dur(k.ToAnswer), k.Killed, k.NewOwner, when)
}
