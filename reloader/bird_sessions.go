package reloader

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/routelb/routelb/internal/daemonfile"
)

// ReadBIRDSessions is SessionReporter.Read for BIRD, so the speaker publishes BGPPeer status.sessions
// whichever daemon runs: `show protocols all` gives each BGP protocol's neighbour, state, last error
// and exported routes, `show bfd sessions` the BFD state of each neighbour.
func ReadBIRDSessions(b *BIRD) func(ctx context.Context, now time.Time) ([]daemonfile.Session, error) {
	return func(ctx context.Context, now time.Time) ([]daemonfile.Session, error) {
		out, err := b.Show(ctx, "show", "protocols", "all")
		if err != nil {
			return nil, err
		}
		// No BFD protocol is an error reply; sessions then have no BFD state.
		bfd, _ := b.Show(ctx, "show", "bfd", "sessions")
		return BIRDSessions(ParseBIRDProtocols(out), ParseBIRDBFDSessions(bfd), now), nil
	}
}

// BIRDSessions turns BIRD's BGP protocols and BFD sessions into the sessions the speaker reads,
// sorted by VRF and neighbour. BIRD's state names are BGP's, as FRR's are.
func BIRDSessions(protos []BIRDProtocol, bfd []BIRDBFDSession, now time.Time) []daemonfile.Session {
	bfdState := map[string]string{}
	for _, b := range bfd {
		state := strings.ToLower(b.State)
		if state == "admindown" {
			state = "adminDown"
		}
		bfdState[b.Peer] = state
	}
	ss := []daemonfile.Session{}
	for _, p := range protos {
		if p.Neighbor == "" {
			continue
		}
		s := daemonfile.Session{VRF: p.VRF, Neighbor: p.Neighbor, State: p.State, BFDState: bfdState[p.Neighbor],
			LastError: p.LastError, Since: now}
		for _, n := range p.Exported {
			s.PrefixesSent += int64(n)
		}
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b daemonfile.Session) int {
		return cmp.Or(strings.Compare(a.VRF, b.VRF), strings.Compare(a.Neighbor, b.Neighbor))
	})
	return ss
}
