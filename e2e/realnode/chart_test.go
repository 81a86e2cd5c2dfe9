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
	lab.Reserve(bgpPool, l2Pool, "198.18.1.0/24", ServiceCIDR)
	router := lab.AddHost("router", routerIP+"/24")
	client := lab.AddHost("client", clientIP+"/24")
	nodeHost := lab.AddHost("node1", nodeIP+"/24")
	router.MustRun("sysctl", "-qw", "net.ipv4.ip_forward=1")
	// A node has a default route; without one even the kubernetes Service IP is unreachable from
	// host-network pods (the route lookup fails before kube-proxy's DNAT).
	nodeHost.MustRun("ip", "route", "add", "default", "via", routerIP)
	client.MustRun("ip", "route", "add", bgpPool, "via", routerIP)
	client.MustRun("ip", "route", "add", l2Pool, "dev", "eth0")
	rtr := lab.StartFRR(router, "router", routerConfig())

	begin := time.Now()
	node := Start(t, nodeHost, Options{Images: images})
	t.Logf("node %s Ready, images imported, %v after start", node.Name, time.Since(begin).Round(time.Millisecond))
	startWeb(t, node)

	for i, img := range frrImages {
		t.Run(img.name, func(t *testing.T) {
			c := &chartRun{t: t, node: node, rtr: rtr, client: client, frrTag: img.tag, image: repo, tag: tag, strictFirst: i == 0}
			c.install()
			c.checkWebhook()
			c.applyObjects()
			c.checkVtysh()
			c.checkBGP()
			c.checkL2()
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
 neighbor %s remote-as %d
 neighbor %s timers connect 2
exit
`, routerASN, routerIP, nodeIP, nodeASN, nodeIP)
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
	// As the README says: the namespace first, labelled for Pod Security "privileged".
	c.node.MustKubectl("create", "namespace", chartNS)
	// Gone before the next run.
	c.t.Cleanup(func() { _, _ = c.node.Kubectl("delete", "namespace", chartNS, "--timeout=90s") })
	if c.strictFirst {
		c.node.MustKubectl("label", "namespace", chartNS, "pod-security.kubernetes.io/enforce=baseline")
		out, err := c.helm(c.installArgs()...)
		if err == nil || !strings.Contains(out, "pod-security.kubernetes.io/enforce=privileged") {
			c.t.Fatalf("helm install into a baseline namespace: want a refusal naming the label, got err=%v\n%s", err, out)
		}
		c.t.Logf("helm install into a baseline namespace: %s", strings.TrimSpace(out))
	}
	c.node.MustKubectl("label", "namespace", chartNS, "--overwrite", "pod-security.kubernetes.io/enforce=privileged")
	start := time.Now()
	out, err := c.helm(c.installArgs()...)
	if err != nil {
		c.t.Fatalf("helm install: %v\n%s\n%s", err, out, c.node.describe(chartNS, "pods"))
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

func (c *chartRun) speakerPod() string { return c.pod("speaker") }

func (c *chartRun) controllerPod() string { return c.pod("controller") }

func (c *chartRun) pod(component string) string {
	out := c.node.MustKubectl("-n", chartNS, "get", "pod", "-l", "app.kubernetes.io/component="+component,
		"--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
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
	c.node.MustKubectl("-n", chartNS, "delete", "ipaddresspool", "first")
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
		return strings.Contains(out, `"protocol":"bgp"`) && strings.Contains(out, nodeIP)
	})
	if err != nil {
		c.t.Fatalf("router has no BGP route for %s via %s:\n%s\n%s", vip, nodeIP, out, c.rtr.MustVtysh("show bgp summary"))
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

func (c *chartRun) neighbor() neighbor {
	out, err := c.rtr.Vtysh("-c", "show bgp neighbors "+nodeIP+" json")
	if err != nil {
		c.t.Fatalf("router: %v\n%s", err, out)
	}
	var m map[string]neighbor
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		c.t.Fatalf("router: %v\n%s", err, out)
	}
	return m[nodeIP]
}

// rollingRestart: `kubectl rollout restart` of the speaker DaemonSet; the router must see the
// session end with a NOTIFICATION (Cease) from the node, never a hold-timer expiry, and get it
// back with the VIP once the new pod runs.
func (c *chartRun) rollingRestart() {
	before := c.neighbor()
	if before.State != "Established" {
		c.t.Fatalf("session not Established before the restart: %+v", before)
	}
	start := time.Now()
	c.node.MustKubectl("-n", chartNS, "rollout", "restart", "ds/"+release+"-speaker")
	var nb neighbor
	if err := waitFor(30*time.Second, func() bool { nb = c.neighbor(); return nb.ConnectionsEnd > before.ConnectionsEnd }); err != nil {
		c.t.Fatalf("the router never saw the session end after the restart: %+v", nb)
	}
	down := time.Since(start)
	c.t.Logf("session closed %v after `rollout restart` (reset reason %q)", down.Round(time.Millisecond), nb.LastReset)
	if !strings.Contains(nb.LastReset, "Notification received") {
		c.t.Errorf("the router saw %q, want a NOTIFICATION from the node (a clean close)", nb.LastReset)
	}
	if out, err := c.node.Kubectl("-n", chartNS, "rollout", "status", "ds/"+release+"-speaker", "--timeout=120s"); err != nil {
		c.t.Fatalf("speaker rollout: %v\n%s", err, out)
	}
	c.checkBGP()
}

// uninstall: helm uninstall, then nothing of routelb's is left: no pod, no status object, no
// Lease (the leader's included), no webhook configuration, no cluster role.
func (c *chartRun) uninstall() {
	c.node.MustKubectl("-n", "demo", "delete", "svc", "web-bgp", "web-l2")
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
