package speaker_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/internal/statusview"
	"github.com/routelb/routelb/l2responder/ownership"
)

// TestStatusviewNames: the names `routelb status` repeats (it links neither the speaker nor its
// reconcilers) are the speaker's and the ownership engine's. It lives here, not in statusview, so
// that nothing under internal/ imports controllers.
func TestStatusviewNames(t *testing.T) {
	pairs := [][2]string{
		{statusview.LabelNode, speaker.LabelNode}, {statusview.LabelServiceName, speaker.LabelServiceName},
		{statusview.LabelServiceNamespace, speaker.LabelServiceNamespace},
		{statusview.LeaseComponentLabel, ownership.LabelComponent}, {statusview.LeaseComponentValue, ownership.ComponentValue},
		{statusview.AnnotationClaims, ownership.AnnotationClaims}, {statusview.AnnotationDurationMillis, ownership.AnnotationDurationMillis},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("statusview has %q, the speaker %q", p[0], p[1])
		}
	}
	vips := []netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2"),
		netip.MustParseAddr("203.0.113.3"), netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8::1")}
	enc := ownership.EncodeClaims(vips)
	got, err := statusview.DecodeClaims(enc)
	if err != nil || !slices.Equal(got, vips) {
		t.Errorf("statusview.DecodeClaims(%q) = %v, %v; want %v", enc, got, err, vips)
	}
	if _, err := statusview.DecodeClaims("203.0.113.9-203.0.113.1"); err == nil {
		t.Error("a backwards range decodes")
	}
}
