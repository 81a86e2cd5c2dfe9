#!/usr/bin/env bash
# Builds MetalLB's speaker (go.universe.tf/metallb/speaker, from the Go module proxy) into the same
# cache as hack/metallb-controller.sh, for the lab's side-by-side benchmarks and the migration test
# (e2e/lab/metallb*.go), and prints the directory. Pinned by version; a second call builds nothing.
# Nothing of MetalLB enters the work tree: the tools module lives in a temporary directory.
set -euo pipefail
version=${METALLB_VERSION:-v0.15.2}
cache=${ROUTELB_CACHE:-/var/cache/routelb}
dir="$cache/metallb/$version"
if [ ! -x "$dir/speaker" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$dir"
  (
    cd "$work"
    printf 'module metallbbuild\n\ngo 1.24\n' > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.universe.tf/metallb/speaker"\n' > tools.go
    go get "go.universe.tf/metallb/speaker@$version" >&2
    # Static: the speaker runs in the host's namespaces only, but a static binary does not depend on
    # the host's libc matching the one it was built against.
    CGO_ENABLED=0 go build -o "$dir/speaker.tmp" go.universe.tf/metallb/speaker >&2
    mv "$dir/speaker.tmp" "$dir/speaker"
  )
fi
echo "$dir"
