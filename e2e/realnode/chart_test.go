package realnode

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/netlab"
)

const (
	nodeASN   = 64512
	routerASN = 64500
	routerIP  = "198.51.100.1"
	nodeIP    = "198.51.100.10"
	node2IP   = "198.51.100.11"
	node2Name = "node2"
	clientIP  = "198.51.100.50"
	bgpPool   = "203.0.113.0/28"
	l2Pool    = "203.0.113.16/28"
	release   = "routelb"
	chartNS   = "metallb-system"
)

// frrImages are the FRR images the chart is tested with (hack/images.sh builds both from Debian).
var frrImages = []struct{ name, tag, archive string }{
	{"frr8.4", "8.4.4", "frr-8.4.4.tar"},
	{"frr10.3", "10.3", "frr-10.3.tar"},
}

// TestChartOnRealNode installs the chart as shipped on a real kubelet, once per FRR image, and
// checks what a new user sees: pods Running and Ready, the webhook refusing an overlapping pool,
// vtysh through kubectl exec, the VIP at the router, HTTP over the BGP and the L2 VIP, a clean BGP
// close on a rolling restart, and nothing of routelb's left after helm uninstall.
func TestChartOnRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node (root, containerd, kubelet): not in -short")
	}
	images := imageArchives(t)
	repo, tag := routelbImage(t)
	lab := netlab.New(t)
	lab.Reserve(bgpPool, l2Pool, "198.18.1.0/24", "198.18.2.0/24", ServiceCIDR)
	router := lab.AddHost("router", routerIP+"/24")
	client := lab.AddHost("client", clientIP+"/24")
	nodeHost := lab.AddHost("node1", nodeIP+"/24")
	node2Host := lab.AddHost(node2Name, node2IP+"/24")
	router.MustRun("sysctl", "-qw", "net.ipv4.ip_forward=1")
	// A node has a default route; without one even the kubernetes Service IP is unreachable from
	// host-network pods (the route lookup fails before kube-proxy's DNAT).
	nodeHost.MustRun("ip", "route", "add", "default", "via", routerIP)
	node2Host.MustRun("ip", "route", "add", "default", "via", routerIP)
	client.MustRun("ip", "route", "add", bgpPool, "via", routerIP)
	client.MustRun("ip", "route", "add", l2Pool, "dev", "eth0")
	rtr := lab.StartFRR(router, "router", routerConfig())

	begin := time.Now()
	node := Start(t, nodeHost, Options{Images: images})
	t.Logf("node %s Ready, images imported, %v after start", node.Name, time.Since(begin).Round(time.Millisecond))
	begin = time.Now()
	node2 := Start(t, node2Host, Options{Images: images, Join: node, PodCIDR: "198.18.2.0/24"})
	t.Logf("node %s joined, Ready, %v after start", node2.Name, time.Since(begin).Round(time.Millisecond))
	startWeb(t, node)

	for i, img := range frrImages {
		t.Run(img.name, func(t *testing.T) {
			c := &chartRun{t: t, node: node, rtr: rtr, client: client, frrTag: img.tag, image: repo, tag: tag, strictFirst: i == 0}
			c.install()
			c.checkWebhook()
			c.applyObjects()
			c.checkMetalLBViews()
			c.checkVtysh()
			c.checkBGP()
			c.checkL2()
			c.l2Failover()
			c.rollingRestart()
			c.uninstall()
		})
	}
}

// imageArchives lists the docker-archives hack/images.sh wrote; a missing one fails with the fix.
func imageArchives(t *testing.T) []string {
	cache := cacheDir()
	var out []string
	names := []string{"pause.tar", "routelb.tar", "web.tar"}
	for _, img := range frrImages {
		names = append(names, img.archive)
	}
	for _, n := range names {
		p := filepath.Join(cache, "images", n)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("image archive %s is missing: run `make images` (make test does): %v", p, err)
		}
		out = append(out, p)
	}
	return out
}

// routelbImage reads the reference hack/images.sh saved the routelb image under (its tag is the
// commit it was built from).
func routelbImage(t *testing.T) (repo, tag string) {
	b, err := os.ReadFile(filepath.Join(cacheDir(), "images", "routelb.ref"))
	if err != nil {
		t.Fatalf("the routelb image's reference: %v (run `make images`)", err)
	}
	ref := strings.TrimSpace(string(b))
	i := strings.LastIndex(ref, ":")
	if i < 0 {
		t.Fatalf("routelb.ref: %q has no tag", ref)
	}
	return ref[:i], ref[i+1:]
}

func cacheDir() string {
	if c := os.Getenv("ROUTELB_CACHE"); c != "" {
		return c
	}
	return "/var/cache/routelb"
}

func routerConfig() string {
	return fmt.Sprintf(`frr defaults traditional
hostname router
log timestamp precision 3
router bgp %d
 bgp router-id %s
 no bgp ebgp-requires-policy
 bgp log-neighbor-changes
 bgp bestpath as-path multipath-relax
 neighbor nodes peer-group
 neighbor nodes remote-as %d
 neighbor nodes timers connect 2
 neighbor %s peer-group nodes
 neighbor %s peer-group nodes
 address-family ipv4 unicast
  maximum-paths 4
 exit-address-family
exit
`, routerASN, routerIP, nodeASN, nodeIP, node2IP)
}

// startWeb runs the backend Deployment in namespace demo, under the cluster's default Pod
// Security level (baseline).
func startWeb(t *testing.T, n *Node) {
	out, err := n.KubectlStdin(webManifest, "apply", "-f", "-")
	if err != nil {
		t.Fatalf("applying the web Deployment: %v\n%s", err, out)
	}
	if out, err := n.Kubectl("-n", "demo", "rollout", "status", "deploy/web", "--timeout=120s"); err != nil {
		t.Fatalf("web Deployment not ready: %v\n%s\n%s", err, out, n.describe("demo", "pods"))
	}
}

const webManifest = `apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: localhost/routelb/web:1
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
`

func (n *Node) describe(ns, what string) string {
	out, _ := n.Kubectl("-n", ns, "describe", what)
	return out
}

// chartRun is one install-to-uninstall pass with one FRR image.
type chartRun struct {
	t      *testing.T
	node   *Node
	rtr    *netlab.FRR
	client *netlab.Host
	frrTag string
	image  string // the routelb image hack/images.sh built: repository and tag
	tag    string
	// strictFirst: the namespace first enforces "baseline", and helm install must refuse it.
	strictFirst bool
}

func helmBin(t *testing.T) string {
	cache := cacheDir()
	bins, _ := filepath.Glob(filepath.Join(cache, "bin", "helm-v*"))
	sort.Strings(bins)
	if len(bins) == 0 {
		t.Fatalf("helm is not in %s/bin: run `make tools` (make test does)", cache)
	}
	return bins[len(bins)-1]
}

func (c *chartRun) helm(args ...string) (string, error) {
	home := c.t.TempDir()
	full := append([]string{"--net=/run/netns/" + c.node.Host.NS, "env",
		"HELM_CONFIG_HOME=" + home, "HELM_CACHE_HOME=" + home, "HELM_DATA_HOME=" + home,
		helmBin(c.t), "--kubeconfig", c.node.Kubeconfig()}, args...)
	out, err := exec.Command("nsenter", full...).CombinedOutput()
	return string(out), err
}

// install runs `helm install` as the README says, then waits for both pods to be Ready.
func (c *chartRun) install() {
	// As the README says: the namespace first, labelled for Pod Security "privileged". A failed
	// pass before this one may still be deleting it.
	if err := waitFor(120*time.Second, func() bool { _, err := c.node.Kubectl("get", "namespace", chartNS); return err != nil }); err != nil {
		c.t.Fatalf("namespace %s from the previous pass is still there", chartNS)
	}
	c.must("create", "namespace", chartNS)
	// Gone before the next run.
	c.t.Cleanup(func() { _, _ = c.node.Kubectl("delete", "namespace", chartNS, "--timeout=90s") })
	if c.strictFirst {
		c.must("label", "namespace", chartNS, "pod-security.kubernetes.io/enforce=baseline")
		out, err := c.helm(c.installArgs()...)
		if err == nil || !strings.Contains(out, "pod-security.kubernetes.io/enforce=privileged") {
			c.t.Fatalf("helm install into a baseline namespace: want a refusal naming the label, got err=%v\n%s", err, out)
		}
		c.t.Logf("helm install into a baseline namespace: %s", strings.TrimSpace(out))
	}
	c.must("label", "namespace", chartNS, "--overwrite", "pod-security.kubernetes.io/enforce=privileged")
	start := time.Now()
	out, err := c.helm(c.installArgs()...)
	if err != nil {
		c.t.Fatalf("helm install: %v\n%s\n%s\n%s\n%s", err, out, c.node.describe(chartNS, "pods"),
			c.logs("app.kubernetes.io/component=controller"), c.logs("app.kubernetes.io/component=speaker"))
	}
	c.t.Logf("helm install --wait returned after %v", time.Since(start).Round(time.Millisecond))
	for _, sel := range []string{"app.kubernetes.io/component=controller", "app.kubernetes.io/component=speaker"} {
		if out, err := c.node.Kubectl("-n", chartNS, "wait", "pod", "-l", sel, "--for=condition=Ready", "--timeout=120s"); err != nil {
			c.t.Fatalf("pods %s not Ready: %v\n%s\n%s\n%s", sel, err, out, c.node.describe(chartNS, "pods"), c.logs(sel))
		}
	}
	c.t.Logf("controller and speaker Ready %v after helm install", time.Since(start).Round(time.Millisecond))
	c.checkQuietStart()
}

// logs returns the current and previous logs of every container of the pods sel selects.
func (c *chartRun) logs(sel string) string {
	cur, _ := c.node.Kubectl("-n", chartNS, "logs", "-l", sel, "--all-containers", "--prefix", "--tail=40")
	prev, _ := c.node.Kubectl("-n", chartNS, "logs", "-l", sel, "--all-containers", "--prefix", "--tail=40", "--previous")
	return "--- logs\n" + cur + "\n--- previous logs\n" + prev
}

// must runs kubectl and fails this pass (not the whole test) on error.
func (c *chartRun) must(args ...string) string {
	c.t.Helper()
	out, err := c.node.Kubectl(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *chartRun) installArgs() []string {
	return []string{"install", release, filepath.Join(RepoRoot(), "charts/routelb"), "--namespace", chartNS,
		"--set", "image.repository=" + c.image, "--set", "image.tag=" + c.tag, "--set", "image.pullPolicy=Never",
		"--set", "frr.image.repository=localhost/routelb/frr", "--set", "frr.image.tag=" + c.frrTag,
		"--set", "frr.image.pullPolicy=Never", "--wait", "--timeout", "180s"}
}

// checkQuietStart: a normal start logs no error and no stack trace in any routelb container.
func (c *chartRun) checkQuietStart() {
	pod := c.speakerPod()
	for _, pc := range [][2]string{{pod, "speaker"}, {pod, "reloader"}, {c.controllerPod(), "controller"}} {
		pod, ctr := pc[0], pc[1]
		out, err := c.node.Kubectl("-n", chartNS, "logs", pod, "-c", ctr)
		if err != nil {
			c.t.Fatalf("logs %s/%s: %v\n%s", pod, ctr, err, out)
		}
		for _, bad := range []string{"goroutine ", "panic", "\"level\":\"error\"", "\tERROR\t"} {
			if strings.Contains(out, bad) {
				c.t.Errorf("container %s logged %q on a normal start:\n%s", ctr, bad, out)
			}
		}
	}
}

// speakerPod is the speaker pod of the first node.
func (c *chartRun) speakerPod() string { return c.pod("speaker", c.node.Name) }

func (c *chartRun) controllerPod() string { return c.pod("controller", "") }

// pod is the one running pod of a component, on node when not empty.
func (c *chartRun) pod(component, node string) string {
	sel := "status.phase=Running"
	if node != "" {
		sel += ",spec.nodeName=" + node
	}
	out := c.must("-n", chartNS, "get", "pod", "-l", "app.kubernetes.io/component="+component,
		"--field-selector="+sel, "-o", "jsonpath={.items[*].metadata.name}")
	f := strings.Fields(out)
	if len(f) != 1 {
		c.t.Fatalf("want one running %s pod, got %q", component, out)
	}
	return f[0]
}

func (c *chartRun) applyObjects() {
	objs := fmt.Sprintf(`apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: %[1]s}
spec: {myASN: %[2]d, peerASN: %[3]d, peerAddress: %[4]s}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: %[1]s}
spec: {addresses: [%[5]s]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: %[1]s}
spec: {ipAddressPools: [bgp]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2, namespace: %[1]s}
spec: {addresses: [%[6]s]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: %[1]s}
spec: {ipAddressPools: [l2]}
---
apiVersion: v1
kind: Service
metadata: {name: web-bgp, namespace: demo, annotations: {metallb.io/address-pool: bgp}}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-l2, namespace: demo, annotations: {metallb.io/address-pool: l2}}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
`, chartNS, nodeASN, routerASN, routerIP, bgpPool, l2Pool)
	if out, err := c.node.KubectlStdin(objs, "apply", "-f", "-"); err != nil {
		c.t.Fatalf("applying pools, peer and Services: %v\n%s", err, out)
	}
}

// checkMetalLBViews: what MetalLB users type works against the installed chart: BGPPeers read as
// v1beta1 (through the controller's conversion webhook) and the ConfigurationStates.
func (c *chartRun) checkMetalLBViews() {
	var out string
	err := waitFor(60*time.Second, func() bool {
		var err error
		out, err = c.node.Kubectl("-n", chartNS, "get", "bgppeers.v1beta1.metallb.io", "router", "-o", "jsonpath={.spec.peerAddress}")
		// kubectl prints the deprecation warning of v1beta1 first.
		return err == nil && strings.HasSuffix(strings.TrimSpace(out), routerIP)
	})
	if err != nil {
		c.t.Fatalf("kubectl get bgppeers.v1beta1.metallb.io: %q", out)
	}
	err = waitFor(60*time.Second, func() bool {
		var err error
		out, err = c.node.Kubectl("-n", chartNS, "get", "configurationstates", "-o", "name")
		return err == nil && strings.Contains(out, "controller") && strings.Contains(out, "speaker-"+c.node.Name)
	})
	if err != nil {
		c.t.Fatalf("kubectl get configurationstates: want the controller's and each speaker's, got %q", out)
	}
}

// checkWebhook: the webhook, reached by the API server through its Service, refuses a second pool
// overlapping the first.
func (c *chartRun) checkWebhook() {
	pools := fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first, namespace: %[1]s}
spec: {addresses: [198.18.200.0/24]}
`, chartNS)
	if out, err := c.node.KubectlStdin(pools, "apply", "-f", "-"); err != nil {
		c.t.Fatalf("applying a pool: %v\n%s", err, out)
	}
	overlap := strings.ReplaceAll(strings.ReplaceAll(pools, "first", "second"), "198.18.200.0/24", "198.18.200.128/25")
	out, err := c.node.KubectlStdin(overlap, "apply", "-f", "-")
	if err == nil || !strings.Contains(out, "denied the request") || !strings.Contains(out, "overlap") {
		c.t.Fatalf("an overlapping pool: want the webhook's denial naming the overlap, got err=%v:\n%s", err, out)
	}
	c.t.Logf("webhook: %s", strings.TrimSpace(out))
	c.must("-n", chartNS, "delete", "ipaddresspool", "first")
}

func (c *chartRun) checkVtysh() {
	var out string
	err := waitFor(60*time.Second, func() bool {
		var err error
		out, err = c.node.Kubectl("-n", chartNS, "exec", c.speakerPod(), "-c", "frr", "--", "vtysh", "-c", "show bgp summary")
		return err == nil && strings.Contains(out, routerIP)
	})
	if err != nil {
		c.t.Fatalf("kubectl exec ... -c frr -- vtysh -c 'show bgp summary': no neighbor %s:\n%s", routerIP, out)
	}
	c.t.Logf("vtysh through kubectl exec:\n%s", out)
}

func (c *chartRun) vip(svc string) string {
	var ip string
	err := waitFor(60*time.Second, func() bool {
		out, err := c.node.Kubectl("-n", "demo", "get", "svc", svc, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
		ip = strings.TrimSpace(out)
		return err == nil && ip != ""
	})
	if err != nil {
		c.t.Fatalf("Service demo/%s got no address:\n%s", svc, c.node.describe("demo", "svc"))
	}
	return ip
}

// checkBGP: the router learns the VIP with the node as next hop, and the client reaches the
// backends through it.
func (c *chartRun) checkBGP() {
	vip := c.vip("web-bgp")
	var out string
	err := waitFor(60*time.Second, func() bool {
		out, _ = c.rtr.Vtysh("-c", "show ip route "+vip+"/32 json")
		return strings.Contains(out, `"protocol":"bgp"`) && strings.Contains(out, `"`+nodeIP+`"`) && strings.Contains(out, `"`+node2IP+`"`)
	})
	if err != nil {
		c.t.Fatalf("router has no ECMP BGP route for %s via %s and %s:\n%s\n%s", vip, nodeIP, node2IP, out, c.rtr.MustVtysh("show bgp summary"))
	}
	c.curl(vip)
}

func (c *chartRun) checkL2() {
	c.curl(c.vip("web-l2"))
}

func (c *chartRun) curl(vip string) {
	var out string
	err := waitFor(30*time.Second, func() bool {
		var err error
		out, err = c.client.Run("curl", "-s", "--max-time", "2", "http://"+vip+"/")
		return err == nil && strings.HasPrefix(out, "web-")
	})
	if err != nil {
		c.t.Fatalf("HTTP to %s from the client: %q", vip, out)
	}
	c.t.Logf("HTTP over %s: served by %s", vip, strings.TrimSpace(out))
}

// neighbor is the part of the router's `show bgp neighbors X json` this test reads.
type neighbor struct {
	State          string `json:"bgpState"`
	LastReset      string `json:"lastResetDueTo"`
	ConnectionsUp  int    `json:"connectionsEstablished"`
	ConnectionsEnd int    `json:"connectionsDropped"`
}

func (c *chartRun) neighbor(ip string) neighbor {
	out, err := c.rtr.Vtysh("-c", "show bgp neighbors "+ip+" json")
	if err != nil {
		c.t.Fatalf("router: %v\n%s", err, out)
	}
	var m map[string]neighbor
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("router: %v\n%s", err, out)
	}
	return m[ip]
}

// rollingRestart: `kubectl rollout restart` of the speaker DaemonSet; the router must see the
// session end with a NOTIFICATION (Cease) from the node, never a hold-timer expiry, and get it
// back with the VIP once the new pod runs.
func (c *chartRun) rollingRestart() {
	ips := []string{nodeIP, node2IP}
	before := map[string]neighbor{}
	for _, ip := range ips {
		// After the L2 failover the replaced pod's FRR may still be connecting.
		if err := waitFor(60*time.Second, func() bool { before[ip] = c.neighbor(ip); return before[ip].State == "Established" }); err != nil {
			c.t.Fatalf("session with %s not Established before the restart: %+v", ip, before[ip])
		}
	}
	nodes := map[string]string{nodeIP: c.node.Name, node2IP: node2Name}
	old := map[string]string{}
	for _, ip := range ips {
		old[ip] = c.pod("speaker", nodes[ip])
	}
	c.must("-n", chartNS, "rollout", "restart", "ds/"+release+"-speaker")
	// The DaemonSet replaces one pod at a time. Each node's close is timed from the moment its old
	// pod is seen terminating (polled, so the figure is an upper bound by one poll).
	deleted, ended := map[string]time.Time{}, map[string]neighbor{}
	closeAfter := map[string]time.Duration{}
	err := waitFor(120*time.Second, func() bool {
		for _, ip := range ips {
			if deleted[ip].IsZero() {
				out, err := c.node.Kubectl("-n", chartNS, "get", "pod", old[ip], "-o", "jsonpath={.metadata.deletionTimestamp}")
				if err != nil || strings.TrimSpace(out) != "" {
					deleted[ip] = time.Now()
				}
			}
			if _, done := ended[ip]; !done {
				if nb := c.neighbor(ip); nb.ConnectionsEnd > before[ip].ConnectionsEnd {
					ended[ip] = nb
					closeAfter[ip] = time.Since(deleted[ip])
				}
			}
		}
		return len(ended) == len(ips)
	})
	if err != nil {
		c.t.Fatalf("the router did not see every session end after the restart: %+v", ended)
	}
	for _, ip := range ips {
		nb := ended[ip]
		c.t.Logf("session with %s closed %v after its speaker pod was deleted (reset reason %q)", ip, closeAfter[ip].Round(time.Millisecond), nb.LastReset)
		if !strings.Contains(nb.LastReset, "Notification received") {
			c.t.Errorf("the router saw %q from %s, want a NOTIFICATION from the node (a clean close)", nb.LastReset, ip)
		}
	}
	if out, err := c.node.Kubectl("-n", chartNS, "rollout", "status", "ds/"+release+"-speaker", "--timeout=120s"); err != nil {
		c.t.Fatalf("speaker rollout: %v\n%s", err, out)
	}
	c.checkBGP()
}

// l2Owner is the node ServiceL2Status names for demo/web-l2.
func (c *chartRun) l2Owner() string {
	out, _ := c.node.Kubectl("get", "servicel2statuses.metallb.io", "-A", "-o",
		`jsonpath={range .items[?(@.status.serviceName=="web-l2")]}{.status.node}{"\n"}{end}`)
	return strings.TrimSpace(out)
}

// l2Failover deletes the speaker pod of the node owning the L2 VIP: the other node takes the VIP
// over and the client's HTTP requests reach the backends again.
func (c *chartRun) l2Failover() {
	var owner string
	if err := waitFor(30*time.Second, func() bool { owner = c.l2Owner(); return owner != "" && !strings.Contains(owner, "\n") }); err != nil {
		c.t.Fatalf("no single owner in ServiceL2Status for demo/web-l2: %q", owner)
	}
	vip := c.vip("web-l2")
	pod := c.pod("speaker", owner)
	start := time.Now()
	c.must("-n", chartNS, "delete", "pod", pod, "--wait=false")
	var now string
	if err := waitFor(30*time.Second, func() bool { now = c.l2Owner(); return now != "" && now != owner }); err != nil {
		c.t.Fatalf("the L2 VIP stayed with %s after its speaker pod was deleted (owner now %q)", owner, now)
	}
	c.t.Logf("L2 VIP %s moved from %s to %s %v after the owner's speaker pod was deleted", vip, owner, now, time.Since(start).Round(time.Millisecond))
	c.curl(vip)
	if out, err := c.node.Kubectl("-n", chartNS, "rollout", "status", "ds/"+release+"-speaker", "--timeout=120s"); err != nil {
		c.t.Fatalf("speaker DaemonSet after the deletion: %v\n%s", err, out)
	}
}

// uninstall: helm uninstall, then nothing of routelb's is left: no pod, no status object, no
// Lease (the leader's included), no webhook configuration, no cluster role.
func (c *chartRun) uninstall() {
	c.must("-n", "demo", "delete", "svc", "web-bgp", "web-l2")
	if out, err := c.helm("uninstall", release, "--namespace", chartNS, "--wait", "--timeout", "120s"); err != nil {
		c.t.Fatalf("helm uninstall: %v\n%s", err, out)
	}
	var left []string
	err := waitFor(60*time.Second, func() bool {
		left = c.leftovers()
		return len(left) == 0
	})
	if err != nil {
		c.t.Fatalf("left behind by helm uninstall: %s", strings.Join(left, ", "))
	}
}

func (c *chartRun) leftovers() []string {
	var left []string
	kinds := "servicebgpstatuses.metallb.io,servicel2statuses.metallb.io,leases.coordination.k8s.io,secrets,configmaps,serviceaccounts,pods"
	list := `jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{"\n"}{end}`
	out, err := c.node.Kubectl("get", kinds, "-n", chartNS, "-o", list)
	if err != nil {
		left = append(left, "listing "+chartNS+": "+out)
	}
	for _, l := range strings.Fields(out) {
		// The namespace's own root CA ConfigMap and default ServiceAccount are Kubernetes'.
		if !strings.HasSuffix(l, "/kube-root-ca.crt") && !strings.HasSuffix(l, "/default") {
			left = append(left, l)
		}
	}
	if out, err := c.node.Kubectl("get", "servicebgpstatuses.metallb.io,servicel2statuses.metallb.io", "-A", "-o", list); err == nil {
		left = append(left, strings.Fields(out)...)
	}
	out, _ = c.node.Kubectl("get", "validatingwebhookconfigurations,clusterroles,clusterrolebindings", "-o", "name")
	for _, l := range strings.Fields(out) {
		if strings.Contains(l, "routelb") {
			left = append(left, l)
		}
	}
	return left
}
