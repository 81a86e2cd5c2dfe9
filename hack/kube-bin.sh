#!/usr/bin/env bash
# Builds Kubernetes commands from the k8s.io/kubernetes Go module (hack/kube-tools) into a cache
# outside the work tree, keyed by version, and prints the directory. By default kube-apiserver and
# kubectl (envtest); with --node also kubelet, kube-controller-manager, kube-scheduler and kube-proxy
# (the real node of e2e/realnode). A second call with the binaries present builds nothing. With
# --no-build it only prints the directory, failing when a binary is not there. envtest also wants
# etcd there: Debian's is linked in.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$here/kube-tools/go.mod")
cache=${ROUTELB_CACHE:-/var/cache/routelb}
dir="$cache/kube/$version"
build=yes
cmds=(kube-apiserver kubectl)
for arg in "$@"; do
  case $arg in
    --no-build) build=no ;;
    --node) cmds+=(kube-scheduler kube-proxy kube-controller-manager kubelet) ;;
    *) echo "usage: $0 [--no-build] [--node]" >&2; exit 2 ;;
  esac
done
link_etcd() {
  local etcd
  etcd=$(command -v etcd || true)
  [ -n "$etcd" ] || { echo "etcd is missing: apt-get install etcd-server" >&2; return 1; }
  ln -sf "$etcd" "$dir/etcd"
}
missing=()
for cmd in "${cmds[@]}"; do [ -x "$dir/$cmd" ] || missing+=("$cmd"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ $build = yes ] || { echo "${missing[*]} $version not built in $dir" >&2; exit 1; }
  mkdir -p "$dir"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$version"
  for cmd in "${missing[@]}"; do
    echo "building $cmd $version into $dir (minutes on 2 cores; kubelet ~11 cold)" >&2
    (cd "$here/kube-tools" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv "$dir/$cmd.tmp" "$dir/$cmd"
  done
fi
[ -x "$dir/etcd" ] || link_etcd
echo "$dir"
