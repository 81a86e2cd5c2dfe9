// Package metricsauthtest is the test kit of the secure metrics endpoints: ServiceAccounts, their
// tokens (TokenRequest) and RBAC in a real API server, and a scrape that reports what came back.
package metricsauthtest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// Namespace holds the kit's ServiceAccounts.
const Namespace = "metricsauth"

// Cluster holds bearer tokens of three ServiceAccounts: Reader may get /metrics (a ClusterRole
// like the chart's routelb-metrics-reader), Outsider may not, and Server is the metrics server's
// own, allowed to create TokenReviews and SubjectAccessReviews as the chart allows its binaries.
type Cluster struct {
	Reader, Outsider string
	Server           *rest.Config
	ServerUser       string // system:serviceaccount:metricsauth:server
}

// Setup creates the namespace, the ServiceAccounts, the ClusterRoles and their bindings through
// admin, and requests the tokens.
func Setup(t testing.TB, admin *rest.Config) Cluster {
	t.Helper()
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", Namespace, err)
	}
	roles := map[string][]rbacv1.PolicyRule{
		"reader": {{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
		"server": {
			{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
			{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		},
	}
	tokens := map[string]string{}
	for _, sa := range []string{"reader", "outsider", "server"} {
		if _, err := cs.CoreV1().ServiceAccounts(Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating ServiceAccount %s: %v", sa, err)
		}
		if rules, ok := roles[sa]; ok {
			bind(t, cs, "metricsauth-"+sa, sa, rules)
		}
		tr, err := cs.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("TokenRequest for ServiceAccount %s: %v", sa, err)
		}
		tokens[sa] = tr.Status.Token
	}
	server := rest.AnonymousClientConfig(admin)
	server.BearerToken = tokens["server"]
	return Cluster{Reader: tokens["reader"], Outsider: tokens["outsider"], Server: server,
		ServerUser: "system:serviceaccount:" + Namespace + ":server"}
}

func bind(t testing.TB, cs kubernetes.Interface, name, sa string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := t.Context()
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ClusterRole %s: %v", name, err)
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: Namespace}}}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ClusterRoleBinding %s: %v", name, err)
	}
}

// Answer is what a scrape got back.
type Answer struct {
	Status int
	Body   string
	Header http.Header
	// Cert is the certificate the server presented (nil over plain HTTP).
	Cert *x509.Certificate
}

// Scrape GETs url with the bearer token (none when empty). roots verifies the server's
// certificate; nil accepts any, as Prometheus with insecureSkipVerify does for a self-signed one.
func Scrape(t testing.TB, url, token string, roots *x509.CertPool) (Answer, error) {
	t.Helper()
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, InsecureSkipVerify: roots == nil} //nolint:gosec // see above
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		return Answer{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	a := Answer{Status: resp.StatusCode, Body: string(b), Header: resp.Header}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		a.Cert = resp.TLS.PeerCertificates[0]
	}
	return a, err
}

// Check waits (up to a generous minute, a bound for a hang) for url to answer over TLS, then
// checks the answers of secure mode: 401 without a token or with a bad one, 403 to Outsider, 200
// to Reader, with series in the body (within the same minute). stopped, when it returns an error, ends the wait: the binary under test exited.
func (c Cluster) Check(t testing.TB, url, series string, stopped func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := Scrape(t, url, "", nil)
		if err == nil {
			break
		}
		if serr := stopped(); serr != nil {
			t.Fatalf("the server of %s stopped: %v", url, serr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within a minute: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, tc := range []struct {
		name, token string
		status      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"invalid token", "not-a-token", http.StatusUnauthorized},
		{"ServiceAccount without get on /metrics", c.Outsider, http.StatusForbidden},
	} {
		a, err := Scrape(t, url, tc.token, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if a.Status != tc.status || a.Cert == nil {
			t.Errorf("%s: %d (over TLS: %v) %.200q, want %d over TLS", tc.name, a.Status, a.Cert != nil, a.Body, tc.status)
		}
	}
	// The reader gets 200 at once; the series may take a moment (a binary registers some as it starts).
	for {
		a, err := Scrape(t, url, c.Reader, nil)
		if err != nil || a.Status != http.StatusOK || a.Cert == nil {
			t.Fatalf("ServiceAccount with get on /metrics: %v %d (over TLS: %v) %.200q, want 200 over TLS", err, a.Status, a.Cert != nil, a.Body)
		}
		if strings.Contains(a.Body, series) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ServiceAccount with get on /metrics: no %q in the body after a minute:\n%.500s", series, a.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
