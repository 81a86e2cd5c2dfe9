#!/bin/bash
# PID 1 of one real node: started by the test inside the node's network namespace with
# `unshare --mount --pid --fork --mount-proc`, so every process below, and every container the
# kubelet starts, shares the node's network, a private mount namespace and one PID namespace that
# ends when this script is killed (SIGKILL: the kernel then kills the whole namespace).
#
# usage: init.sh NODEDIR   (NODEDIR/env names the binaries and files; see node.go)
set -euo pipefail
d=$1
# shellcheck source=/dev/null
. "$d/env"

# Private views of what the node writes: pod network namespaces and sockets (/run), kubelet, CNI
# and containerd state (/var/lib), pod logs (/var/log). Nothing reaches the machine's own paths.
mount --make-rprivate /
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/netns /run/containerd "$d/var-lib" "$d/var-log"
mount --bind "$d/var-lib" /var/lib
mount --bind "$d/var-log" /var/log
mkdir -p /var/lib/kubelet /var/lib/cni /var/log/pods

# The kubelet sets these machine-wide sysctls at start; each is a file bound over the entry, so its
# writes land in the node's directory instead of the machine's kernel.
mkdir -p "$d/sysctl"
for f in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
  copy="$d/sysctl/${f//\//.}"
  cat "/proc/sys/$f" > "$copy"
  mount --bind "$copy" "/proc/sys/$f"
done

start() { # NAME CMD...: in the background, output to NODEDIR/log/NAME.log
  local name=$1; shift
  "$@" > "$d/log/$name.log" 2>&1 &
  echo $! > "$d/log/$name.pid"
}
wait_for() { # FILE: up to 60 s
  for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.1; done
  echo "init: $1 did not appear" >&2; return 1
}

mkdir -p "$d/log"
ip link set lo up
start etcd "$ETCD" --data-dir "$d/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster "default=http://127.0.0.1:2380" \
  --log-level warn
start containerd containerd --config "$d/containerd.toml"
# shellcheck disable=SC2086
start kube-apiserver "$KUBE_BIN/kube-apiserver" $APISERVER_ARGS
start kube-controller-manager "$KUBE_BIN/kube-controller-manager" $KCM_ARGS
start kube-scheduler "$KUBE_BIN/kube-scheduler" --kubeconfig "$d/admin.kubeconfig" \
  --leader-elect=false --bind-address=127.0.0.1
wait_for /run/containerd/containerd.sock
start kubelet "$KUBE_BIN/kubelet" --config "$d/kubelet.yaml" --kubeconfig "$d/admin.kubeconfig" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --node-labels "$NODE_LABELS" -v 1
start kube-proxy "$KUBE_BIN/kube-proxy" --config "$d/kube-proxy.yaml"
echo ready > "$d/log/init.started"
# Reaps whatever is reparented to PID 1 (container shims) until the test kills this process.
while true; do wait || true; sleep 1; done
