#!/usr/bin/env bash
# run.sh: the status page's browser test ("make test-page").
#
#   tools/statuspage/run.sh
#
# Installs what is missing (idempotent): Debian's chromium (apt-get), the
# pinned playwright-core (npm ci here, from package-lock.json; it drives the
# installed chromium and downloads no browser), the DMR stand-in
# (tools/dmr-standin/setup.sh).  Then runs test.mjs, which prints one line
# per check and "page: N checks, M failed", and exits 0 when none failed.
#
# Environment: NGINX_BIN, OLLA_MODULE (the module .so; default
# build/debian/ngx_olla_dmr_module.so), CHROMIUM (default /usr/bin/chromium).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

say() { echo "statuspage: $*" >&2; }
fail() { echo "statuspage: $*" >&2; exit 2; }

command -v node >/dev/null 2>&1 || fail "node not found (Node.js 20 or newer)"
command -v npm >/dev/null 2>&1 || fail "npm not found"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
    [ "${CHROMIUM:-}" = "" ] || fail "CHROMIUM=$chromium is not executable"
    say "installing Debian's chromium"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends chromium fonts-dejavu-core >/dev/null \
        || fail "apt-get install chromium failed"
fi

lock_sum="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
stamp="$here/node_modules/.statuspage-installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    say "npm ci (playwright-core, pinned in package-lock.json)"
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) \
        || fail "npm ci failed in tools/statuspage"
    echo "$lock_sum" > "$stamp"
fi

"$root/tools/dmr-standin/setup.sh" >&2 || fail "tools/dmr-standin/setup.sh failed"

cd "$root"
exec node "$here/test.mjs"
