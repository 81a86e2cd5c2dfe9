package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/routelb/routelb/e2e/lab"
)

// TestCutAPI: the lab's API outages are real for the node cut and for it alone. A connection it
// had open is closed, new requests from it fail, the other nodes still reach the API server, and
// after the restore it does again (the outage benchmark, e2e/lab/outage.go, relies on all four).
func TestCutAPI(t *testing.T) {
	c := use(t)
	const node = "node3"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := handshaken(ctx, t, c, node)
	defer func() { _ = conn.Close() }()
	if err := c.CutAPI(node, true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.CutAPI(node, false) }()
	// The server says nothing before the client's first request: only the cut can end this read
	// before its deadline, and a read that meets the deadline fails with os.ErrDeadlineExceeded.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection opened before the cut: read returned %v, want it closed by the cut", err)
	}
	if err := c.ReachesAPI(node); err == nil {
		t.Errorf("%s reaches the API server while cut", node)
	}
	if err := c.ReachesAPI("node2"); err != nil {
		t.Errorf("node2, not cut: %v", err)
	}
	if err := c.CutAPI(node, false); err != nil {
		t.Fatal(err)
	}
	if err := c.ReachesAPI(node); err != nil {
		t.Errorf("%s after the restore: %v", node, err)
	}
}

// handshaken opens a TLS connection to the API server from inside node, through its proxy: once the
// handshake is done the proxy carries the connection (it has dialled upstream and tracks it), so a
// cut must close it rather than refuse it.
func handshaken(ctx context.Context, t *testing.T, c *lab.Cluster, node string) net.Conn {
	t.Helper()
	raw, err := lab.DialIn(ctx, c.Node(node).Host.NS, "tcp", c.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	tc, err := rest.TLSConfigFor(c.Env.Config)
	if err != nil {
		t.Fatal(err)
	}
	tc.ServerName, _, _ = net.SplitHostPort(c.APIAddr())
	conn := tls.Client(raw, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		t.Fatalf("TLS handshake through %s's proxy: %v", node, err)
	}
	return conn
}
