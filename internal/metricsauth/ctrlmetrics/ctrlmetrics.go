// Package ctrlmetrics gives controller-runtime's metrics server (controller and speaker) the
// metricsauth rule: the same certificate handling and the same TokenReview/SubjectAccessReview
// check as the reloader's server. It is apart from metricsauth so the reloader links no
// controller-runtime.
package ctrlmetrics

import (
	"crypto/tls"
	"net/http"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/routelb/routelb/internal/metricsauth"
)

// ServerOptions are the manager's metrics options for a bind address ("0" disables) and the
// metricsauth flags. The certificate is read (or made) here, so a bad --metrics-cert-dir stops
// the binary at start with a clear error.
func ServerOptions(bindAddress string, o metricsauth.Options, log logr.Logger) (metricsserver.Options, error) {
	so := metricsserver.Options{BindAddress: bindAddress}
	if !o.Secure || bindAddress == "0" {
		return so, nil
	}
	tc, err := metricsauth.TLSConfig(o.CertDir, log)
	if err != nil {
		return so, err
	}
	so.SecureServing = true
	// With GetCertificate set, controller-runtime looks in no folder of its own and makes no
	// certificate: ours is the one served.
	so.TLSOpts = []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion, c.NextProtos, c.GetCertificate = tc.MinVersion, tc.NextProtos, tc.GetCertificate
	}}
	so.FilterProvider = func(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
		a, err := metricsauth.NewForConfigAndClient(cfg, hc, log)
		if err != nil {
			return nil, err
		}
		return func(_ logr.Logger, h http.Handler) (http.Handler, error) { return a.Wrap(h), nil }, nil
	}
	return so, nil
}
