// Package statusview builds what `routelb status` shows from the objects the speakers and the
// controller write: per VIP the nodes that announce it and to which peers (or, in Layer 2 mode, the
// node whose Lease claims it), and per node the configuration's validity, the routing daemon's last
// apply outcome and each BGP session. It is pure: the command lists the objects, this package only
// reads them, so the view is tested with golden files and no API server.
package statusview

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
	"github.com/routelb/routelb/l2responder/ownership"
)

// The status objects' labels, repeated here because controllers/speaker links controller-runtime,
// which the CLI must not; a test beside the speaker checks they still agree. The Lease's names and
// encoding are l2responder/ownership's own, which links neither.
const (
	LabelNode             = "metallb.io/node"
	LabelServiceName      = "metallb.io/service-name"
	LabelServiceNamespace = "metallb.io/service-namespace"

	LeaseComponentLabel      = ownership.LabelComponent
	LeaseComponentValue      = ownership.ComponentValue
	AnnotationClaims         = ownership.AnnotationClaims
	AnnotationDurationMillis = ownership.AnnotationDurationMillis
)

// ApplyReasons are the reasons of the events the speaker records on its Node when the reloader's
// verdict changes (controllers/speaker/reloaderstatus.go).
var ApplyReasons = []string{"RoutingConfigApplied", "RoutingConfigRefused", "RoutingConfigNotApplied"}

// Input is every object the view reads, as listed from the cluster.
type Input struct {
	Now          time.Time
	Services     []corev1.Service
	BGPStatuses  []v1beta1.ServiceBGPStatus
	L2Statuses   []v1beta1.ServiceL2Status
	Peers        []v1beta2.BGPPeer
	ConfigStates []v1beta1.ConfigurationState
	Leases       []coordinationv1.Lease
	Events       []eventsv1.Event
}

// View is what `routelb status` prints; its JSON is the `-o json` output.
type View struct {
	VIPs  []VIP  `json:"vips"`
	Nodes []Node `json:"nodes"`
	// Problems are objects the view could not read (a Lease with unreadable claims), so a gap in the
	// view is never silent.
	Problems []string `json:"problems,omitempty"`
}

// VIP is one address of a LoadBalancer Service, or one claimed by a node's Lease.
type VIP struct {
	IP string `json:"ip"`
	// Service is namespace/name; empty for a claim no listed Service has.
	Service string      `json:"service,omitempty"`
	BGP     []Announcer `json:"bgp,omitempty"`
	Layer2  *L2Owner    `json:"layer2,omitempty"`
}

// Announcer is a node that announces the VIP, with the peers it is configured to announce it to.
type Announcer struct {
	Node  string    `json:"node"`
	Peers []PeerRef `json:"peers"`
}

// PeerRef is a peer and that node's session with it (empty when the peer reports none).
type PeerRef struct {
	Name  string `json:"name"`
	State string `json:"state,omitempty"`
}

// L2Owner is who answers ARP/NDP for the VIP: the node whose Lease claims it, and what the
// ServiceL2Status says.
type L2Owner struct {
	// Owner is the node whose Lease claims the VIP; empty when no Lease does.
	Owner string `json:"owner,omitempty"`
	// LeaseRenewed is the owner's Lease's last renewal; LeaseAgeSeconds is how long ago that was.
	LeaseRenewed    *time.Time `json:"leaseRenewed,omitempty"`
	LeaseAgeSeconds *int64     `json:"leaseAgeSeconds,omitempty"`
	// LeaseExpired: the renewal is older than the Lease's duration, so the claim no longer holds.
	LeaseExpired bool `json:"leaseExpired,omitempty"`
	// StatusNode is the node the Service's ServiceL2Status names, with its interfaces.
	StatusNode string   `json:"statusNode,omitempty"`
	Interfaces []string `json:"interfaces,omitempty"`
}

// Node is one node's speaker and routing daemon.
type Node struct {
	Name string `json:"name"`
	// Config is the speaker's ConfigurationState result (Valid, Invalid, Unknown); empty without one.
	Config       string `json:"config,omitempty"`
	ConfigErrors string `json:"configErrors,omitempty"`
	// LastApply is the latest reloader outcome: the speaker's RoutingConfigApplied condition or its
	// last event on the Node, whichever is later; nil when neither exists (an older speaker records
	// only changes as events, and a first good apply is not one).
	LastApply *Apply    `json:"lastApply,omitempty"`
	Sessions  []Session `json:"sessions,omitempty"`
}

// Apply is the routing daemon's last apply outcome, from the condition or the event on the Node.
type Apply struct {
	Reason     string    `json:"reason"`
	OK         bool      `json:"ok"`
	Message    string    `json:"message,omitempty"`
	Time       time.Time `json:"time"`
	AgeSeconds int64     `json:"ageSeconds"`
}

// Session is the node's BGP session with a peer, as the node's speaker reports it on the BGPPeer.
type Session struct {
	Peer         string     `json:"peer"`
	Address      string     `json:"address,omitempty"`
	State        string     `json:"state"`
	BFD          string     `json:"bfd,omitempty"`
	PrefixesSent int64      `json:"prefixesSent"`
	LastError    string     `json:"lastError,omitempty"`
	Since        *time.Time `json:"since,omitempty"`
	SinceSeconds *int64     `json:"sinceSeconds,omitempty"`
}

// Build computes the view. It never fails: what it cannot read is listed in Problems.
func Build(in Input) View {
	b := builder{in: in, nodes: map[string]*Node{}}
	b.sessions()
	b.configStates()
	b.applies()
	vips := b.vips()
	v := View{VIPs: vips, Problems: b.problems}
	for _, n := range b.nodes {
		slices.SortFunc(n.Sessions, func(a, b Session) int { return cmp.Compare(a.Peer, b.Peer) })
		v.Nodes = append(v.Nodes, *n)
	}
	slices.SortFunc(v.Nodes, func(a, b Node) int { return cmp.Compare(a.Name, b.Name) })
	if v.VIPs == nil {
		v.VIPs = []VIP{}
	}
	if v.Nodes == nil {
		v.Nodes = []Node{}
	}
	return v
}

type builder struct {
	in       Input
	nodes    map[string]*Node
	problems []string
}

func (b *builder) node(name string) *Node {
	n, ok := b.nodes[name]
	if !ok {
		n = &Node{Name: name}
		b.nodes[name] = n
	}
	return n
}

func (b *builder) age(t time.Time) *int64 {
	s := int64(b.in.Now.Sub(t) / time.Second)
	return &s
}

func (b *builder) sessions() {
	for _, p := range b.in.Peers {
		for _, s := range p.Status.Sessions {
			sess := Session{Peer: p.Name, Address: peerAddress(p), State: s.State, BFD: s.BFDState,
				PrefixesSent: s.PrefixesSent, LastError: s.LastError}
			if !s.LastTransitionTime.IsZero() {
				t := s.LastTransitionTime.UTC()
				sess.Since, sess.SinceSeconds = &t, b.age(t)
			}
			n := b.node(s.Node)
			n.Sessions = append(n.Sessions, sess)
		}
	}
}

func peerAddress(p v1beta2.BGPPeer) string {
	if p.Spec.Address == "" {
		return ""
	}
	if p.Spec.Port != 0 && p.Spec.Port != 179 {
		return net.JoinHostPort(p.Spec.Address, strconv.Itoa(int(p.Spec.Port)))
	}
	return p.Spec.Address
}

func (b *builder) configStates() {
	for _, cs := range b.in.ConfigStates {
		node := cs.Labels[v1beta1.LabelNodeName]
		if cs.Labels[v1beta1.LabelComponentType] != "speaker" || node == "" {
			continue
		}
		n := b.node(node)
		n.Config, n.ConfigErrors = string(cs.Status.Result), strings.TrimSpace(cs.Status.ErrorSummary)
		if c := meta.FindStatusCondition(cs.Status.Conditions, v1beta1.ConditionRoutingConfigApplied); c != nil {
			b.setApply(n, Apply{Reason: conditionApplyReasons[c.Reason], OK: c.Status == metav1.ConditionTrue,
				Message: c.Message, Time: c.LastTransitionTime.UTC()})
		}
	}
}

// conditionApplyReasons names the speaker's RoutingConfigApplied condition reasons as the events
// that record the same verdicts: unlike the events, the condition does not expire.
var conditionApplyReasons = map[string]string{"Applied": ApplyReasons[0], "Refused": ApplyReasons[1],
	"Diverged": ApplyReasons[2], "NotApplied": ApplyReasons[2]}

// setApply keeps the later of n's apply outcome and a.
func (b *builder) setApply(n *Node, a Apply) {
	if n.LastApply != nil && !a.Time.After(n.LastApply.Time) {
		return
	}
	if a.Reason == "" {
		a.Reason = ApplyReasons[2]
	}
	a.AgeSeconds = *b.age(a.Time)
	n.LastApply = &a
}

// applies keeps, per Node, the latest of the speaker's apply events.
func (b *builder) applies() {
	for _, e := range b.in.Events {
		if e.Regarding.Kind != "Node" || !slices.Contains(ApplyReasons, e.Reason) {
			continue
		}
		b.setApply(b.node(e.Regarding.Name), Apply{Reason: e.Reason, OK: e.Reason == ApplyReasons[0], Message: e.Note,
			Time: eventTime(e)})
	}
}

// eventTime is when the event last happened: a repeated event's series is newer than its first time.
func eventTime(e eventsv1.Event) time.Time {
	t := e.EventTime.Time
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	if t.IsZero() {
		t = e.DeprecatedLastTimestamp.Time
	}
	return t.UTC()
}
