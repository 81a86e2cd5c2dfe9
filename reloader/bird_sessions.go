package reloader

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// BIRDSessionReporter writes SessionsFile from BIRD's state, as SessionReporter does from FRR's, so
// the speaker publishes BGPPeer status.sessions whichever daemon runs: `show protocols all` gives
// each BGP protocol's neighbour, state, last error and exported routes, `show bfd sessions` the BFD
// state of each neighbour.
type BIRDSessionReporter struct {
	BIRD     *BIRD
	Dir      string
	Interval time.Duration // 0 = DefaultSessionsInterval
	Log      logr.Logger

	last    []byte
	prev    map[string]Session
	written bool
}

// Run polls until ctx ends.
func (s *BIRDSessionReporter) Run(ctx context.Context) {
	if s.Interval <= 0 {
		s.Interval = DefaultSessionsInterval
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if _, err := s.Poll(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error(err, "Cannot write BGP session state", "dir", s.Dir)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll reads BIRD once and writes SessionsFile if anything changed; it reports whether it wrote.
func (s *BIRDSessionReporter) Poll(ctx context.Context) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Second)
	doc := Sessions{Sessions: []Session{}}
	out, err := s.BIRD.Show(cctx, "show", "protocols", "all")
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		doc.Error = err.Error()
	} else {
		// No BFD protocol is an error reply; sessions then have no BFD state.
		bfd, _ := s.BIRD.Show(cctx, "show", "bfd", "sessions")
		doc.Sessions = BIRDSessions(ParseBIRDProtocols(out), ParseBIRDBFDSessions(bfd), now)
	}
	s.keepSince(doc.Sessions)
	body, err := json.Marshal(doc)
	if err != nil {
		return false, err
	}
	if s.written && bytes.Equal(body, s.last) {
		return false, nil
	}
	doc.Time = now
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return false, err
	}
	if err := writeAtomic(filepath.Join(s.Dir, SessionsFile), append(b, '\n')); err != nil {
		return false, err
	}
	s.last, s.written = body, true
	return true, nil
}

// keepSince keeps a session's Since while it stays on the same side of Established (BIRD's own
// "since" column is only a time of day).
func (s *BIRDSessionReporter) keepSince(ss []Session) {
	next := make(map[string]Session, len(ss))
	for i := range ss {
		k := ss[i].VRF + "|" + ss[i].Neighbor
		if p, ok := s.prev[k]; ok && (p.State == "Established") == (ss[i].State == "Established") {
			ss[i].Since = p.Since
		}
		next[k] = ss[i]
	}
	s.prev = next
}

// BIRDSessions turns BIRD's BGP protocols and BFD sessions into the sessions the speaker reads,
// sorted by VRF and neighbour. BIRD's state names are BGP's, as FRR's are.
func BIRDSessions(protos []BIRDProtocol, bfd []BIRDBFDSession, now time.Time) []Session {
	bfdState := map[string]string{}
	for _, b := range bfd {
		state := strings.ToLower(b.State)
		if state == "admindown" {
			state = "adminDown"
		}
		bfdState[b.Peer] = state
	}
	ss := []Session{}
	for _, p := range protos {
		if p.Neighbor == "" {
			continue
		}
		s := Session{VRF: p.VRF, Neighbor: p.Neighbor, State: p.State, BFDState: bfdState[p.Neighbor],
			LastError: p.LastError, Since: now}
		for _, n := range p.Exported {
			s.PrefixesSent += int64(n)
		}
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b Session) int {
		return cmp.Or(strings.Compare(a.VRF, b.VRF), strings.Compare(a.Neighbor, b.Neighbor))
	})
	return ss
}
