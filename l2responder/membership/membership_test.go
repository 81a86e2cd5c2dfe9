package membership

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

// start starts a real memberlist on loopback that heartbeats the members it joins. Port 0 lets the
// kernel choose (memberlist binds UDP to the port TCP got): a port picked at random by the test
// was once taken by another package's ephemeral connection under `make test`.
func start(t *testing.T, node string, join []string) (*Membership, context.CancelFunc) {
	t.Helper()
	m, err := New(Config{Node: node, Run: node + "-run", BindAddr: "127.0.0.1", BindPort: 0, Join: join,
		SecretKey: []byte("0123456789abcdef0123456789abcdef"), Window: 10 * time.Second, Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	m.SetFreshUntil(time.Now().Add(time.Hour)) // what the engine does after its first Lease write
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go m.Heartbeat(ctx)
	return m, cancel
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPromisesAndConviction: two members promise each other (HoldUntil moves ahead of the clock);
// one that is heard is never silent; once it dies it is silent after the hold time and can be
// convicted, and the survivor, which needs its promise, holds no promise past the dead one's last.
func TestPromisesAndConviction(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: opens sockets")
	}
	a, stopA := start(t, "a", nil)
	b, stopB := start(t, "b", []string{a.Addr()})
	defer func() { stopB(); b.Stop(true) }()
	acked := func(m *Membership, k runKey) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ok := m.acked[k]
		return ok
	}
	eventually(t, "a and b promise each other", func() bool {
		now := time.Now()
		return acked(a, runKey{"b", "b-run"}) && acked(b, runKey{"a", "a-run"}) &&
			a.HoldUntil().After(now.Add(DefaultHold/2)) && b.HoldUntil().After(now.Add(DefaultHold/2))
	})
	if b.Silent("a", "a-run", time.Now()) || b.Convict("a", "a-run") {
		t.Fatal("a is heard: it must be neither silent nor convictable")
	}
	if b.Silent("a", "other-run", time.Now().Add(time.Hour)) {
		t.Fatal("a run never heard is not silent: F1 needs to have heard it")
	}
	stopA()
	a.Stop(false) // a crash: no leave
	died := time.Now()
	eventually(t, "b finds a silent", func() bool { return b.Silent("a", "a-run", time.Now()) })
	if since := time.Since(died); since < DefaultHold-DefaultInterval {
		t.Errorf("a silent only %v after its death: before the hold time", since)
	}
	if !b.Convict("a", "a-run") {
		t.Fatal("silent a could not be convicted")
	}
	if until := b.HoldUntil(); until.After(died.Add(DefaultHold)) {
		t.Errorf("b holds a promise until %v, past dead a's last possible one (%v)", until, died.Add(DefaultHold))
	}
	if b.Silent("a", "a-run", time.Now().Add(11*time.Second)) {
		t.Error("F1 must not apply past the window")
	}
}

// TestGoodbyeLeavesTheRequiredSet: a run that stops cleanly says so, and the others stop needing
// its promise (so a speaker shut down for good does not block answering in an outage forever).
func TestGoodbyeLeavesTheRequiredSet(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: opens sockets")
	}
	a, stopA := start(t, "a", nil)
	b, stopB := start(t, "b", []string{a.Addr()})
	defer func() { stopB(); b.Stop(true) }()
	required := func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		_, ok := b.sentTo[runKey{"a", "a-run"}]
		return ok
	}
	eventually(t, "b heartbeats a", required)
	stopA()
	a.Stop(true)
	eventually(t, "b drops a's run after its goodbye", func() bool { return !required() })
	time.Sleep(2 * DefaultInterval)
	if required() {
		t.Fatal("a's run came back into b's required set after its goodbye")
	}
}

// TestVotesDropOnlyARunLastHeardInAnOutage: five members; d says it is not fresh (its Lease is
// stale), c says it is. Both die. The three survivors vote d dead, and each sees a majority of the
// five (itself included) agree, so d is dropped and no longer needed for promises; c, which died
// with a fresh Lease (it may be alive and answering, cut from the LAN only), is never voted dead.
func TestVotesDropOnlyARunLastHeardInAnOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: opens sockets")
	}
	names := []string{"a", "b", "c", "d", "e"}
	ms := map[string]*Membership{}
	stops := map[string]context.CancelFunc{}
	for i, n := range names {
		var join []string
		if i > 0 {
			join = []string{ms["a"].Addr()}
		}
		ms[n], stops[n] = start(t, n, join)
		ms[n].SetRoster(names)
	}
	ms["d"].mu.Lock()
	ms["d"].freshUntil = time.Now() // its Lease went stale: its heartbeats say so
	ms["d"].mu.Unlock()
	defer func() {
		for _, n := range []string{"a", "b", "e"} {
			stops[n]()
			ms[n].Stop(true)
		}
	}()
	eventually(t, "every member holds a majority's promises; d is not clean, a is", func() bool {
		now := time.Now()
		for _, n := range names {
			if ok, until, _ := ms[n].Quorum(); !ok || !until.After(now) {
				return false
			}
		}
		_, _, aClean := ms["a"].Quorum()
		_, _, dClean := ms["d"].Quorum()
		return aClean && !dClean
	})
	for _, n := range []string{"c", "d"} {
		stops[n]()
		ms[n].Stop(false)
	}
	died := time.Now()
	for _, n := range []string{"a", "b", "e"} {
		eventually(t, n+" sees d dropped by a majority", func() bool { return ms[n].Dropped("d", "d-run") })
	}
	if since := time.Since(died); since < DefaultHold-DefaultInterval {
		t.Errorf("d dropped %v after its death: before the hold time", since)
	}
	time.Sleep(DefaultHold)
	for _, n := range []string{"a", "b", "e"} {
		if ms[n].Dropped("c", "c-run") {
			t.Errorf("%s dropped c, which died with a fresh Lease", n)
		}
		if _, until, _ := ms[n].Quorum(); !until.After(time.Now()) {
			t.Errorf("%s lost its majority's promises though three of five are alive", n)
		}
		ms[n].mu.Lock()
		_, cRequired := ms[n].sentTo[runKey{"c", "c-run"}]
		ms[n].mu.Unlock()
		if !cRequired {
			t.Errorf("%s no longer requires c's promise: only a majority vote may drop it", n)
		}
	}
	// d is no longer required for rule O; c still is (it has not acked since its death).
	ms["a"].mu.Lock()
	droppedD := ms["a"].droppedLocked(runKey{"d", "d-run"})
	ms["a"].mu.Unlock()
	if !droppedD {
		t.Error("d not dropped in a's required set")
	}
}
