package frrtemplates_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/routelb/routelb/frrtemplates"
	"github.com/routelb/routelb/internal/model"
)

// TestRefusedPasswordIsNotQuoted: a password the model should have refused but that reached the
// renderer fails the render, and the error (an event and a log line of the speaker) never quotes it.
func TestRefusedPasswordIsNotQuoted(t *testing.T) {
	for _, pw := range []string{"pw-render has-space", "pw-render\nneighbor", `pw-render"quote`} {
		p := &model.Peer{Name: "r1", MyASN: 64513, ASN: 64512, Addr: netip.MustParseAddr("198.51.100.1"), Password: pw}
		n := &model.NodeBGP{NodeName: "node1", Routers: []*model.Router{{MyASN: 64513, RouterID: netip.MustParseAddr("198.51.100.11"),
			Neighbors: []*model.Neighbor{{Peer: p, IPv4: true}}}}}
		out, err := frrtemplates.Render(n)
		if err == nil {
			if strings.Contains(pw, `"`) && strings.Contains(string(out), pw) {
				continue // FRR takes a quote as part of a word; only BIRD refuses it
			}
			t.Fatalf("password %q rendered:\n%s", pw, out)
		}
		if strings.Contains(err.Error(), "pw-render") || !strings.Contains(err.Error(), "password") {
			t.Errorf("render error %q: want the password named, never quoted", err)
		}
	}
}
