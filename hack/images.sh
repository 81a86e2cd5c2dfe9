#!/usr/bin/env bash
# Builds the images the chart runs, with podman and no registry, and writes each as a docker-archive
# (podman save) into $ROUTELB_CACHE/images/, for `ctr -n k8s.io images import` on a node:
#   routelb   FROM scratch: static /controller, /speaker, /reloader (built here with CGO off)
#   frr       one per tested FRR line, from the Debian roots of hack/frr-root.sh (8.4 bookworm, 10.3 trixie)
#   bird      BIRD 2 from the bookworm root
#   pause     hack/pause, containerd's sandbox image for a node with no registry
#   web       hack/web, the HTTP backend of the real-node test's Services
# Prints "NAME ARCHIVE" per image. An image whose inputs did not change is neither rebuilt nor saved
# again. Users with docker build the routelb image from the Dockerfile instead.
#
#   hack/images.sh            # IMAGE= TAG= name the routelb image (the Makefile passes them)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${ROUTELB_CACHE:-/var/cache/routelb}
out="$cache/images"
image=${IMAGE:-ghcr.io/routelb/routelb}
tag=${TAG:-dev}
command -v podman >/dev/null || { echo "podman is missing: apt-get install podman" >&2; exit 1; }
mkdir -p "$out"
ctx=$(mktemp -d "$out/.ctx.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# save NAME REF: writes ARCHIVE unless it already holds REF's current image ID.
save() {
  local name=$1 ref=$2 id
  id=$(podman image inspect --format '{{.Id}}' "$ref")
  if [ ! -f "$out/$name.tar" ] || [ "$(cat "$out/$name.id" 2>/dev/null)" != "$id" ]; then
    rm -f "$out/$name.tar"
    podman save --quiet --format docker-archive -o "$out/$name.tar.tmp" "$ref"
    mv "$out/$name.tar.tmp" "$out/$name.tar"
    echo "$id" > "$out/$name.id"
  fi
  # The reference the archive holds, for tests that import it (e2e/realnode).
  echo "$ref" > "$out/$name.ref"
  echo "$ref $out/$name.tar"
}

# build REF CONTEXT: a FROM scratch or FROM local-image Containerfile in CONTEXT, no RUN steps (runc
# here cannot raise rlimits, hence no run at all). --layers reuses an unchanged result.
build() {
  podman build --quiet --layers --pull=never -t "$1" "$2" >/dev/null
}

# routelb: the Go binaries, static so /reloader also runs inside the FRR and BIRD images.
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/routelb/" ./cmd/controller ./cmd/speaker ./cmd/reloader
cat > "$ctx/routelb/Containerfile" <<'CF'
FROM scratch
COPY controller speaker reloader /
# The controller's user; the chart runs the speaker as root with only NET_RAW (see the chart README).
USER 65532:65532
ENTRYPOINT ["/controller"]
CF
build "$image:$tag" "$ctx/routelb"
save routelb "$image:$tag"

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/pause/pause" ./hack/pause
printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' > "$ctx/pause/Containerfile"
build localhost/routelb/pause:1 "$ctx/pause"
save pause localhost/routelb/pause:1

CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/web/web" ./hack/web
printf 'FROM scratch\nCOPY web /web\nUSER 65532:65532\nENTRYPOINT ["/web"]\n' > "$ctx/web/Containerfile"
build localhost/routelb/web:1 "$ctx/web"
save web localhost/routelb/web:1

# frr-base REF ROOT: the root's tarball as a one-layer image, imported once per root (its directory
# name is keyed by suite and package list).
frr_base() {
  local ref=$1 root=$2
  if ! podman image exists "$ref"; then
    podman import --quiet "$root/rootfs.tar" "$ref" >/dev/null
  fi
}

for suite in bookworm trixie; do
  root=$(hack/frr-root.sh "$suite")
  version=$(cut -d- -f1 < "$root/VERSION")   # 8.4.4, 10.3
  base="localhost/routelb/debian-root:$(basename "$root")"
  frr_base "$base" "$root"
  mkdir -p "$ctx/frr-$suite"
  # The chart's contract (see charts/routelb/README.md): /usr/lib/frr/frrinit.sh, /usr/bin/vtysh,
  # /usr/lib/frr/frr-reload.py, /bin/sh; FRR's own files come from the chart's ConfigMap.
  cat > "$ctx/frr-$suite/Containerfile" <<CF
FROM $base
LABEL org.opencontainers.image.title="FRR $version (Debian $suite) for routelb" \
      org.opencontainers.image.version="$(cat "$root/VERSION")"
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["/usr/lib/frr/docker-start"]
CF
  # docker-start as in the upstream image, for running the image by hand.
  printf '#!/bin/bash\nsource /usr/lib/frr/frrcommon.sh\nexec /usr/lib/frr/watchfrr $(daemon_list)\n' > "$ctx/frr-$suite/docker-start"
  chmod 755 "$ctx/frr-$suite/docker-start"
  echo 'COPY docker-start /usr/lib/frr/docker-start' >> "$ctx/frr-$suite/Containerfile"
  build "localhost/routelb/frr:$version" "$ctx/frr-$suite"
  save "frr-$version" "localhost/routelb/frr:$version"
  if [ "$suite" = bookworm ]; then
    mkdir -p "$ctx/bird"
    printf 'FROM %s\nLABEL org.opencontainers.image.title="BIRD 2 (Debian %s) for routelb"\nENTRYPOINT ["/usr/sbin/bird", "-f"]\n' "$base" "$suite" > "$ctx/bird/Containerfile"
    build localhost/routelb/bird:2-bookworm "$ctx/bird"
    save bird localhost/routelb/bird:2-bookworm
  fi
done
