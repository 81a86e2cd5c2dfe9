// Package lab builds routelb's lab cluster in network namespaces: a real kube-apiserver and etcd,
// three nodes each running routelb's speaker and reloader binaries beside their own FRR, one
// controller, an upstream FRR router (ECMP, BFD), a second router for misconfiguration tests and a
// client, all on one bridge. The e2e tests, `make demo` and the lab benchmarks share it. docs/lab.md
// describes the topology and how to look at it.
package lab

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/routelb/routelb/internal/netlab"
	"github.com/routelb/routelb/internal/testing/testenv"
)

// Addresses of the lab. The seed document's 192.168.1.0/24 is mapped onto documentation ranges
// (network safety: 192.168.1.0/24 may be real on some machine): router .1, nodes .101-.103.
const (
	LANPrefix     = "198.51.100.0/24"
	RouterAddr    = "198.51.100.1"
	BadRouterAddr = "198.51.100.2" // router2: a real BGP router the lab misconfigures a peer for
	ClientAddr    = "198.51.100.50"
	VIPRange      = "203.0.113.0/24"
	BGPPoolRange  = "203.0.113.192/26" // holds 203.0.113.250, the seed's 192.168.1.250
	L2PoolRange   = "203.0.113.128/26" // on-link for the client
	ScaleRange    = "198.18.0.0/15"
	RouterASN     = 64512
	NodeASN       = 64513
	Router2ASN    = 64514
	HTTPPort      = 80
)

// NodeNames are the lab's Kubernetes nodes.
var NodeNames = []string{"node1", "node2", "node3"}

// Node is one lab node: a namespace with its FRR, speaker and reloader.
type Node struct {
	Name      string
	Addr      string
	Host      *netlab.Host
	FRR       *netlab.FRR // the node's routing daemon: FRR, or BIRD with Options.Daemon "bird"
	BIRD      *netlab.BIRD
	RenderDir string // the speaker's --config-dir: frr.conf and the reloader's status
	Speaker   *Proc
	Reloader  *Proc
	MAC       string
}

// ConfPath is the node's rendered frr.conf.
func (n *Node) ConfPath() string {
	if n.BIRD != nil {
		return filepath.Join(n.RenderDir, "bird.conf")
	}
	return filepath.Join(n.RenderDir, "frr.conf")
}

// Cluster is a running lab.
type Cluster struct {
	R          *Runner
	Lab        *netlab.Lab
	Env        *testenv.Env
	Client     client.Client
	Router     *netlab.Host
	RouterFRR  *netlab.FRR
	Router2    *netlab.Host
	Router2FRR *netlab.FRR
	ClientHost *netlab.Host
	Nodes      []*Node
	Controller *Proc
	Dir        string // logs, rendered configs, kubeconfig
	Bin        string
	Kubeconfig string

	// SpeakerArgs are extra flags for every speaker (e.g. Layer 2 mode's), set before Start.
	SpeakerArgs []string
	// L2Memberlist: routelb's speakers run with --l2-memberlist (Options.L2Memberlist).
	L2Memberlist bool

	out     io.Writer
	mu      sync.Mutex
	procs   []*Proc
	proxies []*apiProxy
	servers []net.Listener
	kp      *kubeProxy
	vipDev  string             // where nodes hold VIPs: ProxyInterface, or lo without the dummy module
	bird    bool               // nodes run BIRD instead of FRR
	frr     *netlab.FRRVersion // the nodes' FRR; nil: the host's
}

// Options configure Start.
type Options struct {
	Out         io.Writer // progress lines; nil: discard
	SpeakerArgs []string
	// Daemon is the nodes' routing daemon, as the speaker's --routing-daemon: "frr" (default) or
	// "bird". The routers run FRR either way.
	Daemon string
	// FRR10 runs the nodes' FRR from Debian 13's root (netlab.FRR10) instead of the host's 8.4, and
	// their reloaders inside that root with its vtysh and frr-reload.py, as in the FRR image.
	FRR10 bool
	// ServiceCIDR is the API server's --service-cluster-ip-range; empty: envtest's, which holds ~250
	// Services (the bulk benchmarks need thousands).
	ServiceCIDR string
	// L2Memberlist runs routelb's speakers with --l2-memberlist, bound to their node's address with
	// one shared key, as the chart does with l2.memberlist.enabled (docs/layer2.md, "Through an API
	// server outage").
	L2Memberlist bool
}

// Start builds the whole lab. Everything it creates is torn down by r's cleanups, in reverse order.
func Start(r *Runner, o Options) *Cluster {
	c := &Cluster{R: r, out: o.Out, SpeakerArgs: o.SpeakerArgs, L2Memberlist: o.L2Memberlist, bird: o.Daemon == "bird"}
	if o.FRR10 {
		c.frr = netlab.FRR10(r)
	}
	if c.out == nil {
		c.out = io.Discard
	}
	start := time.Now()
	// envtest and the clients log through controller-runtime; the binaries' logs are in their files.
	ctrllog.SetLogger(logr.Discard())
	c.Lab = netlab.New(r)
	c.Lab.Reserve(VIPRange, ScaleRange)
	r.Cleanup(func() {
		if r.Failed() {
			c.Dump(r.Logf)
		}
	})
	c.Dir = filepath.Join(c.Lab.Dir, "e2e")
	c.Bin = filepath.Join(c.Dir, "bin")
	for _, d := range []string{c.Bin, filepath.Join(c.Dir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			r.Fatalf("lab: %v", err)
		}
	}
	c.progress("building routelb's binaries")
	c.build()
	c.progress("creating namespaces (prefix %s)", c.Lab.Prefix)
	c.addHosts()
	c.progress("starting kube-apiserver and etcd")
	c.Env = testenv.Start(r, func(e *envtest.Environment) {
		if o.ServiceCIDR != "" {
			e.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", o.ServiceCIDR)
		}
	})
	c.Client = c.Env.Client
	c.writeKubeconfig()
	// Registered after testenv and netlab, so it runs before them: processes and proxies go first.
	r.Cleanup(c.stopAll)
	c.startProxies()
	c.createNodes()
	c.progress("starting FRR: router, router2 and one instance per node")
	c.startRouters()
	c.startDataPath()
	c.progress("starting controller, speakers and reloaders")
	c.startRoutelb()
	c.progress("applying the metallb.io objects (pools, BFD profile, BGP peer, advertisements)")
	c.applyBaseObjects()
	c.progress("waiting for the BGP sessions")
	c.Eventually(r, 90*time.Second, c.allSessionsUp)
	c.progress("lab up in %.1fs", time.Since(start).Seconds())
	return c
}

func (c *Cluster) progress(format string, args ...any) {
	_, _ = fmt.Fprintf(c.out, "lab: %s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func (c *Cluster) build() {
	cmd := exec.Command("go", "build", "-o", c.Bin+"/", "./cmd/...")
	cmd.Dir = testenv.RepoRoot()
	// Static, as in the image: the reloader also runs inside FRR roots with another libc.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		c.R.Fatalf("lab: go build ./cmd/... failed: %v\n%s", err, out)
	}
}

func (c *Cluster) addHosts() {
	c.Router = c.Lab.AddHost("router", RouterAddr+"/24")
	c.Router2 = c.Lab.AddHost("router2", BadRouterAddr+"/24")
	for i, name := range NodeNames {
		addr := fmt.Sprintf("198.51.100.%d", 101+i)
		n := &Node{Name: name, Addr: addr, Host: c.Lab.AddHost(name, addr+"/24")}
		n.RenderDir = filepath.Join(c.Dir, "rendered", name)
		n.MAC = c.mac(n.Host)
		c.Nodes = append(c.Nodes, n)
	}
	c.ClientHost = c.Lab.AddHost("client", ClientAddr+"/24")
	// The router forwards, hashes flows on ports too (one client, many connections, all nodes used)
	// and sends no redirects: a redirect would teach the client to bypass it for the VIP.
	c.sysctl(c.Router, "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0")
	c.sysctl(c.ClientHost, "net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.eth0.accept_redirects=0")
	c.ClientHost.MustRun("ip", "route", "add", "default", "via", RouterAddr)
	// Layer 2 VIPs are on the client's link: it ARPs for them and keeps a neighbour entry.
	c.ClientHost.MustRun("ip", "route", "add", L2PoolRange, "dev", "eth0")
}

func (c *Cluster) sysctl(h *netlab.Host, kv ...string) {
	h.MustRun(append([]string{"sysctl", "-q", "-w"}, kv...)...)
}

func (c *Cluster) mac(h *netlab.Host) string {
	out := h.MustRun("cat", "/sys/class/net/eth0/address")
	return strings.TrimSpace(out)
}

// writeKubeconfig writes the envtest admin credentials as a kubeconfig for the binaries.
func (c *Cluster) writeKubeconfig() {
	cfg := c.Env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["lab"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData,
		Token: cfg.BearerToken}
	kc.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "admin"}
	kc.CurrentContext = "lab"
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, c.Kubeconfig); err != nil {
		c.R.Fatalf("lab: writing kubeconfig: %v", err)
	}
}

// apiHostPort is the API server's host:port, the same inside node namespaces thanks to the proxies.
func (c *Cluster) apiHostPort() string {
	host := c.Env.Config.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		c.R.Fatalf("lab: API server URL %q: %v", c.Env.Config.Host, err)
	}
	return u.Host
}

func (c *Cluster) startProxies() {
	hp := c.apiHostPort()
	for _, n := range c.Nodes {
		p, err := startAPIProxy(n.Host.NS, hp)
		if err != nil {
			c.R.Fatalf("lab: %v", err)
		}
		c.mu.Lock()
		c.proxies = append(c.proxies, p)
		c.mu.Unlock()
	}
}

func (c *Cluster) startRoutelb() {
	logs := filepath.Join(c.Dir, "logs")
	n1 := c.Nodes[0]
	// The controller runs like a pod on node1; metrics and probes listen in node1's namespace.
	ctl, err := startProc("controller", n1.Host.NS, logPath(logs, "controller"), filepath.Join(c.Bin, "controller"),
		"--kubeconfig", c.Kubeconfig, "--disable-webhook", "--leader-elect=true")
	c.track(ctl, err)
	c.Controller = ctl
	for _, n := range c.Nodes {
		c.startNodeProcs(n)
	}
}

func (c *Cluster) startNodeProcs(n *Node) {
	logs := filepath.Join(c.Dir, "logs")
	if err := os.MkdirAll(n.RenderDir, 0o755); err != nil {
		c.R.Fatalf("lab: %v", err)
	}
	args := []string{filepath.Join(c.Bin, "speaker"), "--kubeconfig", c.Kubeconfig, "--node-name", n.Name,
		"--config-dir", n.RenderDir}
	if n.BIRD != nil {
		args = append(args, "--routing-daemon", "bird")
	}
	if c.L2Memberlist {
		args = append(args, c.memberlistArgs(n)...)
	}
	sp, err := startProc(n.Name+"/speaker", n.Host.NS, logPath(logs, n.Name+"/speaker"), append(args, c.SpeakerArgs...)...)
	c.track(sp, err)
	n.Speaker = sp
	rlArgs := append([]string{filepath.Join(c.Bin, "reloader"), "--config", n.ConfPath(), "--debounce", "50ms",
		"--scratch-dir", filepath.Join(c.Dir, "scratch")}, reloaderArgs(n)...)
	if n.FRR != nil && n.FRR.Version.Chrooted() {
		rlArgs = c.inRoot(n, rlArgs)
	}
	rl, err := startProc(n.Name+"/reloader", n.Host.NS, logPath(logs, n.Name+"/reloader"), rlArgs...)
	c.track(rl, err)
	n.Reloader = rl
}

// memberlistArgs are the chart's flags for l2.memberlist.enabled: memberlist on the node's address
// (the pod IP of a host-network pod), the key from a file every speaker shares, as the chart's
// Secret is.
func (c *Cluster) memberlistArgs(n *Node) []string {
	secret := filepath.Join(c.Dir, "memberlist-secretkey")
	if _, err := os.Stat(secret); err != nil {
		if err := os.WriteFile(secret, []byte("lab-l2-memberlist-"+c.Lab.Prefix), 0o600); err != nil {
			c.R.Fatalf("lab: %v", err)
		}
	}
	return []string{"--l2-memberlist", "--l2-memberlist-bind-addr", n.Addr, "--l2-memberlist-secret-file", secret}
}

// CutAPI cuts node from the API server (cut true) or gives it back: its proxy closes every
// connection it carries and every new one, so the speaker (and the controller, on node1) lose
// their watches and cannot write, while the node's LAN keeps working.
func (c *Cluster) CutAPI(node string, cut bool) error {
	ns := c.Node(node).Host.NS
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.proxies {
		if p.ns == ns {
			p.setCut(cut)
			return nil
		}
	}
	return fmt.Errorf("lab: no API proxy for %s", node)
}

// APIAddr is the API server's host:port, as the nodes reach it through their proxies.
func (c *Cluster) APIAddr() string { return c.apiHostPort() }

func (c *Cluster) track(p *Proc, err error) {
	if err != nil {
		c.R.Fatalf("lab: %v", err)
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
}

// stopAll ends every process the lab started (by PID) and the in-process servers and proxies.
func (c *Cluster) stopAll() {
	c.mu.Lock()
	procs, proxies, servers, kp := c.procs, c.proxies, c.servers, c.kp
	c.mu.Unlock()
	if kp != nil {
		kp.stop()
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop() }()
	}
	wg.Wait()
	for _, p := range proxies {
		p.Close()
	}
	for _, l := range servers {
		_ = l.Close()
	}
}

// Node returns the node of that name.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.R.Fatalf("lab: no node %q", name)
	return nil
}

// NodeByAddr returns the node with that LAN address, or nil.
func (c *Cluster) NodeByAddr(addr string) *Node {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// NodeByMAC returns the node whose eth0 has that MAC address, or nil.
func (c *Cluster) NodeByMAC(mac string) *Node {
	for _, n := range c.Nodes {
		if strings.EqualFold(n.MAC, mac) {
			return n
		}
	}
	return nil
}

// Short is the lab's generous bound for one step (a route, a session, a VIP): tests assert
// behaviour; the benchmarks measure time.
const Short = 60 * time.Second

// Eventually polls cond every 100 ms until it returns nil; after timeout it fails through tb.
func (c *Cluster) Eventually(tb interface{ Fatalf(string, ...any) }, timeout time.Duration, cond func() error) {
	if err := Poll(timeout, cond); err != nil {
		tb.Fatalf("lab: condition not met after %v: %v", timeout, err)
	}
}

// Poll is Eventually returning the last error instead of failing.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inRoot runs the reloader inside the node's FRR root, as the chart runs it inside the FRR image:
// the binary is copied into the instance's directory there, its scratch directory moves there too,
// and every path is given as the chrooted process sees it. The rendered directory is already inside
// the root (startRouters).
func (c *Cluster) inRoot(n *Node, args []string) []string {
	dir := n.FRR.ScratchDir()
	bin := filepath.Join(dir, "reloader")
	data, err := os.ReadFile(args[0])
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err != nil {
		c.R.Fatalf("lab: %v", err)
	}
	args[0] = bin
	root := n.FRR.Version.Root
	for i, a := range args {
		if i > 0 && args[i-1] == "--scratch-dir" {
			a = filepath.Join(dir, "scratch")
		}
		args[i] = strings.TrimPrefix(a, root)
	}
	return append([]string{"chroot", root}, args...)
}

// reloaderArgs points the node's reloader at its daemon, as the chart's sidecar does.
func reloaderArgs(n *Node) []string {
	if n.BIRD != nil {
		return []string{"--routing-daemon", "bird", "--bird-config", n.BIRD.ConfPath, "--bird-socket", n.BIRD.Socket,
			"--bird", "bird", "--birdc", "birdc"}
	}
	return []string{"--pathspace", n.FRR.Pathspace, "--frr-config-dir", n.FRR.ConfigDir}
}
