#!/usr/bin/env bash
# Runs every benchmark behind docs/benchmarks.md. Figures are printed, never asserted; copy them into
# docs/benchmarks.md with the machine's load noted. Run as root (real daemons, network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${KUBEBUILDER_ASSETS:?run through 'make bench', which sets it}"
run() { echo; echo "== $*"; "$@"; }

# Reloader vs frr-reload.py on the same FRR daemons (docs/benchmarks.md, "Reloader vs frr-reload.py").
run go test -run '^$' -bench ReloadVsFrrReload -benchtime 1x -timeout 30m ./reloader/
run go test -run '^$' -bench Delta10k ./reloader/

# Bulk changes of rendered configs vs bare network lines, FRR 8.4 and 10.x (docs/benchmarks.md, "Bulk changes").
run go test -run '^$' -bench Bulk -benchtime 1x -timeout 60m ./frrtemplates/

# frr.conf rendering: 10,000 VIPs x 4 peers (docs/benchmarks.md, "BGP rendering").
run go test -run '^$' -bench 'Render|Compute|BuildNode' -benchtime 10x -count 3 ./frrtemplates/

# The speaker binary at 10,000 Services: RSS, CPU, cold start to a complete frr.conf (docs/benchmarks.md,
# "Speaker at 10,000 Services"). Its last reading is 15 minutes after the speaker's start
# (ROUTELB_BENCH_LATE), once client-go has let go of the startup's events.
run go test -tags bench -run '^$' -bench BenchmarkSpeakerBGP10k -benchtime 1x -timeout 60m ./controllers/speaker/

# bird.conf rendering and BIRD applies at 1,000 and 10,000 VIPs (docs/benchmarks.md, "BIRD").
run go test -run '^$' -bench 'Render|Apply' -benchtime 10x -count 3 ./birdtemplates/
run go test -run '^$' -bench Bulk -benchtime 1x -count 2 -timeout 30m ./birdtemplates/

# Layer 2 take-over (SIGKILL/SIGTERM) and API writes for 1,000 VIPs on 3 nodes (docs/benchmarks.md, "Layer 2").
run go test -count=1 -run '^$' -bench '^BenchmarkL2' -benchtime 1x -timeout 30m ./controllers/

# IPAM: cold start to 5,000 Services allocated against the real API server (docs/benchmarks.md, "IPAM").
run go test -tags bench -run '^$' -bench BenchmarkIPAMColdStart -benchtime 1x -timeout 30m ./controllers/

# Daemon restart recovery: bgpd, zebra and bfdd killed -9 twenty times each, both FRR versions
# (docs/benchmarks.md, "Daemon restart recovery"); make test runs 5 kills each.
run go test -count=1 -run TestRestartChaos -timeout 40m ./reloader/ -chaos-kills 20

# The lab's figures, routelb and MetalLB v0.15.2 side by side on one lab: Service -> VIP reachable, L2
# take-over, BGP link-down with BFD, bulk changes, API writes, speaker RSS (docs/benchmarks.md, "Lab figures").
run go run ./e2e/cmd/bench -runs 5

# Layer 2 through API server outages, routelb (--l2-memberlist) and MetalLB v0.15.2 (memberlist) on one
# lab (docs/benchmarks.md, "Layer 2", "Through an API server outage").
run go run ./e2e/cmd/bench -outage-only -scale 0 -runs 1

# Live migration from MetalLB at 200 Services (docs/benchmarks.md, "Migration from MetalLB"); make test
# runs it at 60, which fits its time budget.
run go test -count=1 -run TestMigrationFromMetalLB -timeout 30m ./e2e/ -migration-services 200

# The order of removals and additions in one large delta, and +1 onto 10,000 (docs/benchmarks.md, "Bulk changes").
run go run ./e2e/cmd/bench -only order
