package metricsauth

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
)

// Options are the metrics flags the three binaries share (each keeps its own
// --metrics-bind-address, whose default differs).
type Options struct {
	Secure  bool   // --metrics-secure
	CertDir string // --metrics-cert-dir
}

// RegisterFlags adds --metrics-secure and --metrics-cert-dir to fs.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.Secure, "metrics-secure", false,
		"serve the metrics over HTTPS, only to bearer tokens the API server authenticates (TokenReview) and authorizes "+
			"(SubjectAccessReview: get on the nonResourceURL /metrics); needs the API server (kubeconfig or in-cluster config)")
	fs.StringVar(&o.CertDir, "metrics-cert-dir", "",
		"with --metrics-secure: folder with the metrics endpoint's tls.crt and tls.key, read again when they change; "+
			"empty: a self-signed certificate made at start")
}

// Validate refuses a certificate folder without secure serving: it would be silently unused.
func (o Options) Validate() error {
	if o.CertDir != "" && !o.Secure {
		return errors.New("--metrics-cert-dir needs --metrics-secure")
	}
	return nil
}

// Server is the reloader's metrics server; the controller and the speaker use controller-runtime's
// with the same parts (ctrlmetrics).
type Server struct {
	handler http.Handler
	tls     *tls.Config // nil: plain HTTP
	log     logr.Logger
}

// NewServer serves h: plain HTTP, or with o.Secure HTTPS (TLSConfig) behind the Authorizer, which
// asks the API server of cfg. What is wrong with the certificate or cfg is said here, at start.
func NewServer(h http.Handler, o Options, cfg *rest.Config, log logr.Logger) (*Server, error) {
	s := &Server{handler: h, log: log}
	if !o.Secure {
		return s, nil
	}
	tc, err := TLSConfig(o.CertDir, log)
	if err != nil {
		return nil, err
	}
	a, err := New(cfg, log)
	if err != nil {
		return nil, err
	}
	s.handler, s.tls = a.Wrap(h), tc
	return s, nil
}

// Serve serves on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	if s.tls != nil {
		l = tls.NewListener(l, s.tls)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		_ = srv.Close()
	}()
	s.log.Info("Serving metrics", "address", l.Addr().String(), "secure", s.tls != nil)
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return fmt.Errorf("metrics server on %s: %w", l.Addr(), err)
}
