#!/usr/bin/env bash
# The lab's stand-in for the reloader container of MetalLB's FRR-mode speaker pod (e2e/lab/metallb.go).
# Same contract as in the pod: the speaker writes DIR/frr.conf and sends SIGHUP to the PID in
# DIR/reloader.pid; this applies the file to the node's FRR with frr-reload.py, checking it first
# (--test) and then reloading. Two lab-specific changes: frr-reload.py is pointed at the node's FRR
# instance (-N PATHSPACE) and at a scratch config dir (its closing `write` must not touch the host's
# /etc/frr), and MetalLB's `log file /etc/frr/frr.log` goes to LOGFILE instead, for the same reason.
# Every apply is logged with its duration, which the benchmarks read.
#
#   metallb-frr-reloader.sh DIR PATHSPACE LOGFILE
set -uo pipefail
export TZ=UTC # the log stamps, from printf %()T
dir=$1 pathspace=$2 logfile=$3
scratch="$dir/scratch"
mkdir -p "$scratch/$pathspace"
echo "service integrated-vtysh-config" > "$scratch/$pathspace/vtysh.conf"
bindir=$(dirname "$(command -v vtysh)")
reload=${FRR_RELOAD:-/usr/lib/frr/frr-reload.py}
pending=0
sleeper=

# No command substitution from here on: bash 5.2 runs a trap's handler inside the parser a `$(...)`
# is using, and a SIGHUP arriving then aborted the script ("reader_loop: bad jump") in the
# migration test, 100 Services in a few seconds. Times come from $EPOCHREALTIME and printf's %()T.
now() { printf -v "$1" '%s' "${EPOCHREALTIME/./}"; }
stamp() { local t=${EPOCHREALTIME/./}; printf '%(%FT%T)T.%03dZ' "${t:0:-6}" "$(( 10#${t: -6} / 1000 ))"; }

apply() {
  local start end conf="$scratch/frr.conf" lines
  now start
  sed "s#^log file /etc/frr/frr.log#log file $logfile#" "$dir/frr.conf" > "$conf"
  if ! "$reload" --test --stdout --confdir "$scratch" --bindir "$bindir" -N "$pathspace" "$conf" > "$scratch/test.out" 2>&1; then
    stamp; echo " reload failed: frr-reload.py --test refused the file"
    tail -20 "$scratch/test.out"
    return
  fi
  if ! "$reload" --reload --stdout --confdir "$scratch" --bindir "$bindir" -N "$pathspace" "$conf" > "$scratch/reload.out" 2>&1; then
    now end
    stamp; echo " reload failed after $(( (end - start) / 1000 )) ms"
    tail -20 "$scratch/reload.out"
    return
  fi
  now end
  mapfile -t lines < "$conf"
  stamp; echo " reloaded in $(( (end - start) / 1000 )) ms (${#lines[@]} lines)"
}

stop() {
  rm -f "$dir/reloader.pid"
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  exit 0
}

trap 'pending=1' HUP
trap stop TERM INT
# No trailing newline: the speaker parses the file with strconv.Atoi.
printf '%s' "$$" > "$dir/reloader.pid"
stamp; echo " reloader for $pathspace, pid $$"
while true; do
  # SIGHUPs during an apply collapse into one more apply, as a debounce would.
  if [ "$pending" = 1 ]; then
    pending=0
    apply
    continue
  fi
  sleep 1 &
  sleeper=$!
  wait "$sleeper" 2>/dev/null
  kill "$sleeper" 2>/dev/null
  sleeper=
done
