package metricsauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// CertFile and KeyFile are the names looked for in --metrics-cert-dir, those of a
// kubernetes.io/tls Secret mounted as a volume.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// TLSConfig is the metrics server's TLS: the certificate in certDir (read again whenever the files
// change, so a renewed Secret is served without a restart), or, with certDir empty, a self-signed
// certificate made now, as controller-runtime's metrics server makes one: the traffic is encrypted,
// and Prometheus is told to skip verification or given the certificate. HTTP/2 is not offered
// (kubebuilder's advice since the HTTP/2 rapid-reset attacks); a scrape needs none of it.
func TLSConfig(certDir string, log logr.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if certDir == "" {
		cert, err := selfSigned()
		if err != nil {
			return nil, fmt.Errorf("generating the metrics server's self-signed certificate: %w", err)
		}
		// Through GetCertificate, as for a folder: controller-runtime then looks for no files of its own.
		cfg.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
		return cfg, nil
	}
	kp := &keyPair{cert: filepath.Join(certDir, CertFile), key: filepath.Join(certDir, KeyFile), log: log}
	if err := kp.load(); err != nil {
		return nil, fmt.Errorf("--metrics-cert-dir %s: %w", certDir, err)
	}
	cfg.GetCertificate = kp.get
	return cfg, nil
}

// keyPair is a certificate and key read from files, read again when either file changes.
type keyPair struct {
	cert, key string
	log       logr.Logger

	mu    sync.Mutex
	stamp [2]stamp
	last  *tls.Certificate
}

type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{fi.ModTime(), fi.Size()}, nil
}

// load reads the pair when the files changed since the last read.
func (k *keyPair) load() error {
	c, err := stampOf(k.cert)
	if err != nil {
		return err
	}
	kk, err := stampOf(k.key)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last != nil && k.stamp == [2]stamp{c, kk} {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		return err
	}
	k.last, k.stamp = &cert, [2]stamp{c, kk}
	return nil
}

// get serves the current pair; a pair that cannot be read (a Secret being rewritten) leaves the
// last good one in use.
func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if err := k.load(); err != nil {
		k.log.Error(err, "Could not read the metrics certificate again; serving the previous one", "cert", k.cert)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last == nil {
		return nil, errors.New("no metrics certificate")
	}
	return k.last, nil
}

// selfSigned makes an ECDSA certificate for localhost, valid for a year (a pod lives shorter; a new
// one is made at every start).
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
