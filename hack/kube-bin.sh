#!/usr/bin/env bash
# Builds kube-apiserver and kubectl from the k8s.io/kubernetes Go module (hack/kube-tools)
# into a cache outside the work tree, keyed by version, and prints the directory.
# A second call with the binaries present builds nothing. With --no-build it only prints the directory,
# failing when the binaries are not there. envtest also wants etcd there: Debian's is linked in.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$here/kube-tools/go.mod")
cache=${ROUTELB_CACHE:-/var/cache/routelb}
dir="$cache/kube/$version"
link_etcd() {
  local etcd
  etcd=$(command -v etcd || true)
  [ -n "$etcd" ] || { echo "etcd is missing: apt-get install etcd-server" >&2; return 1; }
  ln -sf "$etcd" "$dir/etcd"
}
if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/kubectl" ]; then
  [ -x "$dir/etcd" ] || link_etcd
  echo "$dir"; exit 0
fi
[ "${1:-}" != "--no-build" ] || { echo "kube-apiserver $version is not built in $dir" >&2; exit 1; }
mkdir -p "$dir"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$version"
for cmd in kube-apiserver kubectl; do
  echo "building $cmd $version into $dir (several minutes on 2 cores)" >&2
  (cd "$here/kube-tools" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv "$dir/$cmd.tmp" "$dir/$cmd"
done
link_etcd
echo "$dir"
