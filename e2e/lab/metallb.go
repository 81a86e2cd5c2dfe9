package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/internal/testing/testenv"
)

// MetalLB's own controller and speakers (v0.15.2, built by hack/metallb-controller.sh and
// hack/metallb-speaker.sh) run in the lab in place of routelb's, on the same nodes, FRR instances,
// routers, client and API server: the side-by-side benchmarks and the migration test compare the
// two on one lab. The speakers run in FRR mode, each beside its node's FRR, with
// hack/metallb-frr-reloader.sh in the role of the reloader container of MetalLB's speaker pod.
const (
	MetalLBVersion = "v0.15.2"
	// metallbSpeakerLabels is what the speakers' memberlist lists Pods by (--ml-labels), as in
	// MetalLB's manifests.
	metallbSpeakerLabels = "app=metallb,component=speaker"
	metallbMLPort        = 7946
	metallbSpeakerPort   = 7472
	metallbControllerPrt = 7572
)

// MetalLB is MetalLB's controller and speakers running in the lab.
type MetalLB struct {
	Dir        string // the cache directory with MetalLB's binaries
	Controller *Proc
	Speakers   map[string]*Proc // by node name
	Reloaders  map[string]*Proc // by node name
	Conf       map[string]string
	c          *Cluster
}

// MetalLBDir returns the directory holding MetalLB's controller and speaker binaries:
// $ROUTELB_METALLB_DIR when it has both, else the cache the hack scripts build into (built now if
// missing; a cached build returns at once).
func MetalLBDir() (string, error) {
	if d := os.Getenv("ROUTELB_METALLB_DIR"); d != "" && haveMetalLB(d) {
		return d, nil
	}
	var dir string
	for _, script := range []string{"metallb-controller.sh", "metallb-speaker.sh"} {
		cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", script))
		cmd.Env = append(os.Environ(), "METALLB_VERSION="+MetalLBVersion)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return "", fmt.Errorf("hack/%s: %w: %s", script, err, ee.Stderr)
			}
			return "", fmt.Errorf("hack/%s: %w", script, err)
		}
		dir = strings.TrimSpace(string(out))
	}
	if !haveMetalLB(dir) {
		return "", fmt.Errorf("MetalLB's controller or speaker missing in %s", dir)
	}
	return dir, nil
}

func haveMetalLB(dir string) bool {
	for _, b := range []string{"controller", "speaker"} {
		if st, err := os.Stat(filepath.Join(dir, b)); err != nil || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// StopRoutelb stops routelb's controller, speakers and reloaders (SIGTERM, as a pod deletion
// does). The nodes' FRR keeps its running config: the routes stay until the next owner's config
// replaces them or the session goes.
func (c *Cluster) StopRoutelb() {
	for _, p := range c.routelbProcs() {
		p.Stop()
	}
}

// StartRoutelb starts routelb's controller, speakers and reloaders again after StopRoutelb.
func (c *Cluster) StartRoutelb() error {
	for _, p := range c.routelbProcs() {
		if p.Running() {
			continue
		}
		if err := p.Restart(); err != nil {
			return err
		}
	}
	return nil
}

// ClearRendered removes each node's rendered config and reloader status, as a fresh install's
// empty pod volume has none: restarted on the files routelb rendered before it was stopped, each
// reloader applied that stale config at once and withdrew every route MetalLB had announced
// since, until its speaker rendered again (the migration test's BGP gap, docs/benchmarks.md).
func (c *Cluster) ClearRendered() error {
	var errs []error
	for _, n := range c.Nodes {
		for _, f := range []string{n.ConfPath(), filepath.Join(n.RenderDir, "reloader-status.json")} {
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) routelbProcs() []*Proc {
	ps := []*Proc{c.Controller}
	for _, n := range c.Nodes {
		ps = append(ps, n.Speaker, n.Reloader)
	}
	return ps
}

// StartMetalLB starts MetalLB's controller (like a pod on node1) and one speaker per node in FRR
// mode, after creating what MetalLB looks up and a kubelet would have made: the speaker Pods
// (their IPs are how memberlist finds its peers) and the memberlist secret key, mounted as a file.
// Only FRR nodes (the host's FRR) are supported: MetalLB has no BIRD mode.
func (c *Cluster) StartMetalLB(dir string) (*MetalLB, error) {
	if c.bird || (c.frr != nil && c.frr.Chrooted()) {
		return nil, errors.New("lab: MetalLB runs beside the host's FRR only (no BIRD, no FRR root)")
	}
	// The speakers tell their reloaders to apply with SIGHUP. A lab started under nohup has SIGHUP
	// ignored, which its children inherit and bash cannot trap: asking for SIGHUP here makes the
	// children start with the default disposition again (Go resets caught signals on exec).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	m := &MetalLB{Dir: dir, Speakers: map[string]*Proc{}, Reloaders: map[string]*Proc{}, Conf: map[string]string{}, c: c}
	base := filepath.Join(c.Dir, "metallb")
	secretDir := filepath.Join(base, "memberlist")
	if err := os.MkdirAll(secretDir, 0o700); err != nil {
		return nil, err
	}
	// The key only has to be the same on every speaker, as the Secret is.
	if err := os.WriteFile(filepath.Join(secretDir, "secretkey"), []byte("lab-memberlist-"+c.Lab.Prefix), 0o600); err != nil {
		return nil, err
	}
	if err := c.createSpeakerPods(context.Background()); err != nil {
		return nil, err
	}
	logs := filepath.Join(c.Dir, "logs")
	env := []string{"env", "KUBECONFIG=" + c.Kubeconfig}
	ctl, err := startProc("metallb/controller", c.Nodes[0].Host.NS, logPath(logs, "metallb-controller"),
		append(env, filepath.Join(dir, "controller"), "--namespace", NS, "--webhook-mode", "disabled",
			"--port", fmt.Sprint(metallbControllerPrt), "--log-level", "info")...)
	c.track(ctl, err)
	m.Controller = ctl
	for _, n := range c.Nodes {
		if err := m.startNode(n, base, secretDir, env); err != nil {
			return m, err
		}
	}
	return m, nil
}

func (m *MetalLB) startNode(n *Node, base, secretDir string, env []string) error {
	c := m.c
	logs := filepath.Join(c.Dir, "logs")
	shared := filepath.Join(base, n.Name) // the pod's shared /etc/frr_reloader volume
	if err := os.MkdirAll(shared, 0o755); err != nil {
		return err
	}
	pidFile := filepath.Join(shared, "reloader.pid")
	_ = os.Remove(pidFile)
	rl, err := startProc(n.Name+"/metallb-reloader", n.Host.NS, logPath(logs, n.Name+"/metallb-reloader"),
		filepath.Join(testenv.RepoRoot(), "hack", "metallb-frr-reloader.sh"), shared, n.FRR.Pathspace,
		filepath.Join(n.FRR.LogDir, "metallb-frr.log"))
	c.track(rl, err)
	m.Reloaders[n.Name] = rl
	// The speaker signals the PID in the file as soon as it renders: the reloader must be up first.
	if err := Poll(10*time.Second, func() error { _, err := os.Stat(pidFile); return err }); err != nil {
		return fmt.Errorf("MetalLB reloader of %s wrote no pid file: %w\n%s", n.Name, err, rl.Tail(20))
	}
	m.Conf[n.Name] = filepath.Join(shared, "frr.conf")
	args := append(append([]string(nil), env...),
		"METALLB_BGP_TYPE=frr", "FRR_CONFIG_FILE="+m.Conf[n.Name], "FRR_RELOADER_PID_FILE="+pidFile,
		filepath.Join(m.Dir, "speaker"), "--namespace", NS, "--node-name", n.Name, "--pod-name", speakerPod(n.Name),
		"--host", n.Addr, "--port", fmt.Sprint(metallbSpeakerPort),
		"--ml-bindaddr", n.Addr, "--ml-bindport", fmt.Sprint(metallbMLPort), "--ml-labels", metallbSpeakerLabels,
		"--ml-secret-key-path", secretDir, "--log-level", "info")
	sp, err := startProc(n.Name+"/metallb-speaker", n.Host.NS, logPath(logs, n.Name+"/metallb-speaker"), args...)
	c.track(sp, err)
	m.Speakers[n.Name] = sp
	return nil
}

func speakerPod(node string) string { return "metallb-speaker-" + node }

// createSpeakerPods registers one running speaker Pod per node, host-network with the node's
// address, as the DaemonSet's pods would be: MetalLB's memberlist lists Pods by label and joins
// their status.podIP.
func (c *Cluster) createSpeakerPods(ctx context.Context) error {
	// The ServiceAccount admission plugin refuses Pods whose account does not exist; no controller
	// manager creates "default" here.
	sa := &corev1.ServiceAccount{ObjectMeta: meta("default")}
	if err := c.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ServiceAccount %s/default: %w", NS, err)
	}
	lbls := map[string]string{}
	for _, kv := range strings.Split(metallbSpeakerLabels, ",") {
		k, v, _ := strings.Cut(kv, "=")
		lbls[k] = v
	}
	for _, n := range c.Nodes {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: speakerPod(n.Name), Namespace: NS, Labels: lbls},
			Spec: corev1.PodSpec{NodeName: n.Name, HostNetwork: true, AutomountServiceAccountToken: ptr.To(false),
				Containers: []corev1.Container{{Name: "speaker", Image: "quay.io/metallb/speaker:" + MetalLBVersion}}}}
		if err := c.Client.Create(ctx, pod); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Pod %s/%s: %w", NS, pod.Name, err)
		}
		now := metav1.Now()
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: n.Addr, PodIPs: []corev1.PodIP{{IP: n.Addr}},
			HostIP: n.Addr, HostIPs: []corev1.HostIP{{IP: n.Addr}}, StartTime: &now,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}}
		if err := c.Client.Status().Update(ctx, pod); err != nil {
			return fmt.Errorf("status of Pod %s/%s: %w", NS, pod.Name, err)
		}
	}
	return nil
}

// Stop removes MetalLB as an uninstall does: its controller and speakers get SIGTERM, then its
// reloaders stop, and the speaker Pods go. The nodes' FRR keeps MetalLB's last config.
func (m *MetalLB) Stop() error {
	m.Controller.Stop()
	for _, n := range m.c.Nodes {
		m.Speakers[n.Name].Stop()
	}
	for _, n := range m.c.Nodes {
		m.Reloaders[n.Name].Stop()
	}
	ctx := context.Background()
	var errs []error
	for _, n := range m.c.Nodes {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: speakerPod(n.Name), Namespace: NS}}
		if err := m.c.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Speaker is the speaker process of node.
func (m *MetalLB) Speaker(node string) *Proc { return m.Speakers[node] }

// Reloads counts the applies the node's MetalLB reloader logged, and returns the last line.
func (m *MetalLB) Reloads(node string) (int, string) {
	b, err := os.ReadFile(m.Reloaders[node].Log)
	if err != nil {
		return 0, err.Error()
	}
	n, last := 0, ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, " reloaded in ") || strings.Contains(l, " reload failed") {
			n++
			last = l
		}
	}
	return n, last
}
