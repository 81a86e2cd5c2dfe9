#!/usr/bin/env bash
# Builds a Debian root filesystem holding one FRR release line (and BIRD) with mmdebstrap, into the
# cache outside the work tree, and prints its directory. Tests run that root's daemons with chroot
# inside their network namespaces; `make images` turns its tarball into the FRR image of that version.
#
#   hack/frr-root.sh SUITE        # bookworm (FRR 8.4), trixie (FRR 10.3); prints DIR
#   hack/frr-root.sh --no-build SUITE   # prints DIR, fails when it is not built
#
# DIR holds rootfs.tar (what mmdebstrap wrote), root/ (the same, unpacked, for chroot) and
# VERSION (FRR's package version, read from the root). DIR is keyed by suite and by the package list
# below, so changing the list builds a new root; a second call with DIR complete builds nothing.
set -euo pipefail
build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
suite=${1:?usage: hack/frr-root.sh [--no-build] SUITE}
packages="frr,frr-pythontools,bird2,iproute2,iputils-ping,procps,tini,ca-certificates"
cache=${ROUTELB_CACHE:-/var/cache/routelb}
key=$(printf '%s %s' "$suite" "$packages" | sha256sum | cut -c1-12)
dir="$cache/frr-root/$suite-$key"
if [ -f "$dir/VERSION" ] && [ -d "$dir/root/usr/lib/frr" ]; then
  echo "$dir"; exit 0
fi
[ "$build" = 1 ] || { echo "FRR root for $suite is not built in $dir (run hack/frr-root.sh $suite)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install mmdebstrap" >&2; exit 1; }
# The same mirror apt uses on this machine (no other host is reachable).
mirror=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1=="deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "no Debian mirror found in apt's sources" >&2; exit 1; }
tmp="$dir.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp/root"
trap 'rm -rf "$tmp"' EXIT
echo "building the $suite root ($packages) into $dir (about 40 s)" >&2
mmdebstrap --quiet --variant=minbase --include="$packages" "$suite" "$tmp/rootfs.tar" "$mirror" >&2
tar -C "$tmp/root" -xf "$tmp/rootfs.tar"
chroot "$tmp/root" dpkg-query -W -f='${Version}\n' frr > "$tmp/VERSION"
rm -rf "$dir"; mv "$tmp" "$dir"; trap - EXIT
echo "$dir"
