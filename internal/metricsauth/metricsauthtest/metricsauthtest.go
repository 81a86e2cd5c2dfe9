// Package metricsauthtest is the test kit of the secure metrics endpoints: ServiceAccounts, their
// tokens (TokenRequest) and RBAC in a real API server, and a scrape that reports what came back.
package metricsauthtest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
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
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := Answer{Status: resp.StatusCode, Body: string(b), Header: resp.Header}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		a.Cert = resp.TLS.PeerCertificates[0]
	}
	return a, err
}
