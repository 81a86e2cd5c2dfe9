package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on an OS thread that has joined the named network namespace. Sockets created by fn
// belong to that namespace for their whole life, wherever the Go runtime later reads or writes them;
// that is how the lab process serves and dials inside namespaces without touching the root one.
func inNetns(ns string, fn func() error) error {
	target, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		return fmt.Errorf("opening netns %s: %w", ns, err)
	}
	defer func() { _ = target.Close() }()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() { _ = self.Close() }()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and dies with this goroutine rather than serve others from the
		// wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("setns back to the root namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// ListenIn opens a TCP listener inside namespace ns.
func ListenIn(ns, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNetns(ns, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// DialIn connects from inside namespace ns.
func DialIn(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(ns, func() error {
		var err error
		d := net.Dialer{}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// apiProxy makes the API server, which listens on 127.0.0.1 of the root namespace, reachable at the
// same address and port inside a node's namespace: the listener lives in the node's namespace, the
// upstream connections in the root one. The kubeconfig then works unchanged in every namespace
// (same URL, and the serving certificate is valid for 127.0.0.1). It can be cut (setCut), as when
// the node loses its route to the control plane.
type apiProxy struct {
	ns       string
	ln       net.Listener
	upstream string
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	cut      bool
}

func startAPIProxy(ns, upstream string) (*apiProxy, error) {
	ln, err := ListenIn(ns, upstream)
	if err != nil {
		return nil, fmt.Errorf("API proxy in %s: %w", ns, err)
	}
	p := &apiProxy{ns: ns, ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *apiProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.pipe(c)
	}
}

// track registers a connection pair for Close and setCut; false (the caller closes them) once the
// proxy is closed or cut, so a connection accepted just before a cut cannot outlive it.
func (p *apiProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.cut {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *apiProxy) pipe(c net.Conn) {
	defer p.wg.Done()
	if p.isCut() {
		// Accepted (the listener stays open, as the node's loopback does) but closed at once: the
		// client's dial or TLS handshake fails, as it does without a route to the API server.
		_ = c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, up) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	_ = c.Close()
	_ = up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *apiProxy) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// setCut cuts the proxy or restores it. Cutting closes every connection it carries, so watches and
// requests in flight fail at once instead of waiting for their own timeouts (a node that lost its
// route would see them time out later; what matters here is that no request gets through).
func (p *apiProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if !cut {
		return
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *apiProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}
