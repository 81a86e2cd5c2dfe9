package testenv

import (
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Kubeconfig writes a kubeconfig for the API server into the test's temporary folder and returns
// its path: for a binary under test, started with --kubeconfig as an operator would.
func (e *Env) Kubeconfig(t testing.TB) string {
	t.Helper()
	return WriteKubeconfig(t, e.Config, "")
}

// WriteKubeconfig writes a kubeconfig with cfg's credentials into the test's temporary folder and
// returns its path. server, when set, replaces cfg.Host: a lab reaches the API server through an
// address of its own.
func WriteKubeconfig(t testing.TB, cfg *rest.Config, server string) string {
	t.Helper()
	if server == "" {
		server = cfg.Host
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return path
}
