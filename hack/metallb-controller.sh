#!/usr/bin/env bash
# Builds MetalLB's controller (go.universe.tf/metallb, from the Go module proxy) and copies its CRDs
# into a cache outside the work tree, for the differential IPAM test (controllers/ipam,
# -tags metallbdiff), and prints the directory. v0.15.2 builds from the proxy; v0.16.x does not
# (the proxy refuses github.com/metallb/frr-k8s v0.0.27). A second call builds nothing.
set -euo pipefail
version=${METALLB_VERSION:-v0.15.2}
cache=${ROUTELB_CACHE:-/var/cache/routelb}
dir="$cache/metallb/$version"
if [ ! -x "$dir/controller" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$dir"
  (
    cd "$work"
    printf 'module metallbbuild\n\ngo 1.24\n' > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.universe.tf/metallb/controller"\n' > tools.go
    go get "go.universe.tf/metallb/controller@$version" >&2
    go build -o "$dir/controller" go.universe.tf/metallb/controller >&2
    src=$(go list -m -f '{{.Dir}}' go.universe.tf/metallb)
    mkdir -p "$dir/crds"
    cp "$src"/config/crd/bases/*.yaml "$dir/crds/"
    chmod u+w "$dir/crds"/*.yaml
  )
fi
echo "$dir"
