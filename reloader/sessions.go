package reloader

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/routelb/routelb/internal/daemonfile"
)

// SessionReporter polls the daemon's neighbour state and rewrites daemonfile.SessionsFile when it changed.
type SessionReporter struct {
	FRR *FRR
	// Read, when set, reads the sessions instead of FRR (BIRDSessions does for BIRD).
	Read     func(ctx context.Context, now time.Time) ([]daemonfile.Session, error)
	Dir      string
	Interval time.Duration // 0 = daemonfile.SessionsInterval
	Log      logr.Logger

	last    []byte                        // sessions last written, without the time
	prev    map[string]daemonfile.Session // by VRF and neighbour, as last read
	written bool
}

// Run polls until ctx ends.
func (s *SessionReporter) Run(ctx context.Context) {
	if s.Interval <= 0 {
		s.Interval = daemonfile.SessionsInterval
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

// Poll reads FRR once and writes daemonfile.SessionsFile if anything changed; it reports whether it wrote.
func (s *SessionReporter) Poll(ctx context.Context) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Second)
	doc := daemonfile.Sessions{Sessions: []daemonfile.Session{}}
	read := s.Read
	if read == nil {
		read = s.readFRR
	}
	sessions, err := read(cctx, now)
	if err == nil {
		doc.Sessions = sessions
	} else {
		if ctx.Err() != nil {
			return false, nil
		}
		doc.Error = err.Error()
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
	if err := daemonfile.WriteFile(filepath.Join(s.Dir, daemonfile.SessionsFile), append(b, '\n')); err != nil {
		return false, err
	}
	s.last, s.written = body, true
	return true, nil
}

func (s *SessionReporter) readFRR(ctx context.Context, now time.Time) ([]daemonfile.Session, error) {
	out, err := s.FRR.Show(ctx, "show bgp vrf all neighbors json")
	if err != nil {
		return nil, err
	}
	return ParseNeighbors([]byte(out), now)
}

// keepSince keeps a session's Since while it stays on the same side of Established: a refused
// session cycles through Idle, Connect, Active and OpenSent every few seconds, which is no news, and
// FRR's up-time epoch, computed from two clocks, can move by a second between reads.
func (s *SessionReporter) keepSince(ss []daemonfile.Session) {
	next := make(map[string]daemonfile.Session, len(ss))
	for i := range ss {
		k := ss[i].VRF + "|" + ss[i].Neighbor
		if p, ok := s.prev[k]; ok && (p.State == "Established") == (ss[i].State == "Established") {
			ss[i].Since = p.Since
		}
		next[k] = ss[i]
	}
	s.prev = next
}

// frrNeighbor is the part of one neighbour in `show bgp vrf all neighbors json` that is reported.
type frrNeighbor struct {
	BGPState           string `json:"bgpState"`
	RemoteAS           int64  `json:"remoteAs"`
	UpEpoch            int64  `json:"bgpTimerUpEstablishedEpoch"`
	LastResetMsecs     int64  `json:"lastResetTimerMsecs"`
	LastErrorCode      string `json:"lastErrorCodeSubcode"`
	LastNotification   string `json:"lastNotificationReason"`
	LastResetDueTo     string `json:"lastResetDueTo"`
	ConnectionsDropped int64  `json:"connectionsDropped"`
	AddressFamilyInfo  map[string]struct {
		SentPrefixCounter int64 `json:"sentPrefixCounter"`
	} `json:"addressFamilyInfo"`
	PeerBFDInfo *struct {
		Status string `json:"status"`
	} `json:"peerBfdInfo"`
}

// ParseNeighbors reads FRR 8.4's `show bgp vrf all neighbors json` (vrf -> neighbour -> state,
// beside the VRF's own vrfId and vrfName), sorted by VRF and neighbour.
func ParseNeighbors(out []byte, now time.Time) ([]daemonfile.Session, error) {
	var vrfs map[string]map[string]json.RawMessage
	if err := json.Unmarshal(out, &vrfs); err != nil {
		return nil, fmt.Errorf("parsing show bgp vrf all neighbors json: %w", err)
	}
	ss := []daemonfile.Session{}
	for vrf, fields := range vrfs {
		if vrf == "default" {
			vrf = ""
		}
		for name, raw := range fields {
			if len(raw) == 0 || raw[0] != '{' {
				continue // vrfId, vrfName
			}
			var n frrNeighbor
			if err := json.Unmarshal(raw, &n); err != nil {
				return nil, fmt.Errorf("parsing neighbour %s: %w", name, err)
			}
			if n.BGPState == "" {
				continue
			}
			ss = append(ss, n.session(vrf, name, now))
		}
	}
	slices.SortFunc(ss, func(a, b daemonfile.Session) int {
		return cmp.Or(strings.Compare(a.VRF, b.VRF), strings.Compare(a.Neighbor, b.Neighbor))
	})
	return ss, nil
}

func (n *frrNeighbor) session(vrf, name string, now time.Time) daemonfile.Session {
	s := daemonfile.Session{VRF: vrf, Neighbor: name, State: n.BGPState, LastError: n.lastError(), Since: now}
	for _, af := range n.AddressFamilyInfo {
		s.PrefixesSent += af.SentPrefixCounter
	}
	if n.PeerBFDInfo != nil {
		s.BFDState = bfdState(n.PeerBFDInfo.Status)
	}
	switch {
	case n.BGPState == "Established" && n.UpEpoch > 0:
		s.Since = time.Unix(n.UpEpoch, 0).UTC()
	case n.BGPState != "Established" && n.ConnectionsDropped > 0 && n.LastResetMsecs > 0:
		// Down after having been up: since the last reset.
		s.Since = now.Add(-time.Duration(n.LastResetMsecs) * time.Millisecond).Truncate(time.Second)
	}
	return s
}

// lastError says why the session last went down or was refused, as `show bgp neighbors` does:
// the notification and who sent it, else FRR's reset reason.
func (n *frrNeighbor) lastError() string {
	if n.LastNotification == "" {
		return n.LastResetDueTo
	}
	e := n.LastNotification
	switch n.LastResetDueTo {
	case "BGP Notification send":
		e += " (notification sent)"
	case "BGP Notification received":
		e += " (notification received)"
	}
	if n.LastErrorCode == "0202" && n.LastResetDueTo == "BGP Notification send" {
		// OPEN Message Error/Bad Peer AS: the peer's OPEN did not carry the configured AS.
		e += fmt.Sprintf(": the peer's AS is not the configured %d", n.RemoteAS)
	}
	return e
}

// bfdState spells bgpd's BFD status ("Up", "Down", "Admin Down", "Unknown") the way
// `show bfd peers` does.
func bfdState(s string) string {
	if s == "Admin Down" {
		return "adminDown"
	}
	return strings.ToLower(s)
}
