// Package metricsauth guards the metrics endpoints of controller, speaker and reloader: HTTPS
// (tls.go), and a bearer token that the API server authenticates (TokenReview) and authorizes
// (SubjectAccessReview on the request's path, a nonResourceURL such as /metrics, with the request's
// verb), as kube-rbac-proxy and controller-runtime's metrics filters do. It needs only client-go's
// rest package (client.go says why not the typed clients), so the reloader, which links no
// controller-runtime, uses the same rule as the other two binaries (ctrlmetrics adapts it to
// controller-runtime's metrics server).
package metricsauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

const (
	// DefaultAllowTTL and DefaultDenyTTL bound how long a decision on a token is reused: a scrape
	// every 30 s costs two reviews per minute, and a revoked token or binding stops working within
	// a minute. Refusals expire sooner, so a binding just created works on the next scrape.
	DefaultAllowTTL = time.Minute
	DefaultDenyTTL  = 10 * time.Second
	// reviewTimeout bounds one TokenReview or SubjectAccessReview; Prometheus's scrape timeout
	// (10 s by default) bounds the whole request anyway.
	reviewTimeout = 10 * time.Second
	// maxEntries bounds the cache: random tokens sent by anyone who reaches the port must not grow
	// it without limit.
	maxEntries = 1024
)

// Authorizer decides whether a request may read what it asks for. Create it with New or
// NewForConfigAndClient; the zero TTLs mean the defaults.
type Authorizer struct {
	Tokens   TokenReviewer
	Access   AccessReviewer
	Log      logr.Logger
	AllowTTL time.Duration
	DenyTTL  time.Duration

	mu    sync.Mutex
	cache map[key]decision
}

// key identifies a decision: a SHA-256 of the token (the token itself is never kept), the verb
// and the path.
type key struct {
	token      [sha256.Size]byte
	verb, path string
}

// decision is a cached outcome: the HTTP status to answer (200 lets the request through) and the
// user it was about, for the log.
type decision struct {
	status  int
	user    string
	expires time.Time
}

// New returns an Authorizer using cfg's credentials (the binary's ServiceAccount in a pod).
func New(cfg *rest.Config, log logr.Logger) (*Authorizer, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the API client for metrics authentication: %w", err)
	}
	return NewForConfigAndClient(cfg, hc, log)
}

// NewForConfigAndClient is New sharing an HTTP client (controller-runtime passes its manager's).
func NewForConfigAndClient(cfg *rest.Config, hc *http.Client, log logr.Logger) (*Authorizer, error) {
	c, err := newReviewClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("building the review client for metrics authentication: %w", err)
	}
	return &Authorizer{Tokens: tokenReviews{c}, Access: accessReviews{c}, Log: log}, nil
}

// Wrap returns h behind the check: 401 without a valid bearer token, 403 when its user may not
// use the verb on the path, 500 when the API server could not be asked (not cached).
func (a *Authorizer) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := a.decide(r)
		switch {
		case err != nil:
			a.Log.Error(err, "Could not check a metrics request", "path", r.URL.Path)
			http.Error(w, "could not check the request with the API server", http.StatusInternalServerError)
		case d.status == http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="routelb metrics"`)
			http.Error(w, "Unauthorized: a valid bearer token is required", d.status)
		case d.status == http.StatusForbidden:
			http.Error(w, fmt.Sprintf("Forbidden: %s may not %s %s", d.user, verb(r), r.URL.Path), d.status)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// verb is the request's verb for a non-resource URL, as the API server derives it: the HTTP
// method in lower case (GET -> get).
func verb(r *http.Request) string { return strings.ToLower(r.Method) }

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// decide returns the cached decision for the request, or asks the API server and caches it.
func (a *Authorizer) decide(r *http.Request) (decision, error) {
	token := bearer(r)
	if token == "" {
		return decision{status: http.StatusUnauthorized}, nil
	}
	k := key{token: sha256.Sum256([]byte(token)), verb: verb(r), path: r.URL.Path}
	now := time.Now()
	if d, ok := a.cached(k, now); ok {
		return d, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), reviewTimeout)
	defer cancel()
	d, err := a.review(ctx, token, k)
	if err != nil {
		return decision{}, err
	}
	a.store(k, d, now)
	if d.status != http.StatusOK {
		// Who was refused, never with what: the token stays out of the log.
		a.Log.V(1).Info("Refused a metrics request", "status", d.status, "user", d.user, "verb", k.verb, "path", k.path)
	}
	return d, nil
}

// review asks the API server who the token belongs to, then whether that user may use the verb on
// the path.
func (a *Authorizer) review(ctx context.Context, token string, k key) (decision, error) {
	tr, err := a.Tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return decision{}, fmt.Errorf("TokenReview: %w", err)
	}
	if !tr.Status.Authenticated {
		return decision{status: http.StatusUnauthorized}, nil
	}
	u := tr.Status.User
	extra := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
	for name, v := range u.Extra {
		extra[name] = authorizationv1.ExtraValue(v)
	}
	sar, err := a.Access.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: k.path, Verb: k.verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return decision{}, fmt.Errorf("SubjectAccessReview for %s: %w", u.Username, err)
	}
	if sar.Status.EvaluationError != "" && !sar.Status.Allowed {
		// An authorizer that could not decide is an error to retry, not a refusal to cache.
		return decision{}, fmt.Errorf("SubjectAccessReview for %s: %w", u.Username, errors.New(sar.Status.EvaluationError))
	}
	if !sar.Status.Allowed {
		return decision{status: http.StatusForbidden, user: u.Username}, nil
	}
	return decision{status: http.StatusOK, user: u.Username}, nil
}

func (a *Authorizer) cached(k key, now time.Time) (decision, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.cache[k]
	if !ok || !now.Before(d.expires) {
		return decision{}, false
	}
	return d, true
}

// ttl is how long a decision with this status is reused.
func (a *Authorizer) ttl(status int) time.Duration {
	if status == http.StatusOK {
		return cmp.Or(a.AllowTTL, DefaultAllowTTL)
	}
	return cmp.Or(a.DenyTTL, DefaultDenyTTL)
}

func (a *Authorizer) store(k key, d decision, now time.Time) {
	d.expires = now.Add(a.ttl(d.status))
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cache == nil {
		a.cache = map[key]decision{}
	}
	if len(a.cache) >= maxEntries {
		for k, old := range a.cache {
			if !now.Before(old.expires) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= maxEntries {
			// Full of live entries, i.e. a flood of distinct tokens: start over rather than grow.
			clear(a.cache)
		}
	}
	a.cache[k] = d
}
