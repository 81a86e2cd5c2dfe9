package statusview

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the view as indented JSON (`routelb status -o json`).
func WriteJSON(w io.Writer, v View) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteText writes the view as three tables: VIPs, nodes, BGP sessions.
func WriteText(w io.Writer, v View) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(tw, format, a...) }
	p("VIP\tSERVICE\tMODE\tNODE\tANNOUNCED TO / LEASE\n")
	if len(v.VIPs) == 0 {
		p("(none)\n")
	}
	for _, vip := range v.VIPs {
		svc := dash(vip.Service)
		if len(vip.BGP) == 0 && vip.Layer2 == nil {
			p("%s\t%s\t-\t-\tnot announced\n", vip.IP, svc)
		}
		for _, a := range vip.BGP {
			p("%s\t%s\tbgp\t%s\t%s\n", vip.IP, svc, a.Node, peersText(a.Peers))
		}
		if o := vip.Layer2; o != nil {
			p("%s\t%s\tlayer2\t%s\t%s\n", vip.IP, svc, dash(o.Owner), leaseText(o))
		}
	}
	p("\nNODE\tCONFIG\tLAST APPLY\n")
	for _, n := range v.Nodes {
		p("%s\t%s\t%s\n", n.Name, dash(n.Config), applyText(n.LastApply))
	}
	p("\nNODE\tPEER\tADDRESS\tSESSION\tBFD\tSENT\tSINCE\tLAST ERROR\n")
	for _, n := range v.Nodes {
		for _, s := range n.Sessions {
			p("%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.Name, s.Peer, dash(s.Address), s.State, dash(s.BFD),
				s.PrefixesSent, ageText(s.SinceSeconds), dash(oneLine(s.LastError, 60)))
		}
	}
	for _, n := range v.Nodes {
		if n.ConfigErrors != "" {
			p("\n%s: configuration problems:\n%s\n", n.Name, indent(n.ConfigErrors))
		}
	}
	if len(v.Problems) > 0 {
		p("\nunreadable objects:\n%s\n", indent(strings.Join(v.Problems, "\n")))
	}
	return tw.Flush()
}

func peersText(ps []PeerRef) string {
	if len(ps) == 0 {
		return "no peer"
	}
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprintf("%s (%s)", p.Name, cmp.Or(p.State, "no session")))
	}
	return strings.Join(parts, ", ")
}

func leaseText(o *L2Owner) string {
	var parts []string
	switch {
	case o.Owner == "":
		parts = append(parts, "no Lease claims it")
	case o.LeaseAgeSeconds == nil:
		parts = append(parts, "Lease never renewed")
	default:
		s := "Lease renewed " + ageText(o.LeaseAgeSeconds) + " ago"
		if o.LeaseExpired {
			s += " (expired)"
		}
		parts = append(parts, s)
	}
	if o.StatusNode != "" && o.StatusNode != o.Owner {
		parts = append(parts, "ServiceL2Status says "+o.StatusNode)
	}
	if len(o.Interfaces) > 0 {
		parts = append(parts, "on "+strings.Join(o.Interfaces, ","))
	}
	return strings.Join(parts, "; ")
}

func applyText(a *Apply) string {
	if a == nil {
		return "- (no change recorded)"
	}
	return fmt.Sprintf("%s %s ago: %s", a.Reason, ageText(&a.AgeSeconds), oneLine(a.Message, 100))
}

// ageText rounds an age to its largest unit, as kubectl's AGE column does.
func ageText(secs *int64) string {
	if secs == nil {
		return "-"
	}
	d := time.Duration(*secs) * time.Second
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", *secs)
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

func dash(s string) string { return cmp.Or(s, "-") }
