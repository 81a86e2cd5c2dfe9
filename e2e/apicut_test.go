package e2e

import (
	"context"
	"testing"
	"time"

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
	conn, err := lab.DialIn(ctx, c.Node(node).Host.NS, "tcp", c.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if err := c.CutAPI(node, true); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.CutAPI(node, false) }()
	// The server says nothing before the client's TLS hello: only the cut can end this read early.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := conn.Read(make([]byte, 1)); err == nil || time.Since(start) > 4*time.Second {
		t.Errorf("connection opened before the cut: read returned %v after %v, want it closed at once", err, time.Since(start))
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
