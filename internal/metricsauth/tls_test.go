package metricsauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

// writePair writes a certificate for localhost with the given serial, signed by itself, into dir
// as tls.crt/tls.key, and returns it.
func writePair(t *testing.T, dir string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// A new file (rename), as the kubelet updates a Secret volume.
	for name, block := range map[string]*pem.Block{CertFile: {Type: "CERTIFICATE", Bytes: der}, KeyFile: {Type: "EC PRIVATE KEY", Bytes: kb}} {
		tmp := filepath.Join(dir, "."+name)
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// handshake serves one TLS handshake with cfg and returns the certificate the client saw, verified
// against roots (nil: not verified).
func handshake(t *testing.T, cfg *tls.Config, roots *x509.CertPool) (*x509.Certificate, error) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{ServerName: "localhost", RootCAs: roots,
		InsecureSkipVerify: roots == nil, MinVersion: tls.VersionTLS12}) //nolint:gosec // nil roots: the test checks the certificate itself
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestCertDir: the folder's pair is served, verified by its CA, and a rewritten pair is served on
// the next connection without a restart.
func TestCertDir(t *testing.T) {
	dir := t.TempDir()
	first := writePair(t, dir, 1)
	cfg, err := TLSConfig(dir, testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || strings.Join(cfg.NextProtos, ",") != "http/1.1" {
		t.Errorf("TLS config: min version %x, protocols %v", cfg.MinVersion, cfg.NextProtos)
	}
	roots := x509.NewCertPool()
	roots.AddCert(first)
	got, err := handshake(t, cfg, roots)
	if err != nil || got.SerialNumber.Int64() != 1 {
		t.Fatalf("first pair: %v, serial %v", err, got)
	}
	// The same size and maybe the same second as the first pair: the modification time is
	// moved on, as a real rewrite later would.
	second := writePair(t, dir, 2)
	later := time.Now().Add(time.Minute)
	for _, f := range []string{CertFile, KeyFile} {
		if err := os.Chtimes(filepath.Join(dir, f), later, later); err != nil {
			t.Fatal(err)
		}
	}
	roots.AddCert(second)
	if got, err := handshake(t, cfg, roots); err != nil || got.SerialNumber.Int64() != 2 {
		t.Fatalf("after the rewrite: %v, serial %v, want 2", err, got)
	}
	// A broken rewrite keeps the last good pair.
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := handshake(t, cfg, roots); err != nil || got.SerialNumber.Int64() != 2 {
		t.Errorf("after a broken key: %v, serial %v, want the last good pair (2)", err, got)
	}
}

// TestSelfSigned: without a folder a certificate for localhost is made.
func TestSelfSigned(t *testing.T) {
	cfg, err := TLSConfig("", testr.New(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := handshake(t, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(got)
	if _, err := got.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots}); err != nil {
		t.Errorf("self-signed certificate: %v", err)
	}
	if !slices.ContainsFunc(got.IPAddresses, net.IPv4(127, 0, 0, 1).Equal) {
		t.Errorf("IP SANs %v lack 127.0.0.1", got.IPAddresses)
	}
}

// TestCertDirMissing and TestValidate: what the flags get wrong stops the binary with its name.
func TestCertDirMissing(t *testing.T) {
	_, err := TLSConfig(t.TempDir(), testr.New(t))
	if err == nil || !strings.Contains(err.Error(), "--metrics-cert-dir") || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestValidate(t *testing.T) {
	if err := (Options{CertDir: "/x"}).Validate(); err == nil || !strings.Contains(err.Error(), "--metrics-secure") {
		t.Errorf("cert dir without secure: %v", err)
	}
	for _, o := range []Options{{}, {Secure: true}, {Secure: true, CertDir: "/x"}} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
