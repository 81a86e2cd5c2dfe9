package metricsauth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// reviews is a fake API server's answers, the unit-test seam beside TestSecureServeOnAPIServer:
// tokens "good" (user reader, allowed) and "other" (user other, refused); every other token is
// unauthenticated. It counts the reviews and can fail them.
type reviews struct {
	tokenReviews, accessReviews atomic.Int32
	fail                        atomic.Bool
}

func (rv *reviews) authorizer(log *strings.Builder) *Authorizer {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		rv.tokenReviews.Add(1)
		if rv.fail.Load() {
			return true, nil, errors.New("connection refused")
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		switch tr.Spec.Token {
		case "good":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "reader"}}
		case "other":
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "other",
				Extra: map[string]authenticationv1.ExtraValue{"scope": {"x"}}}}
		}
		return true, tr, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		rv.accessReviews.Add(1)
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		na := sar.Spec.NonResourceAttributes
		sar.Status.Allowed = sar.Spec.User == "reader" && na != nil && na.Path == "/metrics" && na.Verb == "get"
		return true, sar, nil
	})
	l := funcr.New(func(prefix, args string) { fmt.Fprintln(log, prefix, args) }, funcr.Options{Verbosity: 4})
	return &Authorizer{Tokens: cs.AuthenticationV1().TokenReviews(), Access: cs.AuthorizationV1().SubjectAccessReviews(), Log: l}
}

func get(h http.Handler, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) })

// TestCache: a decision is reused for its TTL (one review per token and path, not per scrape),
// asked again after it, a refusal for the shorter TTL; API errors are never cached.
func TestCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rv reviews
		var log strings.Builder
		a := rv.authorizer(&log)
		h := a.Wrap(ok)
		for range 3 {
			if w := get(h, "/metrics", "good"); w.Code != http.StatusOK || w.Body.String() != "metrics" {
				t.Fatalf("good token: %d %q", w.Code, w.Body)
			}
		}
		if n := rv.tokenReviews.Load(); n != 1 {
			t.Errorf("3 scrapes within the TTL made %d TokenReviews, want 1", n)
		}
		time.Sleep(DefaultAllowTTL)
		get(h, "/metrics", "good")
		if n := rv.tokenReviews.Load(); n != 2 {
			t.Errorf("after the allow TTL: %d TokenReviews, want 2", n)
		}

		for range 2 {
			if w := get(h, "/metrics", "other"); w.Code != http.StatusForbidden {
				t.Errorf("other token: %d, want 403", w.Code)
			}
		}
		if n := rv.accessReviews.Load(); n != 3 {
			t.Errorf("%d SubjectAccessReviews, want 3 (good twice, other once)", n)
		}
		time.Sleep(DefaultDenyTTL)
		get(h, "/metrics", "other")
		if n := rv.accessReviews.Load(); n != 4 {
			t.Errorf("after the deny TTL: %d SubjectAccessReviews, want 4", n)
		}

		rv.fail.Store(true)
		before := rv.tokenReviews.Load()
		for range 2 {
			if w := get(h, "/metrics", "new"); w.Code != http.StatusInternalServerError {
				t.Errorf("API down: %d, want 500", w.Code)
			}
		}
		if n := rv.tokenReviews.Load() - before; n != 2 {
			t.Errorf("API down: %d TokenReviews for 2 scrapes, want 2 (errors are not cached)", n)
		}
		rv.fail.Store(false)
		if w := get(h, "/metrics", "new"); w.Code != http.StatusUnauthorized {
			t.Errorf("API back, unknown token: %d, want 401", w.Code)
		}
	})
}

// TestDecisions: each answer the handler gives, and the token kept out of the log and the cache.
func TestDecisions(t *testing.T) {
	var rv reviews
	var log strings.Builder
	a := rv.authorizer(&log)
	h := a.Wrap(ok)
	for _, c := range []struct {
		name, path, header string
		status             int
	}{
		{"no header", "/metrics", "", http.StatusUnauthorized},
		{"basic auth", "/metrics", "Basic Z29vZDp4", http.StatusUnauthorized},
		{"empty bearer", "/metrics", "Bearer ", http.StatusUnauthorized},
		{"unknown token", "/metrics", "Bearer s3cret-token-value", http.StatusUnauthorized},
		{"refused user", "/metrics", "Bearer other", http.StatusForbidden},
		{"path not granted", "/debug/pprof", "Bearer good", http.StatusForbidden},
		{"lower-case scheme", "/metrics", "bearer good", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, c.path, nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Errorf("%d %q, want %d", w.Code, w.Body, c.status)
			}
		})
	}
	if strings.Contains(log.String(), "s3cret-token-value") || !strings.Contains(log.String(), `"user"="other"`) {
		t.Errorf("the log names the refused user but never a token:\n%s", log.String())
	}
	if w := get(h, "/metrics", "other"); !strings.Contains(w.Body.String(), "other may not get /metrics") {
		t.Errorf("403 body %q does not say who and what", w.Body)
	}
}

// TestCacheBound: a flood of distinct tokens does not grow the cache past maxEntries.
func TestCacheBound(t *testing.T) {
	var rv reviews
	var log strings.Builder
	a := rv.authorizer(&log)
	h := a.Wrap(ok)
	for i := range maxEntries + 10 {
		get(h, "/metrics", fmt.Sprintf("token-%d", i))
	}
	a.mu.Lock()
	n := len(a.cache)
	a.mu.Unlock()
	if n == 0 || n > maxEntries {
		t.Errorf("cache holds %d entries, want 1..%d", n, maxEntries)
	}
}
