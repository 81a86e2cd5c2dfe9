package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ProxyInterface is the dummy interface holding VIPs on every node, as kube-proxy's IPVS mode does
// (lo where the kernel has no dummy interfaces).
const ProxyInterface = "kube-ipvs0"

// startDataPath makes every node deliver VIP traffic locally, as kube-proxy in IPVS mode would: VIPs
// are addresses of a dummy interface, and arp_ignore=1/arp_announce=2 keep the kernel from answering
// ARP for them on eth0 (else every node would answer in Layer 2 mode). Behind the VIP, an HTTP server
// answers with the node's name, so the client sees which node served it.
func (c *Cluster) startDataPath() {
	for _, n := range c.Nodes {
		c.vipDev = ProxyInterface
		if _, err := n.Host.Run("ip", "link", "add", ProxyInterface, "type", "dummy"); err != nil {
			// No dummy module on this kernel: lo holds them instead, the classic LVS direct-routing
			// setup, with the same ARP behaviour under arp_ignore=1.
			c.vipDev = "lo"
		} else {
			n.Host.MustRun("ip", "link", "set", ProxyInterface, "up")
		}
		c.sysctl(n.Host, "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
			"net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.eth0.arp_announce=2")
		ln, err := ListenIn(n.Host.NS, fmt.Sprintf(":%d", HTTPPort))
		if err != nil {
			c.R.Fatalf("lab: HTTP server in %s: %v", n.Name, err)
		}
		c.mu.Lock()
		c.servers = append(c.servers, ln)
		c.mu.Unlock()
		name := n.Name
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintln(w, name)
		})}
		go func() { _ = srv.Serve(ln) }()
	}
	cs, err := kubernetes.NewForConfig(c.Env.Config)
	if err != nil {
		c.R.Fatalf("lab: %v", err)
	}
	c.kp = startKubeProxy(cs, c.Nodes, c.vipDev, c.R.Logf)
}

// kubeProxy keeps every node's ProxyInterface holding exactly the VIPs of LoadBalancer Services.
type kubeProxy struct {
	nodes  []*Node
	dev    string
	logf   func(string, ...any)
	stopCh chan struct{}
	kick   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	have   map[netip.Addr]bool
}

func startKubeProxy(cs kubernetes.Interface, nodes []*Node, dev string, logf func(string, ...any)) *kubeProxy {
	kp := &kubeProxy{nodes: nodes, dev: dev, logf: logf, stopCh: make(chan struct{}), kick: make(chan struct{}, 1),
		have: map[netip.Addr]bool{}}
	f := informers.NewSharedInformerFactory(cs, 0)
	inf := f.Core().V1().Services()
	kickFn := func(any) {
		select {
		case kp.kick <- struct{}{}:
		default:
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: kickFn, DeleteFunc: kickFn, UpdateFunc: func(_, o any) { kickFn(o) },
	})
	lister := inf.Lister()
	f.Start(kp.stopCh)
	kp.wg.Add(1)
	go func() {
		defer kp.wg.Done()
		f.WaitForCacheSync(kp.stopCh)
		for {
			select {
			case <-kp.stopCh:
				return
			case <-kp.kick:
			}
			svcs, err := lister.List(labels.Everything())
			if err != nil {
				continue
			}
			kp.sync(svcs)
		}
	}()
	return kp
}

func (kp *kubeProxy) sync(svcs []*corev1.Service) {
	want := map[netip.Addr]bool{}
	for _, s := range svcs {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		for _, ing := range s.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(ing.IP); err == nil && a.Is4() {
				want[a] = true
			}
		}
	}
	kp.mu.Lock()
	defer kp.mu.Unlock()
	var cmds []string
	for a := range want {
		if !kp.have[a] {
			cmds = append(cmds, fmt.Sprintf("address add %s/32 dev %s", a, kp.dev))
		}
	}
	for a := range kp.have {
		if !want[a] {
			cmds = append(cmds, fmt.Sprintf("address del %s/32 dev %s", a, kp.dev))
		}
	}
	if len(cmds) == 0 {
		return
	}
	script := strings.Join(cmds, "\n") + "\n"
	for _, n := range kp.nodes {
		cmd := exec.Command("ip", "-n", n.Host.NS, "-force", "-batch", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			kp.logf("kube-proxy (lab): %s: %v: %s", n.Name, err, out)
		}
	}
	kp.have = want
}

func (kp *kubeProxy) stop() {
	close(kp.stopCh)
	kp.wg.Wait()
}

// Get fetches http://vip/ from the client namespace on a new connection and returns the body (the
// serving node's name).
func (c *Cluster) Get(ctx context.Context, vip string) (string, error) {
	return GetFrom(ctx, c.ClientHost.NS, vip)
}

// GetFrom fetches http://vip/ from namespace ns on a new connection.
func GetFrom(ctx context.Context, ns, vip string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return DialIn(ctx, ns, network, addr)
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(vip, fmt.Sprint(HTTPPort))+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var b strings.Builder
	buf := make([]byte, 256)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return strings.TrimSpace(b.String()), nil
}

// Spread makes n requests, each on a new connection, and counts the answers per node; failed
// requests are counted under "".
func (c *Cluster) Spread(ctx context.Context, vip string, n int) map[string]int {
	counts := map[string]int{}
	for range n {
		body, err := c.Get(ctx, vip)
		if err != nil {
			body = ""
		}
		counts[body]++
	}
	return counts
}
