package model

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/api/v1beta2"
)

// TestProblemsNeverQuoteAPassword: every refused password, inline or from a Secret, is named by
// its field in the problem (which becomes a condition, an event and a log line) and never quoted.
func TestProblemsNeverQuoteAPassword(t *testing.T) {
	secret := func(pw string) corev1.Secret {
		return corev1.Secret{ObjectMeta: meta("pw", 0), Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"password": []byte(pw)}}
	}
	for _, tc := range []struct {
		name, pw string
		inline   bool
	}{
		{"inline with whitespace", "pw-inline has-space", true},
		{"inline too long", "pw-inline-" + strings.Repeat("l", 75), true},
		{"inline with a double quote", `pw-inline-"quote`, true},
		{"secret with whitespace", "pw-secret has-space", false},
		{"secret too long", "pw-secret-" + strings.Repeat("l", 75), false},
		{"secret with a double quote", `pw-secret-"quote`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Peers: []v1beta2.BGPPeer{peer("r1", 0, func(s *v1beta2.BGPPeerSpec) {
				if tc.inline {
					s.Password = v1beta1.ConfigToken(tc.pw)
				} else {
					s.PasswordSecret.Name = "pw"
				}
			})}}
			if !tc.inline {
				in.Secrets = []corev1.Secret{secret(tc.pw)}
			}
			cfg, ps := Build(in, nil)
			ps = append(ps, CheckBIRD(cfg)...)
			if len(ps) == 0 {
				t.Fatalf("password %q accepted", tc.pw)
			}
			for _, p := range ps {
				if !strings.HasPrefix(p.Field, "spec.password") {
					t.Errorf("problem %q does not name the password field", p.Error())
				}
				for _, part := range strings.Fields(tc.pw) {
					if strings.Contains(p.Error(), part) {
						t.Errorf("problem %q quotes the password", p.Error())
					}
				}
			}
		})
	}
}
