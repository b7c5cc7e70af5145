#!/usr/bin/env bash
# setup.sh: install the DMR stand-in's dependencies and generate its model.
# Idempotent; a no-op (well under a second) when everything is in place.
#
#   tools/dmr-standin/setup.sh          install if needed, generate if needed
#   tools/dmr-standin/setup.sh --force  reinstall and regenerate
#
# Needs node >= 20 and npm (7 or newer; tested with npm 9.2 and 11).
# Downloads only npm packages pinned by package-lock.json: node-llama-cpp and
# its dependencies (npm ci, optional dependencies omitted, install scripts
# not run), then the one prebuilt llama.cpp CPU package for this machine
# (install-llama-binary.js, integrity checked against the lock).  No CUDA or
# Vulkan package, no build from source, nothing downloaded at run time.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

force=0
[ "${1:-}" = "--force" ] && force=1

say() { echo "dmr-standin setup: $*"; }
fail() { echo "dmr-standin setup: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || fail "node not found (Node.js 20 or newer is needed)"
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || fail "node $(node --version) is too old; node-llama-cpp needs Node.js 20 or newer"

# ---------------------------------------------------------------- npm
lock_sum="$(cat package-lock.json package.json install-llama-binary.js | sha256sum | cut -d' ' -f1)"
stamp="node_modules/.dmr-standin-installed"
if [ "$force" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_sum" ] \
   || [ ! -f node_modules/node-llama-cpp/package.json ]; then
    command -v npm >/dev/null 2>&1 || fail "npm not found (Debian: apt-get install npm)"
    say "npm ci (node-llama-cpp $(node -p 'require("./package.json").dependencies["node-llama-cpp"]'), no optional packages)"
    start=$(date +%s)
    # --ignore-scripts: node-llama-cpp's postinstall would only check its
    # binaries (and, when no prebuilt one fits, download and build
    # llama.cpp); the prebuilt CPU package is used as is.
    NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
    npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error \
        || fail "npm ci failed"
    node install-llama-binary.js || fail "could not install the llama.cpp CPU binary package"
    gpu=$(ls -d node_modules/@node-llama-cpp/*cuda* node_modules/@node-llama-cpp/*vulkan* 2>/dev/null || true)
    [ -z "$gpu" ] || fail "GPU packages were installed: $gpu"
    echo "$lock_sum" > "$stamp"
    say "installed in $(( $(date +%s) - start ))s, node_modules is $(du -sh node_modules | cut -f1)"
    fresh=1
else
    fresh=0
fi

# ---------------------------------------------------------------- model
model="models/tiny-llama.gguf"
if [ "$force" = 1 ] || [ ! -s "$model" ] || [ make-gguf.js -nt "$model" ]; then
    node make-gguf.js --force --out "$model"
    fresh=1
fi

# ---------------------------------------------------------------- check
if [ "$fresh" = 1 ]; then
    node server.js --self-check || fail "self-check failed (see above)"
fi
exit 0
