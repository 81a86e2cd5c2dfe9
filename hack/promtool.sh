#!/usr/bin/env bash
# Builds promtool from the github.com/prometheus/prometheus Go module (pinned in hack/prom-tools)
# into a cache outside the work tree, keyed by version, and prints its path. A second call with the
# binary present builds nothing; with --no-build it only prints the path, failing when it is missing.
# The chart's PrometheusRule tests (charts/routelb) run `promtool check rules` and `promtool test rules`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1=="require" && $2=="github.com/prometheus/prometheus" {print $3}' "$here/prom-tools/go.mod")
cache=${ROUTELB_CACHE:-/var/cache/routelb}
bin="$cache/bin/promtool-$version"
case ${1:-} in
  "") build=yes ;;
  --no-build) build=no ;;
  *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
esac
if [ ! -x "$bin" ]; then
  [ $build = yes ] || { echo "promtool $version not built at $bin: run $0" >&2; exit 1; }
  mkdir -p "$cache/bin"
  echo "building promtool $version into $bin (minutes on 2 cores; ~25+ on a loaded machine)" >&2
  # remove_all_sd leaves out Prometheus's service discovery plugins (cloud SDKs, most of the build),
  # which rule checks and rule unit tests never use.
  (cd "$here/prom-tools" && CGO_ENABLED=0 go build -tags remove_all_sd -trimpath -ldflags "-s -w" -o "$bin.tmp" \
    github.com/prometheus/prometheus/cmd/promtool)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
