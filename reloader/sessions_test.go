package reloader

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/routelb/routelb/internal/daemonfile"
	"github.com/routelb/routelb/internal/netlab"
)

// TestParseNeighbors reads a real FRR 8.4.4 reply (testdata/neighbors.json: one session up after a
// BFD flap, one refused for its AS).
func TestParseNeighbors(t *testing.T) {
	b, err := os.ReadFile("testdata/neighbors.json")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	got, err := ParseNeighbors(b, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []daemonfile.Session{
		{Neighbor: "198.51.100.1", State: "Established", BFDState: "up",
			LastError: "Cease/BFD Down (notification sent)", Since: time.Unix(1795870143, 0).UTC()},
		{Neighbor: "2001:db8::1", State: "Idle",
			LastError: "OPEN Message Error/Bad Peer AS (notification sent): the peer's AS is not the configured 64999", Since: now},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	if _, err := ParseNeighbors([]byte("% bgpd is not running"), now); err == nil {
		t.Fatal("a non-JSON reply parsed without error")
	}
	if got, err := ParseNeighbors([]byte("{}"), now); err != nil || len(got) != 0 {
		t.Fatalf("no BGP instance: %v, %v", got, err)
	}
}

// TestSessionsWrittenOnChange drives the reporter with a stand-in vtysh that prints a file, to see
// exactly when it rewrites: on a change of anything reported, and never for the same state.
func TestSessionsWrittenOnChange(t *testing.T) {
	dir := t.TempDir()
	reply := filepath.Join(dir, "reply.json")
	vtysh := filepath.Join(dir, "vtysh")
	if err := os.WriteFile(vtysh, []byte("#!/bin/sh\ncat "+reply+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	neighbor := func(state string, reset int) string {
		return fmt.Sprintf(`{"default":{"vrfId":0,"vrfName":"default","198.51.100.1":{"bgpState":%q,"remoteAs":64512,
			"connectionsDropped":1,"lastResetTimerMsecs":%d,"lastNotificationReason":"Hold Timer Expired",
			"lastResetDueTo":"BGP Notification send"}},
			"red":{"vrfId":5,"vrfName":"red","eth1":{"bgpState":"Established","bgpTimerUpEstablishedEpoch":1795870000,
			"addressFamilyInfo":{"ipv4Unicast":{"sentPrefixCounter":2},"ipv6Unicast":{"sentPrefixCounter":3}}}}}`, state, reset)
	}
	s := &SessionReporter{FRR: &FRR{Vtysh: vtysh}, Dir: dir, Log: testr.New(t)}
	poll := func(resp string, wantWrite bool) daemonfile.Sessions {
		t.Helper()
		if err := os.WriteFile(reply, []byte(resp), 0o644); err != nil {
			t.Fatal(err)
		}
		wrote, err := s.Poll(context.Background())
		if err != nil || wrote != wantWrite {
			t.Fatalf("poll: wrote %v, err %v; want wrote %v", wrote, err, wantWrite)
		}
		return readSessions(t, dir)
	}
	first := poll(neighbor("Active", 60000), true)
	if len(first.Sessions) != 2 || first.Sessions[0].VRF != "" || first.Sessions[1].VRF != "red" ||
		first.Sessions[1].Neighbor != "eth1" || first.Sessions[1].PrefixesSent != 5 ||
		first.Sessions[0].LastError != "Hold Timer Expired (notification sent)" {
		t.Fatalf("first write: %+v", first)
	}
	since := first.Sessions[0].Since
	if d := first.Time.Sub(since); d < 59*time.Second || d > 61*time.Second {
		t.Errorf("down since %v, written at %v: want the last reset, 60 s before", since, first.Time)
	}
	if again := poll(neighbor("Active", 63000), false); !again.Time.Equal(first.Time) {
		t.Errorf("same state rewritten: %+v", again)
	}
	// Another down state is news (the state is reported) but not a new transition.
	connect := poll(neighbor("Connect", 66000), true)
	if connect.Sessions[0].State != "Connect" || !connect.Sessions[0].Since.Equal(since) {
		t.Errorf("Active -> Connect: %+v, want since %v kept", connect.Sessions[0], since)
	}
	up := poll(strings.Replace(neighbor("Established", 0), `"connectionsDropped":1`, `"bgpTimerUpEstablishedEpoch":1795870100`, 1), true)
	if !up.Sessions[0].Since.Equal(time.Unix(1795870100, 0)) {
		t.Errorf("came up: %+v, want since FRR's up time", up.Sessions[0])
	}
	failed := poll("% bgpd is not running", true)
	if failed.Error == "" || len(failed.Sessions) != 0 {
		t.Errorf("FRR unreachable: %+v, want an error and no sessions", failed)
	}
}

func readSessions(t *testing.T, dir string) daemonfile.Sessions {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, daemonfile.SessionsFile))
	if err != nil {
		t.Fatal(err)
	}
	var s daemonfile.Sessions
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return s
}

const sessionsRouterConf = `frr defaults traditional
bfd
 peer 198.51.100.11
 exit
!
router bgp 64512
 no bgp ebgp-requires-policy
 bgp router-id 198.51.100.1
 neighbor 198.51.100.11 remote-as 64513
 neighbor 198.51.100.11 timers 1 3
 neighbor 198.51.100.11 bfd
 neighbor 2001:db8::11 remote-as 64513
 neighbor 2001:db8::11 timers 1 3
exit
`

// sessionsNodeConf peers with the router over IPv4 (with BFD, announcing one VIP) and, when
// badASN is set, over IPv6 expecting the wrong AS.
func sessionsNodeConf(badASN bool) string {
	c := `frr defaults traditional
bfd
 profile fast
 exit
!
router bgp 64513
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 bgp router-id 198.51.100.11
 neighbor 198.51.100.1 remote-as 64512
 neighbor 198.51.100.1 timers 1 3
 neighbor 198.51.100.1 bfd profile fast
`
	if badASN {
		c += ` neighbor 2001:db8::1 remote-as 64999
 neighbor 2001:db8::1 timers connect 5
 neighbor 2001:db8::1 timers 1 3
`
	}
	c += ` address-family ipv4 unicast
  network 203.0.113.5/32
  neighbor 198.51.100.1 activate
 exit-address-family
`
	if badASN {
		c += ` address-family ipv6 unicast
  neighbor 2001:db8::1 activate
 exit-address-family
`
	}
	return c + "exit\n"
}

// TestSessionsFromFRR runs the reloader against a real FRR: sessions.json beside the status file
// shows the good session Established with BFD up and its prefix, the wrong-AS one down with FRR's
// reason, and the neighbour gone once the config drops it.
func TestSessionsFromFRR(t *testing.T) {
	netlab.ForEachFRR(t, sessionsFromFRR)
}

func sessionsFromFRR(t *testing.T, v *netlab.FRRVersion) {
	lab := netlab.New(t)
	lab.Reserve("203.0.113.0/24", "198.18.0.0/15")
	rh := lab.AddHost("router", "198.51.100.1/24", "2001:db8::1/64")
	nh := lab.AddHost("node", "198.51.100.11/24", "2001:db8::11/64")
	lab.StartFRR(rh, "router", sessionsRouterConf)
	node := lab.StartFRRVersion(v, nh, "node", "")
	dir := t.TempDir()
	path := filepath.Join(dir, "frr.conf")
	if err := os.WriteFile(path, []byte(sessionsNodeConf(true)), 0o644); err != nil {
		t.Fatal(err)
	}
	frr := reloaderFRR(node)
	applies := make(chan Result, 100)
	r := &Reloader{ConfigPath: path, Debounce: 50 * time.Millisecond, Poll: 200 * time.Millisecond, Log: testr.New(t),
		Applier:  &Applier{FRR: frr, Scratch: node.ScratchDir(), Log: testr.New(t)},
		Sessions: &SessionReporter{FRR: frr, Interval: 200 * time.Millisecond, Log: testr.New(t)},
		OnApply:  func(res Result) { applies <- res }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	find := func(s daemonfile.Sessions, neighbor string) *daemonfile.Session {
		for i := range s.Sessions {
			if s.Sessions[i].Neighbor == neighbor {
				return &s.Sessions[i]
			}
		}
		return nil
	}
	var last daemonfile.Sessions
	lab.Eventually(60*time.Second, func() error {
		b, err := os.ReadFile(filepath.Join(dir, daemonfile.SessionsFile))
		if err != nil {
			return err
		}
		last = daemonfile.Sessions{}
		if err := json.Unmarshal(b, &last); err != nil {
			return err
		}
		good, bad := find(last, "198.51.100.1"), find(last, "2001:db8::1")
		if good == nil || good.State != "Established" || good.BFDState != "up" || good.PrefixesSent != 1 {
			return fmt.Errorf("good session: %+v", good)
		}
		if bad == nil || bad.State == "Established" || !strings.Contains(bad.LastError, "Bad Peer AS") ||
			!strings.Contains(bad.LastError, "64999") {
			return fmt.Errorf("wrong-AS session: %+v", bad)
		}
		return nil
	})
	t.Logf("sessions.json: %+v", last)

	if err := os.WriteFile(path, []byte(sessionsNodeConf(false)), 0o644); err != nil {
		t.Fatal(err)
	}
	lab.Eventually(60*time.Second, func() error {
		s := readSessions(t, dir)
		if find(s, "2001:db8::1") != nil || find(s, "198.51.100.1") == nil {
			return fmt.Errorf("after removing the wrong-AS neighbour: %+v", s)
		}
		return nil
	})
	// Both configs were applied as deltas.
	for i := range 2 {
		select {
		case res := <-applies:
			if res.Outcome != OutcomeApplied {
				t.Errorf("apply %d: outcome %s: %v", i, res.Outcome, res.Err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("apply %d not reported", i)
		}
	}
}
