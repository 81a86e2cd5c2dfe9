package membership

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

// pair starts two real memberlists on loopback (random ports) that heartbeat each other.
func start(t *testing.T, node string, port int, join []string) (*Membership, context.CancelFunc) {
	t.Helper()
	m, err := New(Config{Node: node, Run: node + "-run", BindAddr: "127.0.0.1", BindPort: port, Join: join,
		SecretKey: []byte("0123456789abcdef0123456789abcdef"), Window: 10 * time.Second, Logger: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
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
	base := 20000 + rand.IntN(20000)
	a, stopA := start(t, "a", base, nil)
	b, stopB := start(t, "b", base+1, []string{fmt.Sprintf("127.0.0.1:%d", base)})
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
	base := 20000 + rand.IntN(20000)
	a, stopA := start(t, "a", base, nil)
	b, stopB := start(t, "b", base+1, []string{fmt.Sprintf("127.0.0.1:%d", base)})
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
