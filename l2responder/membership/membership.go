// Package membership is the speaker-to-speaker evidence Layer 2 ownership uses while the API
// server cannot be reached (docs/layer2.md, "Through an API server outage"). It runs a
// hashicorp/memberlist cluster on the node network for membership and for gossiping each member's
// run (one speaker process), and on top of it a heartbeat/ack exchange with every member:
//
//   - Acking a heartbeat of run r received at t is a promise not to fence r's Lease by the LAN rule
//     before t+Hold. A run this node has convicted (decided to fence) is acked no more.
//   - A heartbeat of ours sent at q and acked by run s gives us that promise until q+Hold.
//
// The package only keeps these facts; the ownership engine decides with them.
package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Membership.
type Config struct {
	Node string // memberlist name: the Kubernetes node name
	Run  string // this speaker run: the ownership engine's incarnation
	// BindAddr/BindPort are where memberlist listens (UDP and TCP); AdvertiseAddr, when set, is the
	// address the others reach us at (the node IP).
	BindAddr      string
	BindPort      int
	AdvertiseAddr string
	// Join lists members to contact at start ("host:port"); any one alive is enough.
	Join []string
	// SecretKey encrypts and authenticates all traffic (16, 24 or 32 bytes); nil sends clear text.
	SecretKey []byte
	Hold      time.Duration // promise length (default 1.5 s)
	// Window is how long after last hearing a run it may still be fenced by the LAN rule (F1): the
	// ownership engine's outage limit. A run we have not sent to for Window+DeliverySlack can no
	// longer fence us by F1 and leaves the required set.
	Window   time.Duration
	Interval time.Duration // heartbeat period (default 250 ms)
	// Transport replaces memberlist's UDP/TCP transport (tests put it in a network namespace).
	Transport memberlist.Transport
	// OnAck is called (outside any lock) after an ack extended a promise held by this node.
	OnAck      func()
	Logger     logr.Logger
	Registerer prometheus.Registerer
}

// Defaults.
const (
	DefaultHold     = 1500 * time.Millisecond
	DefaultInterval = 250 * time.Millisecond
	DefaultPort     = 7946 // memberlist's, and MetalLB's
	// DeliverySlack bounds how late a heartbeat may be delivered after it was sent (an assumption:
	// UDP on one LAN delivers in milliseconds or never).
	DeliverySlack = time.Second
)

type runKey struct{ node, run string }

// Membership is one speaker run's member of the cluster.
type Membership struct {
	cfg     Config
	log     logr.Logger
	metrics *metrics
	list    *memberlist.Memberlist

	mu        sync.Mutex
	seq       uint64
	sentAt    map[uint64]time.Time // recent heartbeats of ours, by sequence number
	sentTo    map[runKey]time.Time // runs we have sent heartbeats to (they may have heard us): last send
	acked     map[runKey]time.Time // send time of the latest heartbeat each run acked
	heard     map[runKey]time.Time // when we last received a heartbeat of each run
	convicted map[runKey]bool      // runs we no longer ack
	latest    map[string]string    // node -> its newest run, from memberlist metadata
	left      map[runKey]bool      // runs that said goodbye (their engine had stopped)

	// Rules C, M and D (docs/layer2.md, "Replacing an owner during an outage").
	freshUntil  time.Time            // our Lease's freshness deadline, from the engine
	beatOutage  map[uint64]bool      // whether each recent heartbeat of ours said "not fresh"
	lastOutage  time.Time            // send time of our latest heartbeat that said "not fresh"
	cleanAcked  map[runKey]time.Time // send time of the latest "fresh" heartbeat each run acked
	heardOutage map[runKey]bool      // whether the latest heartbeat heard from each run said "not fresh"
	voted       map[runKey]time.Time // runs we voted dead (convicted for good), and when
	votes       map[string]vote      // the latest votes heard from each node
	roster      map[string]bool      // the nodes a majority is counted over, us included
}

// vote is the set of runs one node said it voted dead, and when we heard it say so.
type vote struct {
	dead map[runKey]bool
	at   time.Time
}

// sentAtKeep is how many recent heartbeats are remembered to match acks: acks older than that are
// worth nothing anyway (Hold/Interval is 6 by default).
const sentAtKeep = 256

// New checks cfg and returns a Membership; Start joins the cluster.
func New(cfg Config) (*Membership, error) {
	if cfg.Node == "" || cfg.Run == "" {
		return nil, errors.New("membership: node and run are required")
	}
	if n := len(cfg.SecretKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("membership: secret key is %d bytes, want 16, 24 or 32", n)
	}
	if cfg.Hold <= 0 {
		cfg.Hold = DefaultHold
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Window < cfg.Hold {
		return nil, fmt.Errorf("membership: LAN fencing window %v shorter than hold %v", cfg.Window, cfg.Hold)
	}
	if cfg.Interval*2 > cfg.Hold {
		return nil, fmt.Errorf("membership: heartbeat interval %v must fit twice in hold %v", cfg.Interval, cfg.Hold)
	}
	if cfg.Logger.GetSink() == nil {
		cfg.Logger = logr.Discard()
	}
	m := &Membership{cfg: cfg, log: cfg.Logger.WithValues("node", cfg.Node, "run", cfg.Run),
		sentAt: map[uint64]time.Time{}, sentTo: map[runKey]time.Time{}, acked: map[runKey]time.Time{},
		heard: map[runKey]time.Time{}, convicted: map[runKey]bool{}, latest: map[string]string{},
		left: map[runKey]bool{}, beatOutage: map[uint64]bool{}, cleanAcked: map[runKey]time.Time{},
		heardOutage: map[runKey]bool{}, voted: map[runKey]time.Time{}, votes: map[string]vote{},
		roster: map[string]bool{cfg.Node: true}}
	var err error
	if m.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return m, nil
}

// Hold is the promise length.
func (m *Membership) Hold() time.Duration { return m.cfg.Hold }

// Start creates the memberlist and joins the members in Join (a failed join is logged: the others
// join us when they start, and memberlist keeps gossiping).
func (m *Membership) Start() error {
	c := memberlist.DefaultLANConfig()
	c.Name = m.cfg.Node
	c.BindAddr, c.BindPort = m.cfg.BindAddr, m.cfg.BindPort
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	c.AdvertisePort = m.cfg.BindPort
	if m.cfg.AdvertiseAddr != "" {
		c.AdvertiseAddr = m.cfg.AdvertiseAddr
	}
	c.SecretKey = m.cfg.SecretKey
	c.Transport = m.cfg.Transport
	c.Delegate = delegate{m}
	c.Events = events{m}
	c.LogOutput = logWriter{m.log.V(1)}
	list, err := memberlist.Create(c)
	if err != nil {
		return fmt.Errorf("memberlist on %s:%d: %w", c.BindAddr, c.BindPort, err)
	}
	m.list = list
	m.Join(m.cfg.Join)
	m.log.Info("Memberlist started", "addr", m.Addr(), "members", list.NumMembers())
	return nil
}

// Heartbeat sends heartbeats until ctx ends; Start must have succeeded. It does not leave: the
// caller calls Stop(true) once its ownership engine has stopped (a run leaves only when it can no
// longer fence anybody).
func (m *Membership) Heartbeat(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.beat()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stop leaves (when leave) and shuts memberlist down. Without leave it is what a crash looks like.
func (m *Membership) Stop(leave bool) {
	if m.list == nil {
		return
	}
	if leave {
		m.sayGoodbye()
		_ = m.list.Leave(time.Second)
	}
	_ = m.list.Shutdown()
}

type message struct {
	Type string `json:"t"`            // "hb" or "ack"
	Node string `json:"n"`            // sender
	Run  string `json:"r"`            // sender's run
	To   string `json:"to,omitempty"` // ack: the run acked
	Seq  uint64 `json:"s"`
	// Outage (heartbeats): the sender's Lease was not fresh when it sent this (rule C).
	Outage bool `json:"o,omitempty"`
	// Dead: the runs ("node/run") the sender voted dead (rule D).
	Dead []string `json:"d,omitempty"`
}

// beat sends one heartbeat to every other member.
func (m *Membership) beat() {
	nodes := m.list.Members()
	m.metrics.members.Set(float64(len(nodes)))
	m.mu.Lock()
	m.seq++
	seq := m.seq
	now := time.Now()
	m.sentAt[seq] = now
	delete(m.sentAt, seq-sentAtKeep)
	delete(m.beatOutage, seq-sentAtKeep)
	m.pruneLocked(now)
	m.voteLocked(now)
	if m.freshUntil.IsZero() {
		// Before its first Lease write a run claims nothing and needs no promise; beating only
		// from then on keeps its first heartbeats from saying "not fresh" (rule C).
		m.mu.Unlock()
		return
	}
	outage := !now.Before(m.freshUntil)
	dead := m.deadListLocked()
	type target struct {
		node *memberlist.Node
		run  string
	}
	var targets []target
	for _, n := range nodes {
		if n.Name == m.cfg.Node {
			continue
		}
		run := string(n.Meta)
		if run == "" {
			continue // not a routelb speaker run yet (metadata not gossiped)
		}
		m.noteRunLocked(n.Name, run)
		if m.left[runKey{n.Name, run}] {
			continue
		}
		m.sentTo[runKey{n.Name, run}] = now
		targets = append(targets, target{n, run})
	}
	if len(targets) > 0 {
		// Only a heartbeat someone may hear can make a voter count us as in an outage.
		m.beatOutage[seq] = outage
		if outage {
			m.lastOutage = now
		}
	}
	m.mu.Unlock()
	for _, t := range targets {
		// Addressed to the run: a newer run of that node, not yet gossiped to us, must not count it
		// as heard, since it is not in our required set.
		b, _ := json.Marshal(message{Type: "hb", Node: m.cfg.Node, Run: m.cfg.Run, To: t.run, Seq: seq,
			Outage: outage, Dead: dead})
		if err := m.list.SendBestEffort(t.node, b); err == nil {
			m.metrics.heartbeats.WithLabelValues("sent").Inc()
		}
	}
}

// pruneLocked drops the runs we have not sent to for Window+DeliverySlack: they heard us last
// more than Window ago, so F1 no longer lets them fence us.
func (m *Membership) pruneLocked(now time.Time) {
	for k, last := range m.sentTo {
		if now.Sub(last) > m.cfg.Window+DeliverySlack {
			delete(m.sentTo, k)
			delete(m.acked, k)
		}
	}
}

// noteRunLocked records node's newest run; the runs it replaces are dead processes (one speaker
// per node name) and leave the required set.
func (m *Membership) noteRunLocked(node, run string) {
	if m.latest[node] == run {
		return
	}
	m.latest[node] = run
	for k := range m.sentTo {
		if k.node == node && k.run != run {
			delete(m.sentTo, k)
			delete(m.acked, k)
		}
	}
}

func (m *Membership) receive(b []byte) {
	var msg message
	if err := json.Unmarshal(b, &msg); err != nil || msg.Node == "" || msg.Node == m.cfg.Node {
		return
	}
	k := runKey{msg.Node, msg.Run}
	now := time.Now()
	switch msg.Type {
	case "hb":
		if msg.To != m.cfg.Run {
			return
		}
		m.metrics.heartbeats.WithLabelValues("received").Inc()
		m.mu.Lock()
		m.heard[k] = now
		m.heardOutage[k] = msg.Outage
		m.noteVotesLocked(msg, now)
		ack := !m.convicted[k]
		m.mu.Unlock()
		if ack {
			m.sendAck(msg)
		}
	case "bye":
		// Sent only after the run's engine stopped: it fences nobody any more, so it leaves the
		// required set. (memberlist's own leave event does not tell a leave from a death.)
		m.mu.Lock()
		m.left[k] = true
		delete(m.sentTo, k)
		delete(m.acked, k)
		m.mu.Unlock()
		m.log.Info("Member run left", "member", msg.Node, "memberRun", msg.Run)
	case "ack":
		if msg.To != m.cfg.Run {
			return
		}
		m.mu.Lock()
		m.noteVotesLocked(msg, now)
		sent, ok := m.sentAt[msg.Seq]
		_, required := m.sentTo[k]
		extended := ok && required && sent.After(m.acked[k])
		if extended {
			m.acked[k] = sent
			if !m.beatOutage[msg.Seq] {
				m.cleanAcked[k] = sent
			}
		}
		m.mu.Unlock()
		if extended {
			m.metrics.heartbeats.WithLabelValues("acked").Inc()
			if m.cfg.OnAck != nil {
				m.cfg.OnAck()
			}
		}
	}
}

func (m *Membership) sendAck(hb message) {
	m.mu.Lock()
	dead := m.deadListLocked()
	m.mu.Unlock()
	b, _ := json.Marshal(message{Type: "ack", Node: m.cfg.Node, Run: m.cfg.Run, To: hb.Run, Seq: hb.Seq, Dead: dead})
	for _, n := range m.list.Members() {
		if n.Name == hb.Node {
			_ = m.list.SendBestEffort(n, b)
			return
		}
	}
}

// Silent reports whether run of node was heard, not for Hold, and less than Window ago: the LAN
// half of the early fencing rule (F1).
func (m *Membership) Silent(node, run string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.silentLocked(runKey{node, run}, now)
}

func (m *Membership) silentLocked(k runKey, now time.Time) bool {
	h, ok := m.heard[k]
	return ok && now.Sub(h) >= m.cfg.Hold && now.Sub(h) < m.cfg.Window
}

// Convict checks Silent and, if so, stops acking the run, atomically: from then on it gets no new
// promise from us, and every promise we gave it has run out.
func (m *Membership) Convict(node, run string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := runKey{node, run}
	if !m.silentLocked(k, time.Now()) {
		return false
	}
	if !m.convicted[k] {
		m.convicted[k] = true
		m.metrics.convictions.Inc()
		m.log.Info("Convicted silent member", "member", node, "memberRun", run)
	}
	return true
}

// Pardon acks run again: the fence its conviction was for did not happen (the run renewed its
// Lease), so no promise is broken by new ones. A run voted dead is never pardoned: a majority may
// have counted on our vote (rule D), and it retires anyway (rule R).
func (m *Membership) Pardon(node, run string) {
	m.mu.Lock()
	if _, v := m.voted[runKey{node, run}]; !v {
		delete(m.convicted, runKey{node, run})
	}
	m.mu.Unlock()
}

// HoldUntil is the instant until which every run that may fence us by the LAN rule has promised
// not to: the minimum, over every run we sent a heartbeat to (only those can have heard us), of
// the send time of its latest ack plus Hold. Zero when one has never acked.
func (m *Membership) HoldUntil() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneLocked(time.Now())
	var until time.Time
	for k := range m.sentTo {
		if m.droppedLocked(k) {
			continue // rule D: a majority voted it dead, so it cannot fence us any more
		}
		a, ok := m.acked[k]
		if !ok {
			return time.Time{}
		}
		if t := a.Add(m.cfg.Hold); until.IsZero() || t.Before(until) {
			until = t
		}
	}
	if until.IsZero() {
		// Nobody has heard us: nobody can fence us by F1; only the outage limit bounds rule O.
		return time.Now().Add(m.cfg.Hold)
	}
	return until
}

// Join contacts members at addrs ("ip:port"); failures are logged, not returned: memberlist
// keeps gossiping with whoever it reached, and the others join us when they start.
func (m *Membership) Join(addrs []string) {
	if len(addrs) == 0 {
		return
	}
	n, err := m.list.Join(addrs)
	if err != nil {
		m.log.Info("Could not join every memberlist member", "joined", n, "tried", len(addrs), "error", err.Error())
		return
	}
	m.log.V(1).Info("Joined memberlist members", "joined", n)
}

// Addr is the address the others reach us at ("ip:port").
func (m *Membership) Addr() string {
	n := m.list.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Members returns the names of the alive members, this node included.
func (m *Membership) Members() []string {
	var out []string
	for _, n := range m.list.Members() {
		out = append(out, n.Name)
	}
	return out
}

type delegate struct{ m *Membership }

func (d delegate) NodeMeta(int) []byte                    { return []byte(d.m.cfg.Run) }
func (d delegate) NotifyMsg(b []byte)                     { d.m.receive(b) }
func (d delegate) GetBroadcasts(int, int) [][]byte        { return nil }
func (d delegate) LocalState(bool) []byte                 { return nil }
func (d delegate) MergeRemoteState(buf []byte, join bool) {}

type events struct{ m *Membership }

func (e events) NotifyJoin(n *memberlist.Node)   { e.note(n, "joined") }
func (e events) NotifyUpdate(n *memberlist.Node) { e.note(n, "updated") }

// NotifyLeave only logs: memberlist reports a death and a leave alike here, and a dead member
// stays required (it may be a live one cut from the LAN). A leaving run says "bye" itself.
func (e events) NotifyLeave(n *memberlist.Node) {
	e.m.log.Info("Memberlist member gone", "member", n.Name, "memberRun", string(n.Meta))
}

func (e events) note(n *memberlist.Node, what string) {
	if n.Name == e.m.cfg.Node || len(n.Meta) == 0 {
		return
	}
	e.m.mu.Lock()
	e.m.noteRunLocked(n.Name, string(n.Meta))
	e.m.mu.Unlock()
	e.m.log.V(1).Info("Memberlist member "+what, "member", n.Name, "memberRun", string(n.Meta))
}

// logWriter turns memberlist's log lines into logr lines (memberlist takes an io.Writer).
type logWriter struct{ log logr.Logger }

var _ io.Writer = logWriter{}

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)), "source", "memberlist")
	return len(p), nil
}

// sayGoodbye tells every member this run leaves (best effort: a lost one only keeps us in their
// required set until the window passes, the safe side).
func (m *Membership) sayGoodbye() {
	b, _ := json.Marshal(message{Type: "bye", Node: m.cfg.Node, Run: m.cfg.Run})
	for _, n := range m.list.Members() {
		if n.Name != m.cfg.Node {
			for range 3 {
				_ = m.list.SendBestEffort(n, b)
			}
		}
	}
}

// SetFreshUntil records until when our Lease is fresh; heartbeats sent later say we are not.
func (m *Membership) SetFreshUntil(t time.Time) {
	m.mu.Lock()
	if t.After(m.freshUntil) {
		m.freshUntil = t
	}
	m.mu.Unlock()
}

// SetRoster sets the nodes a majority is counted over (the ownership engine's view of the Leases
// that follow rule F); this node is always one of them.
func (m *Membership) SetRoster(nodes []string) {
	r := map[string]bool{m.cfg.Node: true}
	for _, n := range nodes {
		r[n] = true
	}
	m.mu.Lock()
	m.roster = r
	m.mu.Unlock()
}

// majorityLocked is how many nodes of the roster, us included, make a strict majority; 0 when the
// roster has fewer than 3 nodes (a majority of 2 is both: rules M, C and D do not apply).
func (m *Membership) majorityLocked() int {
	if len(m.roster) < 3 {
		return 0
	}
	return len(m.roster)/2 + 1
}

// Quorum reports rules M and C's evidence: whether they apply (3 nodes or more in the roster),
// until when a majority of the roster (us included) has promised us (zero: never), and whether a
// majority acked a "fresh" heartbeat sent after our last "not fresh" one.
func (m *Membership) Quorum() (applies bool, until time.Time, clean bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	need := m.majorityLocked() - 1 // others
	if need < 0 {
		return false, time.Time{}, true
	}
	var promised []time.Time
	cleanAcks := 0
	for n := range m.roster {
		if n == m.cfg.Node {
			continue
		}
		k := runKey{n, m.latest[n]}
		if a, ok := m.acked[k]; ok {
			promised = append(promised, a.Add(m.cfg.Hold))
		}
		if c, ok := m.cleanAcked[k]; ok && c.After(m.lastOutage) {
			cleanAcks++
		}
	}
	clean = m.lastOutage.IsZero() || cleanAcks >= need
	if len(promised) >= need {
		// The need-th latest promise: until then at least need others still promise.
		slices.SortFunc(promised, func(a, b time.Time) int { return b.Compare(a) })
		until = promised[need-1]
	}
	return true, until, clean
}

// Dropped reports whether a majority of the roster, us included, voted the run of node dead
// (rule D): we must have voted it ourselves, and the others' votes count for Hold after we heard them.
func (m *Membership) Dropped(node, run string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.droppedLocked(runKey{node, run})
}

func (m *Membership) droppedLocked(k runKey) bool {
	need := m.majorityLocked()
	if need == 0 {
		return false
	}
	if _, ok := m.voted[k]; !ok {
		return false
	}
	n, now := 1, time.Now()
	for from, v := range m.votes {
		if from != k.node && from != m.cfg.Node && m.roster[from] && v.dead[k] && now.Sub(v.at) < m.cfg.Hold {
			n++
		}
	}
	return n >= need
}

// voteLocked is rule D's vote: a run last heard saying it was not fresh, and silent since for Hold,
// is convicted for good (no ack, no pardon) and named in our heartbeats and acks.
func (m *Membership) voteLocked(now time.Time) {
	for k := range m.heard {
		if _, done := m.voted[k]; done || !m.heardOutage[k] || !m.silentLocked(k, now) {
			continue
		}
		m.voted[k] = now
		if !m.convicted[k] {
			m.convicted[k] = true
			m.metrics.convictions.Inc()
		}
		m.log.Info("Voted silent member dead", "member", k.node, "memberRun", k.run)
	}
	for k, at := range m.voted {
		if now.Sub(at) > m.cfg.Window+DeliverySlack {
			delete(m.voted, k)
		}
	}
}

func (m *Membership) deadListLocked() []string {
	var out []string
	for k := range m.voted {
		out = append(out, k.node+"/"+k.run)
	}
	return out
}

// noteVotesLocked records the votes a heartbeat or ack carries (all of them: the sender's whole
// list, so a vote it no longer casts stops counting).
func (m *Membership) noteVotesLocked(msg message, now time.Time) {
	v := vote{dead: map[runKey]bool{}, at: now}
	for _, d := range msg.Dead {
		if node, run, ok := strings.Cut(d, "/"); ok {
			v.dead[runKey{node, run}] = true
		}
	}
	m.votes[msg.Node] = v
}
