// Package realnode runs a real Kubernetes node inside a network namespace of a netlab lab: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, containerd (runc, CNI bridge), the
// kubelet and kube-proxy, all built from k8s.io/kubernetes (hack/kube-bin.sh --node) or taken from
// Debian. hostNetwork pods land in the node's namespace, so the chart's speaker peers with a lab
// router exactly as on a real machine, and nothing touches the root namespace.
//
// See ../../../shared/notes/real-node.md for why each odd-looking step exists (cgroup v1, no
// CAP_SYS_RESOURCE, private mounts, sysctls the kubelet would otherwise change machine-wide).
package realnode

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routelb/routelb/internal/netlab"
)

// ServiceCIDR is the node's Service range (the kubernetes Service is its first address).
const ServiceCIDR = "198.19.0.0/24"

// PauseImage is containerd's sandbox image, built by hack/images.sh (no registry here).
const PauseImage = "localhost/routelb/pause:1"

//go:embed init.sh
var initScript []byte

// Node is one running node; Start registers its teardown with t.Cleanup.
type Node struct {
	Name    string
	IP      string // the node's InternalIP, on the lab LAN
	PodCIDR string
	Dir     string // configs, certificates, logs (log/*.log), removed at teardown
	Host    *netlab.Host
	Labels  map[string]string

	t          testing.TB
	pki        *pki
	kubeBin    string
	etcd       string
	cgroupRoot string
	cmd        *exec.Cmd // nsenter -> unshare; its child is the node's PID 1
	pid1       int
}

// Options names what differs between nodes.
type Options struct {
	PodCIDR string            // default 198.18.1.0/24
	Labels  map[string]string // node labels
	Images  []string          // docker-archives to import (hack/images.sh)
}

// Start runs a node in host h (whose first IPv4 address becomes the node IP) and waits until the
// API server answers, the node is Ready and the images are imported.
func Start(t testing.TB, h *netlab.Host, opts Options) *Node {
	t.Helper()
	n := &Node{Name: h.Name, IP: h.Addr(4).String(), PodCIDR: opts.PodCIDR, Host: h, Labels: opts.Labels, t: t}
	if n.PodCIDR == "" {
		n.PodCIDR = "198.18.1.0/24"
	}
	if err := n.prepare(); err != nil {
		t.Fatalf("realnode %s: %v", n.Name, err)
	}
	t.Cleanup(n.stop)
	if err := n.start(); err != nil {
		n.dumpLogs()
		t.Fatalf("realnode %s: %v", n.Name, err)
	}
	for _, img := range opts.Images {
		if out, err := n.Exec("ctr", "-n", "k8s.io", "images", "import", "--no-unpack=false", img); err != nil {
			t.Fatalf("realnode %s: importing %s: %v\n%s", n.Name, img, err, out)
		}
	}
	if err := n.waitReady(90 * time.Second); err != nil {
		n.dumpLogs()
		t.Fatalf("realnode %s: %v", n.Name, err)
	}
	return n
}

// RepoRoot is the repository's top directory (tests run in their package's directory).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "../.."))
}

func (n *Node) prepare() error {
	for _, tool := range []string{"containerd", "ctr", "runc", "nsenter", "unshare", "iptables", "/usr/lib/cni/bridge"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing (make test installs containerd runc containernetworking-plugins iptables): %w", tool, err)
		}
	}
	out, err := exec.Command(filepath.Join(RepoRoot(), "hack/kube-bin.sh"), "--no-build", "--node").CombinedOutput()
	if err != nil {
		return fmt.Errorf("node binaries not built (make node-bin): %w: %s", err, out)
	}
	n.kubeBin = strings.TrimSpace(string(out))
	n.etcd = filepath.Join(n.kubeBin, "etcd")
	if n.Dir, err = os.MkdirTemp("", "realnode-"+n.Name+"-"); err != nil {
		return err
	}
	n.cgroupRoot = "/" + filepath.Base(n.Dir)
	if n.pki, err = newPKI(filepath.Join(n.Dir, "pki")); err != nil {
		return err
	}
	ip := net.ParseIP(n.IP)
	svcIP := net.ParseIP("198.19.0.1")
	names := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}
	if err := n.pki.issue("apiserver", "kube-apiserver", nil, []net.IP{ip, svcIP, net.ParseIP("127.0.0.1")}, names, x509ServerAuth); err != nil {
		return err
	}
	if err := n.pki.issue("admin", "admin", []string{"system:masters"}, nil, nil, x509ClientAuth); err != nil {
		return err
	}
	if err := n.pki.serviceAccountKey(); err != nil {
		return err
	}
	if err := n.pki.kubeconfig(n.kubeconfig(), "https://"+net.JoinHostPort(n.IP, "6443")); err != nil {
		return err
	}
	if err := n.makeCgroups(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "init.sh"), initScript, 0o755); err != nil {
		return err
	}
	return n.writeConfigs()
}

func (n *Node) kubeconfig() string { return filepath.Join(n.Dir, "admin.kubeconfig") }

// Kubeconfig is the admin kubeconfig; use it from inside the node's namespace (Kubectl, Helm).
func (n *Node) Kubeconfig() string { return n.kubeconfig() }

func (n *Node) labels() string {
	var kv []string
	for k, v := range n.Labels {
		kv = append(kv, k+"="+v)
	}
	return strings.Join(kv, ",")
}

func (n *Node) start() error {
	n.cmd = exec.Command("nsenter", "--net=/run/netns/"+n.Host.NS,
		"unshare", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child",
		"/bin/bash", filepath.Join(n.Dir, "init.sh"), n.Dir)
	n.cmd.Stdout, n.cmd.Stderr = logFile(n.Dir, "init.log"), logFile(n.Dir, "init.log")
	if err := n.cmd.Start(); err != nil {
		return err
	}
	started := filepath.Join(n.Dir, "log/init.started")
	if err := waitFor(60*time.Second, func() bool { _, err := os.Stat(started); return err == nil }); err != nil {
		return fmt.Errorf("init.sh did not start the node's processes (see %s/init.log)", n.Dir)
	}
	pid, err := childOf(n.cmd.Process.Pid)
	if err != nil {
		return err
	}
	n.pid1 = pid
	return waitFor(60*time.Second, func() bool {
		_, err := n.Kubectl("get", "--raw", "/readyz")
		return err == nil
	})
}

func logFile(dir, name string) *os.File {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil
	}
	return f
}

// childOf returns the one child of unshare: the node's PID 1, as the root PID namespace sees it.
func childOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return 0, fmt.Errorf("unshare (pid %d) has children %q, want one", pid, f)
	}
	return strconv.Atoi(f[0])
}

// Exec runs a command inside the node (its network and mount namespaces), e.g. ctr or crictl.
func (n *Node) Exec(args ...string) (string, error) {
	full := append([]string{"-t", strconv.Itoa(n.pid1), "-m", "-n"}, args...)
	out, err := exec.Command("nsenter", full...).CombinedOutput()
	return string(out), err
}

// Kubectl runs the cached kubectl from the node's network namespace with the admin kubeconfig.
func (n *Node) Kubectl(args ...string) (string, error) {
	return n.InNet(filepath.Join(n.kubeBin, "kubectl"), append([]string{"--kubeconfig", n.kubeconfig()}, args...)...)
}

// KubectlStdin is Kubectl with stdin.
func (n *Node) KubectlStdin(stdin string, args ...string) (string, error) {
	full := append([]string{"--net=/run/netns/" + n.Host.NS, filepath.Join(n.kubeBin, "kubectl"), "--kubeconfig", n.kubeconfig()}, args...)
	cmd := exec.Command("nsenter", full...)
	cmd.Stdin = strings.NewReader(stdin)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// InNet runs a root-namespace program (helm, curl) inside the node's network namespace only.
func (n *Node) InNet(prog string, args ...string) (string, error) {
	full := append([]string{"--net=/run/netns/" + n.Host.NS, prog}, args...)
	out, err := exec.Command("nsenter", full...).CombinedOutput()
	return string(out), err
}

// MustKubectl fails the test on error.
func (n *Node) MustKubectl(args ...string) string {
	n.t.Helper()
	out, err := n.Kubectl(args...)
	if err != nil {
		n.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (n *Node) waitReady(timeout time.Duration) error {
	var last string
	err := waitFor(timeout, func() bool {
		out, err := n.Kubectl("get", "node", n.Name, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}")
		last = out
		return err == nil && out == "True"
	})
	if err != nil {
		return fmt.Errorf("node not Ready after %v (last: %q)", timeout, last)
	}
	// The default ServiceAccount and the root CA ConfigMap: pods wait for both.
	return waitFor(timeout, func() bool {
		_, err1 := n.Kubectl("get", "serviceaccount", "default", "-n", "default")
		_, err2 := n.Kubectl("get", "configmap", "kube-root-ca.crt", "-n", "default")
		return err1 == nil && err2 == nil
	})
}

// GetJSON runs kubectl get ... -o json into v.
func (n *Node) GetJSON(v any, args ...string) error {
	out, err := n.Kubectl(append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		return fmt.Errorf("kubectl get %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return json.Unmarshal([]byte(out), v)
}

func waitFor(timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// gone reports that PID 1 and every process in the node's network namespace have exited.
func (n *Node) gone() bool {
	if n.pid1 > 0 {
		// A zombie counts as gone: whoever inherited it reaps it in its own time.
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.pid1))
		if err == nil && !strings.Contains(string(b), ") Z ") {
			return false
		}
	}
	out, err := exec.Command("ip", "netns", "pids", n.Host.NS).Output()
	return err == nil && strings.TrimSpace(string(out)) == ""
}

// Log returns the tail of one process's log (etcd, kube-apiserver, kubelet, containerd, ...).
func (n *Node) Log(name string, lines int) string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "log", name+".log"))
	l := strings.Split(string(b), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func (n *Node) dumpLogs() {
	for _, p := range []string{"init", "etcd", "kube-apiserver", "containerd", "kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"} {
		n.t.Logf("--- %s %s.log (tail)\n%s", n.Name, p, n.Log(p, 25))
	}
}

// stop kills the node's PID 1 (the kernel then ends every process of the node, containers
// included), waits for its cgroups to empty, removes them and the node's directory.
func (n *Node) stop() {
	if n.t.Failed() {
		n.dumpLogs()
	}
	if n.cmd != nil && n.cmd.Process != nil {
		if n.pid1 > 0 {
			_ = syscall.Kill(n.pid1, syscall.SIGKILL)
		}
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		// The node's mount namespace holds the lab's netns files until its last process is gone;
		// removing the namespaces before that fails with EBUSY.
		if err := waitFor(30*time.Second, n.gone); err != nil {
			n.t.Errorf("realnode %s: processes still running after SIGKILL: %v", n.Name, err)
		}
	}
	if err := n.removeCgroups(30 * time.Second); err != nil {
		n.t.Errorf("realnode %s: %v", n.Name, err)
	}
	if os.Getenv("REALNODE_KEEP") == "" {
		_ = os.RemoveAll(n.Dir)
	} else {
		n.t.Logf("realnode %s: kept %s", n.Name, n.Dir)
	}
}
