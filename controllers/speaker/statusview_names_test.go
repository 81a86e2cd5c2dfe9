package speaker_test

import (
	"testing"

	"github.com/routelb/routelb/controllers/speaker"
	"github.com/routelb/routelb/internal/statusview"
)

// TestStatusviewNames: the status labels `routelb status` repeats (it does not link the speaker's
// reconcilers) are the speaker's. It lives here, not in statusview, so that nothing under internal/
// imports controllers.
func TestStatusviewNames(t *testing.T) {
	pairs := [][2]string{
		{statusview.LabelNode, speaker.LabelNode}, {statusview.LabelServiceName, speaker.LabelServiceName},
		{statusview.LabelServiceNamespace, speaker.LabelServiceNamespace},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("statusview has %q, the speaker %q", p[0], p[1])
		}
	}
}
