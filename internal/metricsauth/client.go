package metricsauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// TokenReviewer and AccessReviewer are the two calls the check makes, the Create methods of
// client-go's typed TokenReview and SubjectAccessReview clients (which satisfy them).
type TokenReviewer interface {
	Create(ctx context.Context, tr *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// AccessReviewer: see TokenReviewer.
type AccessReviewer interface {
	Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// reviewClient makes both calls as JSON POSTs through rest's HTTP client (the config's
// credentials, a token file read again as it rotates). It stands in for the typed clients because
// those link client-go's whole apply-configuration tree: the reloader, copied into the FRR image,
// would grow from 14 MB to 41 MB for two POSTs.
type reviewClient struct {
	hc   *http.Client
	base *url.URL
}

func newReviewClient(cfg *rest.Config, hc *http.Client) (*reviewClient, error) {
	base, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, err
	}
	return &reviewClient{hc: hc, base: base}, nil
}

type tokenReviews struct{ *reviewClient }
type accessReviews struct{ *reviewClient }

func (c tokenReviews) Create(ctx context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	tr = tr.DeepCopy()
	tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenReview"
	out := &authenticationv1.TokenReview{}
	return out, c.post(ctx, "/apis/authentication.k8s.io/v1/tokenreviews", tr, out)
}

func (c accessReviews) Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	sar = sar.DeepCopy()
	sar.APIVersion, sar.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
	out := &authorizationv1.SubjectAccessReview{}
	return out, c.post(ctx, "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar, out)
}

// post sends in to path and decodes the answer into out; an answer other than 2xx is an error
// with the API server's message (its Status), never with the request body (it holds the token).
func (c *reviewClient) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var st metav1.Status
		if json.Unmarshal(b, &st) == nil && st.Message != "" {
			return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, st.Message)
		}
		return fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	return json.Unmarshal(b, out)
}
