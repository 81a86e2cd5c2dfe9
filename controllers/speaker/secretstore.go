package speaker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/controllers"
)

// DefaultSecretRefresh is how often the speaker reads the BGPPeers' Secrets again: the longest a
// rotated password takes to reach frr.conf unless the BGPPeer is edited too. One get per named Secret
// and node per period.
const DefaultSecretRefresh = time.Minute

// SecretStore holds the Secrets the BGPPeers name, read one at a time with get.
//
// Why not a cache: an informer lists and watches, and RBAC can tie list and watch to names only
// through resourceNames, which the chart knows only when the operator gives them
// (speaker.bgpPasswordSecrets). Without them, an informer on Secrets (even one per name, with a
// metadata.name field selector) needs list and watch on every Secret of the namespace, so a
// compromised speaker could dump them all; with get alone it can read only a name it guesses.
// Without a watch, a change is learned by reading again:
//   - a name is read when a reconcile first needs it, and kept;
//   - a BGPPeer event forgets the names the peer had and has (Forget), so editing a peer reads its
//     Secret at once;
//   - every Refresh each name the BGPPeers give is read again, and a change (another
//     resourceVersion, a creation, a deletion) wakes the subscribed reconcilers: they recompute
//     from the store, so the path stays level-driven.
//
// A get refused by RBAC (a name outside speaker.bgpPasswordSecrets) counts as a missing Secret, so
// one such peer waits instead of freezing the node's config, and a Warning event on each BGPPeer
// naming it says why.
type SecretStore struct {
	reader    client.Reader // live reads
	peers     client.Reader // the cache, for the BGPPeers
	namespace string
	refresh   time.Duration
	recorder  events.EventRecorder
	log       logr.Logger

	mu        sync.Mutex
	known     map[string]*corev1.Secret // nil value: absent or refused
	refused   map[string]bool           // refused names already reported by an event
	listeners []chan event.GenericEvent
}

// NewSecretStore returns a store for the Secrets of namespace and adds its refresh loop to mgr.
// refresh 0 is DefaultSecretRefresh.
func NewSecretStore(mgr ctrl.Manager, namespace string, refresh time.Duration) (*SecretStore, error) {
	if refresh <= 0 {
		refresh = DefaultSecretRefresh
	}
	s := &SecretStore{reader: mgr.GetAPIReader(), peers: mgr.GetClient(), namespace: namespace, refresh: refresh,
		recorder: mgr.GetEventRecorder("routelb-speaker"), log: mgr.GetLogger().WithName("secrets"),
		known: map[string]*corev1.Secret{}, refused: map[string]bool{}}
	return s, mgr.Add(s)
}

// Subscribe returns a channel that receives an event after a named Secret changed (for source.Channel).
func (s *SecretStore) Subscribe() <-chan event.GenericEvent {
	ch := make(chan event.GenericEvent, 1)
	s.mu.Lock()
	s.listeners = append(s.listeners, ch)
	s.mu.Unlock()
	return ch
}

// Get fills out with the named Secret, read on first use; NotFound when it is absent or refused.
func (s *SecretStore) Get(ctx context.Context, name string, out *corev1.Secret) error {
	s.mu.Lock()
	sec, ok := s.known[name]
	s.mu.Unlock()
	if !ok {
		var refused bool
		var err error
		if sec, refused, err = s.read(ctx, name); err != nil {
			return err
		}
		s.reportRefusedNow(ctx, name, refused)
		s.mu.Lock()
		s.known[name] = sec
		s.mu.Unlock()
	}
	if sec == nil {
		return apierrors.NewNotFound(corev1.Resource("secrets"), name)
	}
	sec.DeepCopyInto(out)
	return nil
}

// Forget drops names, so the next Get reads them from the API server.
func (s *SecretStore) Forget(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		delete(s.known, n)
	}
}

// read gets one Secret; nil for one that does not exist or that RBAC refuses (refused true).
func (s *SecretStore) read(ctx context.Context, name string) (sec *corev1.Secret, refused bool, err error) {
	sec = &corev1.Secret{}
	// client-go logs request and response bodies at verbosity 8 through the context's logger, and
	// a Secret's body is its password: no logger for this read.
	ctx = logr.NewContext(ctx, logr.Discard())
	err = s.reader.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case apierrors.IsForbidden(err):
		return nil, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("getting secret %s/%s: %w", s.namespace, name, err)
	}
	return sec, false, nil
}

// Start reads the named Secrets at once (so a refused one is reported without waiting), then
// again every refresh, jittered so the speakers of a cluster spread their reads, until ctx ends.
func (s *SecretStore) Start(ctx context.Context) error {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.V(1).Info("Cannot read the BGPPeers' Secrets again, retrying at the next refresh", "error", err.Error())
		}
		wait = s.refresh + time.Duration(rand.Int64N(int64(s.refresh/10)+1))
	}
}

// NeedLeaderElection: every speaker reads for its own node.
func (s *SecretStore) NeedLeaderElection() bool { return false }

// Refresh reads every Secret the BGPPeers name, drops the others, and wakes the listeners if one
// changed since it was last read. A name that cannot be read now keeps what was read before.
func (s *SecretStore) Refresh(ctx context.Context) error {
	var peers v1beta2.BGPPeerList
	if err := s.peers.List(ctx, &peers, client.InNamespace(s.namespace)); err != nil {
		return fmt.Errorf("listing bgppeers: %w", err)
	}
	names := controllers.SecretNames(peers.Items)
	fresh := make(map[string]*corev1.Secret, len(names))
	var errs []error
	for _, n := range names {
		sec, refused, err := s.read(ctx, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fresh[n] = sec
		s.reportRefused(peers.Items, n, refused)
	}
	s.mu.Lock()
	for n := range s.known {
		if !slices.Contains(names, n) {
			delete(s.known, n)
		}
	}
	changed := false
	for n, sec := range fresh {
		if old, ok := s.known[n]; ok && version(old) != version(sec) {
			changed = true
		}
		s.known[n] = sec
	}
	listeners := s.listeners
	s.mu.Unlock()
	if changed {
		for _, ch := range listeners {
			select {
			case ch <- event.GenericEvent{Object: &corev1.Secret{}}:
			default: // a wake-up is already pending
			}
		}
	}
	return errors.Join(errs...)
}

func version(s *corev1.Secret) string {
	if s == nil {
		return ""
	}
	return s.ResourceVersion
}

// reportRefusedNow reports a name first read outside Refresh (a new or edited BGPPeer), so its
// Warning event comes at once and not up to a refresh period later.
func (s *SecretStore) reportRefusedNow(ctx context.Context, n string, refused bool) {
	var peers v1beta2.BGPPeerList
	if refused {
		if err := s.peers.List(ctx, &peers, client.InNamespace(s.namespace)); err != nil {
			s.log.V(1).Info("Cannot list the BGPPeers to report a refused Secret; the next refresh will", "secret", n, "error", err.Error())
			return
		}
	}
	s.reportRefused(peers.Items, n, refused)
}

// reportRefused sends a Warning event on each BGPPeer naming n when RBAC starts refusing it, once
// until it is readable again.
func (s *SecretStore) reportRefused(peers []v1beta2.BGPPeer, n string, refused bool) {
	s.mu.Lock()
	news := s.refused[n] != refused
	if refused {
		s.refused[n] = true
	} else {
		delete(s.refused, n)
	}
	s.mu.Unlock()
	if !news || !refused {
		return
	}
	s.log.Info("The speaker may not read a Secret a BGPPeer names; the peer waits for it", "secret", n)
	for i := range peers {
		if peers[i].Spec.PasswordSecret.Name == n {
			s.recorder.Eventf(&peers[i], nil, corev1.EventTypeWarning, "PasswordSecretForbidden", "ReadPasswordSecret",
				"the speaker may not get Secret %q (spec.passwordSecret): add it to the chart value speaker.bgpPasswordSecrets", n)
		}
	}
}
