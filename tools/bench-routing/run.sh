#!/usr/bin/env bash
# make bench-routing: Olla's routing (least-connections, no residency, no
# affinity) against the module's inference-aware routing (resident models
# first, conversation affinity, pre-warming), side by side in one run, on
# DMR stand-ins with real llama.cpp inference (tools/dmr-standin).
#
#   (a) cold vs resident: a model resident on one stand-in, cold (with a
#       realistic load delay) on the others; cold loads and TTFT
#   (b) concurrent Claude-Code-shaped conversations: TTFT, prompt tokens
#       evaluated vs read from the stand-ins' prompt caches
#   (c) the same with a different system prompt per conversation
#
# Each policy runs on fresh stand-ins and a fresh nginx, the order of the
# policies alternating between workloads.  Prints a markdown report and
# writes it to build/bench-routing/report.md (every request in
# results.json).  About 7-8 minutes on 2 cores.  See
# tools/bench-routing/drive.mjs for the knobs (BR_* environment variables)
# and BENCHMARKS.md for a run.
#
# Needs: the module built (make), Debian's nginx (or NGINX_BIN), Node.js 20+
# and tools/dmr-standin set up (done here when missing; npm registry only).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
say() { printf 'bench-routing: %s\n' "$*" >&2; }
die() { printf 'bench-routing: %s\n' "$*" >&2; exit 1; }

nginx=${NGINX_BIN:-/usr/sbin/nginx}
module=${OLLA_MODULE:-$top/build/debian/ngx_olla_dmr_module.so}
[ -f "$module" ] || die "no module at $module (run make first)"
[ -x "$nginx" ] || die "no nginx at $nginx"
command -v node >/dev/null || die "node not found (Node.js 20 or newer)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
    || die "node $(node --version) is too old: the stand-in needs Node.js 20 or newer"

"$top/tools/dmr-standin/setup.sh" >&2 || die "tools/dmr-standin/setup.sh failed"

mkdir -p "$top/build/bench-routing"
say "machine: $(nproc) cores; $(uptime)"
export NGINX_BIN="$nginx" OLLA_MODULE="$module"
exec node "$top/tools/bench-routing/drive.mjs"
