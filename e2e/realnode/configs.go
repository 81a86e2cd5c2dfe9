package realnode

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeConfigs writes every file init.sh and the node's processes read, into n.Dir.
func (n *Node) writeConfigs() error {
	files := map[string]string{
		"containerd.toml":            n.containerdConfig(),
		"cni/net.d/10-pods.conflist": n.cniConfig(),
		"kubelet.yaml":               n.kubeletConfig(),
		"kube-proxy.yaml":            n.kubeProxyConfig(),
		"admission.yaml":             admissionConfig,
		"env":                        n.envFile(),
	}
	for name, text := range files {
		p := filepath.Join(n.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// containerdConfig: CRI with the local pause image (no registry), runc with cgroupfs, and
// restrict_oom_score_adj because these machines lack CAP_SYS_RESOURCE (runc fails on pause's -998).
func (n *Node) containerdConfig() string {
	return fmt.Sprintf(`version = 2
root = %q
state = "/run/containerd/state"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(n.Dir, "containerd"), PauseImage, filepath.Join(n.Dir, "cni/net.d"))
}

// cniConfig: a bridge inside the node's namespace, pods in the node's PodCIDR (198.18.0.0/15).
func (n *Node) cniConfig() string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "realnode-pods",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, n.PodCIDR)
}

// kubeletConfig: cgroup v1 with cgroupfs under a cgroup root of this node's own, image garbage
// collection off (the imported images cannot be pulled again), eviction thresholds that a busy test
// machine never crosses.
func (n *Node) kubeletConfig() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %s
cgroupsPerQOS: true
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
address: %s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %s}
authorization: {mode: AlwaysAllow}
podCIDR: %s
clusterDomain: cluster.local
resolvConf: ""
failSwapOn: false
protectKernelDefaults: false
maxPods: 40
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
evictionPressureTransitionPeriod: 5s
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
fileCheckFrequency: 5s
shutdownGracePeriod: 0s
`, n.cgroupRoot, n.IP, n.pki.path("ca.crt"), n.PodCIDR)
}

// kubeProxyConfig: iptables mode in the node's namespace. Conntrack sizes and timeouts are left as
// they are (0): they are machine-wide or not the node's to change.
func (n *Node) kubeProxyConfig() string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
hostnameOverride: %s
clusterCIDR: %s
clientConnection: {kubeconfig: %s}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, n.Name, n.PodCIDR, n.kubeconfig())
}

// admissionConfig makes Pod Security "baseline" the cluster default, as on managed clusters, so a
// chart that forgets to label its namespace privileged fails here as it would there.
const admissionConfig = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults: {enforce: baseline, enforce-version: latest, warn: baseline, warn-version: latest}
    exemptions: {}
`

func (n *Node) envFile() string {
	p := n.pki.path
	apiserver := []string{
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=" + n.IP, "--advertise-address=" + n.IP, "--secure-port=6443",
		"--tls-cert-file=" + p("apiserver.crt"), "--tls-private-key-file=" + p("apiserver.key"),
		"--client-ca-file=" + p("ca.crt"),
		"--service-cluster-ip-range=" + ServiceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p("sa.pub"), "--service-account-signing-key-file=" + p("sa.key"),
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		"--kubelet-client-certificate=" + p("admin.crt"), "--kubelet-client-key=" + p("admin.key"),
		"--admission-control-config-file=" + filepath.Join(n.Dir, "admission.yaml"),
		// The node name does not resolve (no DNS here): reach the kubelet by its InternalIP.
		"--kubelet-preferred-address-types=InternalIP",
	}
	kcm := []string{
		"--kubeconfig=" + n.kubeconfig(), "--leader-elect=false", "--bind-address=127.0.0.1",
		"--root-ca-file=" + p("ca.crt"), "--service-account-private-key-file=" + p("sa.key"),
		"--use-service-account-credentials=true", "--service-cluster-ip-range=" + ServiceCIDR,
		"--cluster-signing-cert-file=" + p("ca.crt"), "--cluster-signing-key-file=" + p("ca.key"),
	}
	return fmt.Sprintf("ETCD=%q\nKUBE_BIN=%q\nNODE_NAME=%q\nNODE_IP=%q\nNODE_LABELS=%q\nAPISERVER_ARGS=%q\nKCM_ARGS=%q\n",
		n.etcd, n.kubeBin, n.Name, n.IP, n.labels(), strings.Join(apiserver, " "), strings.Join(kcm, " "))
}
