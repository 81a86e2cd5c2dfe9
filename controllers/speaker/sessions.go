package speaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/model"
)

// Session states the speaker sets itself when the routing daemon says nothing of a neighbour.
const (
	SessionEstablished = "Established"
	SessionUnknown     = "Unknown"
)

// SpeakerSessions publishes this node's session with each BGPPeer, as the reloader reports it in
// daemonfile.SessionsFile, in the peer's status.sessions: server-side apply of this node's entry only, under a
// field manager of its own, so that every node's speaker owns exactly its entry. Level-driven: every
// Interval it compares what the file and the node's model say with the cached BGPPeers and applies
// only the differences.
type SpeakerSessions struct {
	Client    client.Client
	Recorder  events.EventRecorder
	NodeName  string
	Namespace string
	ConfigDir string
	Interval  time.Duration         // 0 = daemonfile.SessionsInterval, the reloader's pace
	Node      func() *model.NodeBGP // the BGP reconciler's last computed model; nil before the first
	Log       logr.Logger

	states map[string]string // peer -> last State applied, for the events
}

// SetupSpeakerSessions adds the session reporter to the manager, fed by the BGP reconciler's model.
func SetupSpeakerSessions(mgr ctrl.Manager, r *SpeakerBGPReconciler) error {
	return mgr.Add(&SpeakerSessions{Client: mgr.GetClient(), Recorder: r.Recorder, NodeName: r.NodeName,
		Namespace: r.Namespace, ConfigDir: r.ConfigDir, Node: r.lastNode.Load,
		Log: mgr.GetLogger().WithName("speaker-sessions").WithValues("node", r.NodeName)})
}

// NeedLeaderElection is false: every node's speaker reports its own sessions.
func (s *SpeakerSessions) NeedLeaderElection() bool { return false }

// Start polls until ctx ends (manager.Runnable).
func (s *SpeakerSessions) Start(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = daemonfile.SessionsInterval
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error(err, "Cannot publish BGP session state")
		}
	}
}

// FieldManager is the server-side apply manager of one node's entries.
func FieldManager(node string) string {
	m := "routelb-speaker-" + node
	if len(m) <= 128 { // the API server's limit
		return m
	}
	sum := sha256.Sum256([]byte(node))
	return m[:115] + "-" + hex.EncodeToString(sum[:6])
}

// Sync brings this node's entry in every BGPPeer's status in line with the model and the report.
func (s *SpeakerSessions) Sync(ctx context.Context) error {
	node := s.Node()
	if node == nil {
		return nil // the model is not computed yet: nothing is known of which peers this node has
	}
	want, err := s.desired(node)
	if err != nil {
		return err
	}
	var peers v1beta2.BGPPeerList
	if err := s.Client.List(ctx, &peers, client.InNamespace(s.Namespace)); err != nil {
		return fmt.Errorf("listing BGPPeers: %w", err)
	}
	var errs []error
	for i := range peers.Items {
		p := &peers.Items[i]
		cur := s.entry(p)
		w, ok := want[p.Name]
		switch {
		case ok && cur != nil && sameSession(*cur, w):
			s.remember(p, cur.State)
		case ok:
			if cur != nil && cur.State == SessionUnknown && w.State == SessionUnknown {
				w.LastTransitionTime = cur.LastTransitionTime
			}
			if err := s.apply(ctx, p, &w); err != nil {
				errs = append(errs, err)
				continue
			}
			s.event(p, cur, w)
		case cur != nil && want != nil:
			// This node no longer opens the session (with no report, want is nil: nothing is known).
			if err := s.apply(ctx, p, nil); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(s.states, p.Name)
		}
	}
	return errors.Join(errs...)
}

// desired maps each peer this node opens a session with to its entry. Without a report (no
// reloader, or one in BIRD mode) it returns nil: entries are neither set nor removed.
func (s *SpeakerSessions) desired(node *model.NodeBGP) (map[string]v1beta2.BGPSessionStatus, error) {
	rep, err := daemonfile.ReadSessions(s.ConfigDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type key struct{ vrf, neighbor string }
	byKey := map[key]int{}
	for i, ss := range rep.Sessions {
		byKey[key{ss.VRF, ss.Neighbor}] = i
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	want := map[string]v1beta2.BGPSessionStatus{}
	for _, r := range node.Routers {
		for _, n := range r.Neighbors {
			st := v1beta2.BGPSessionStatus{Node: s.NodeName, State: SessionUnknown, LastTransitionTime: now,
				LastError: "the routing daemon does not run this neighbour (its config is not applied yet, or was refused: see reloader-status.json)"}
			if rep.Error != "" {
				st.LastError = "cannot read the routing daemon's state: " + rep.Error
			} else if i, ok := byKey[key{r.VRF, neighborName(n.Peer)}]; ok {
				ss := rep.Sessions[i]
				st = v1beta2.BGPSessionStatus{Node: s.NodeName, State: ss.State, BFDState: ss.BFDState,
					PrefixesSent: ss.PrefixesSent, LastError: ss.LastError, LastTransitionTime: metav1.NewTime(ss.Since)}
			}
			want[n.Peer.Name] = st
		}
	}
	return want, nil
}

// neighborName is how FRR names the neighbour the peer renders: its interface for an unnumbered
// session, else its address.
func neighborName(p *model.Peer) string {
	if p.Interface != "" {
		return p.Interface
	}
	return p.Addr.String()
}

func (s *SpeakerSessions) entry(p *v1beta2.BGPPeer) *v1beta2.BGPSessionStatus {
	for i := range p.Status.Sessions {
		if p.Status.Sessions[i].Node == s.NodeName {
			return &p.Status.Sessions[i]
		}
	}
	return nil
}

func sameSession(a, b v1beta2.BGPSessionStatus) bool {
	if a.State != b.State || a.BFDState != b.BFDState || a.PrefixesSent != b.PrefixesSent || a.LastError != b.LastError {
		return false
	}
	// An Unknown state's time is when the speaker first said so.
	return a.State == SessionUnknown || a.LastTransitionTime.Unix() == b.LastTransitionTime.Unix()
}

// apply sets this node's entry (or removes it, with e nil) by server-side apply on the status
// subresource: the applied object holds only that entry, so other nodes' entries and the
// conditions are left alone.
func (s *SpeakerSessions) apply(ctx context.Context, p *v1beta2.BGPPeer, e *v1beta2.BGPSessionStatus) error {
	status := map[string]any{}
	if e != nil {
		m := map[string]any{"node": e.Node, "state": e.State}
		if e.BFDState != "" {
			m["bfdState"] = e.BFDState
		}
		if e.PrefixesSent != 0 {
			m["prefixesSent"] = e.PrefixesSent
		}
		if e.LastError != "" {
			m["lastError"] = truncate(e.LastError, 1024)
		}
		if !e.LastTransitionTime.IsZero() {
			m["lastTransitionTime"] = e.LastTransitionTime.UTC().Format(time.RFC3339)
		}
		status["sessions"] = []any{m}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1beta2.GroupVersion.String(), "kind": "BGPPeer",
		"metadata": map[string]any{"name": p.Name, "namespace": p.Namespace},
		"status":   status,
	}}
	err := s.Client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(FieldManager(s.NodeName)), client.ForceOwnership)
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("applying node %s's session on BGPPeer %s: %w", s.NodeName, p.Name, err)
	}
	if e == nil {
		s.Log.Info("Removed BGP session state", "peer", p.Name)
	} else {
		s.Log.V(1).Info("Published BGP session state", "peer", p.Name, "state", e.State, "lastError", e.LastError)
	}
	return nil
}

// remember records the state already published (after a restart, from the API), so transitions
// are reported once.
func (s *SpeakerSessions) remember(p *v1beta2.BGPPeer, state string) {
	if s.states == nil {
		s.states = map[string]string{}
	}
	if _, ok := s.states[p.Name]; !ok {
		s.states[p.Name] = state
	}
}

// event reports a session leaving Established (Warning) and reaching it (Normal) on the peer.
func (s *SpeakerSessions) event(p *v1beta2.BGPPeer, cur *v1beta2.BGPSessionStatus, w v1beta2.BGPSessionStatus) {
	if cur != nil {
		s.remember(p, cur.State)
	}
	if s.states == nil {
		s.states = map[string]string{}
	}
	prev, known := s.states[p.Name]
	s.states[p.Name] = w.State
	if s.Recorder == nil || !known || prev == w.State {
		return
	}
	switch {
	case prev == SessionEstablished:
		s.Log.Info("BGP session down", "peer", p.Name, "state", w.State, "lastError", w.LastError)
		s.Recorder.Eventf(p, nil, corev1.EventTypeWarning, "SessionDown", "BGPSession",
			"node %s: session with %s is %s: %s", s.NodeName, p.Name, w.State, truncate(w.LastError, 512))
	case w.State == SessionEstablished:
		s.Log.Info("BGP session established", "peer", p.Name)
		s.Recorder.Eventf(p, nil, corev1.EventTypeNormal, "SessionEstablished", "BGPSession",
			"node %s: session with %s is Established", s.NodeName, p.Name)
	}
}
