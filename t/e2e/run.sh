#!/usr/bin/env bash
# t/e2e/run.sh: end-to-end tests with the real client SDKs (openai,
# @langchain/openai, @anthropic-ai/sdk) and coding agents (Claude Code, Codex)
# against nginx + ngx_olla_dmr_module in front of DMR stand-ins
# (tools/dmr-standin: a real llama.cpp engine).
#
#   t/e2e/run.sh                      set up (idempotent) and run every test
#   t/e2e/run.sh t/e2e/05-failover.test.mjs      only these files
#   E2E_REPORTER=spec t/e2e/run.sh    human-friendly output instead of TAP
#
# Environment:
#   OLLA_MODULE   the module .so (default build/debian/ngx_olla_dmr_module.so;
#                 built with `make` when it is missing and OLLA_MODULE is unset)
#   NGINX_BIN     the nginx binary (default /usr/sbin/nginx)
#   OLLA_PROFILES the profiles directory (default the repo's profiles/; set it
#                 with an OLLA_MODULE built from another checkout)
#   E2E_KEEP=1    keep each nginx's temp dir (config, error.log, access.log)
#
# Setup: `npm ci` in t/e2e from package-lock.json (skipped when
# node_modules already matches the lock) and tools/dmr-standin/setup.sh.
# Only the npm registry is needed; nothing is downloaded at test time.
#
# Output: TAP on stdout (setup messages on stderr); it ends with node's
# summary lines "# tests N", "# pass N", "# fail N", ...
# Exit status: 0 when every test passed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

say() { echo "e2e: $*" >&2; }
fail() { echo "e2e: $*" >&2; exit 2; }

# ------------------------------------------------------------------ node
command -v node >/dev/null 2>&1 || fail "node not found (Node.js 20.10 or newer is needed)"
command -v npm >/dev/null 2>&1 || fail "npm not found"
node -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1);
' || fail "node $(node --version) is too old: the tests need Node.js 20.10 or newer (node --test --test-concurrency)"

# ---------------------------------------------------------------- module
nginx_bin="${NGINX_BIN:-/usr/sbin/nginx}"
[ -x "$nginx_bin" ] || fail "nginx not found at $nginx_bin (set NGINX_BIN)"
if [ -z "${OLLA_MODULE:-}" ]; then
    OLLA_MODULE="$root/build/debian/ngx_olla_dmr_module.so"
    if [ ! -f "$OLLA_MODULE" ]; then
        say "module not built yet: make -C $root"
        make -C "$root" >&2 || fail "building the module failed"
    fi
fi
[ -f "$OLLA_MODULE" ] || fail "module not found: $OLLA_MODULE"
export OLLA_MODULE NGINX_BIN="$nginx_bin"

# ------------------------------------------------------------- npm deps
start=$(date +%s)
lock_sum="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
stamp="$here/node_modules/.e2e-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    say "npm ci (openai, @langchain/openai, @langchain/core, @anthropic-ai/sdk, @anthropic-ai/claude-code, @openai/codex, pinned in package-lock.json; about 900 MB with the two agents' native binaries)"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2) || fail "npm ci failed in t/e2e"
    echo "$lock_sum" > "$stamp"
fi

# --------------------------------------------------------------- stand-in
"$root/tools/dmr-standin/setup.sh" >&2 || fail "tools/dmr-standin/setup.sh failed"
say "setup done in $(( $(date +%s) - start ))s"

# ------------------------------------------------------------------ run
if [ $# -gt 0 ]; then
    files=("$@")
else
    files=("$here"/[0-9]*.test.mjs)
fi

# One file at a time: each starts its own stand-ins and nginx, and the
# streaming tests measure arrival times, which a busy CPU would blur.
# --test-timeout: no single test may hang the run.
cd "$root"
exec node --test \
    --test-concurrency="${E2E_CONCURRENCY:-1}" \
    --test-timeout=90000 \
    --test-reporter="${E2E_REPORTER:-tap}" --test-reporter-destination=stdout \
    "${files[@]}"
