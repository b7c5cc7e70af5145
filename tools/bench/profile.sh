#!/usr/bin/env bash
# tools/bench/profile.sh TARGET BODY [SECONDS]: where an nginx worker's time
# goes on one bench row, with perf (DWARF call graphs).
#
#   TARGET  plain | plain-keep | dmr | passthrough | translation
#   BODY    1k | 50k | 1m | stream
#
# Reuses the configs and bodies of the last `make bench` run
# (build/bench/run.*), starts the backend and that nginx, drives the row
# with wrk (-t1 -c8) and records the workers for SECONDS (default 4).
# Writes build/bench/profile-TARGET-BODY.txt: self time by symbol, then
# inclusive time (children) by symbol.
#
# Debian's libjansson is stripped: its internals show as addresses.  With
# JANSSON_LIB=/dir/holding/libjansson.so.4 (a build of the same version with
# -g, linked with -Wl,--default-symver) nginx runs with that one instead.
# perf comes from Debian's linux-perf package (installed when missing).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tools/bench
out=$top/build/bench
nginx=${NGINX_BIN:-/usr/sbin/nginx}
target=${1:?usage: profile.sh plain|plain-keep|dmr|passthrough|translation 1k|50k|1m|stream [SECONDS]}
body=${2:?usage: profile.sh TARGET BODY [SECONDS]}
secs=${3:-4}

run=$(ls -d "$out"/run.* 2>/dev/null | head -1)
[ -n "$run" ] && [ -f "$run/olla/nginx.conf" ] || { echo "profile: run make bench first" >&2; exit 1; }
if ! command -v perf >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi

. "$here/target.sh"
bench_target "$target" || { echo "profile: unknown target $target" >&2; exit 2; }
case $target in
    plain*)      [ "$body" = stream ] && f=oai-stream || f=oai-$body
                 path=/engines/v1/chat/completions ;;
    dmr)         [ "$body" = stream ] && f=oai-stream || f=oai-$body
                 path=/olla/dmr/engines/v1/chat/completions ;;
    *)           [ "$body" = stream ] && f=anth-stream || f=anth-$body
                 path=/olla/anthropic/v1/messages ;;
esac
[ -f "$run/bodies/$f.json" ] || { echo "profile: no body $f" >&2; exit 2; }

hdr=""
[ "$body" = stream ] && hdr="X-Bench-Events: 20"

backend_pid=""; nginx_pid=""
cleanup() {
    local w=""
    if [ -n "$nginx_pid" ]; then
        w=$(pgrep -P "$nginx_pid" || true)
        kill -TERM "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
        for p in $w; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
    fi
    if [ -n "$backend_pid" ]; then
        kill "$backend_pid" 2>/dev/null || true
        wait "$backend_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

"$out/benchd" -p 20001-20030 2>/dev/null &
backend_pid=$!
if [ -n "${JANSSON_LIB:-}" ]; then
    env LD_LIBRARY_PATH="$JANSSON_LIB" ${tunables:+GLIBC_TUNABLES=$tunables} \
        "$nginx" -p "$run/$name" -c "$run/$name/nginx.conf" &
else
    env ${tunables:+GLIBC_TUNABLES=$tunables} \
        "$nginx" -p "$run/$name" -c "$run/$name/nginx.conf" &
fi
nginx_pid=$!

# the row answers 200 before anything is recorded (the endpoints probed)
for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
               ${hdr:+-H "$hdr"} --data-binary @"$run/bodies/$f.json" \
               "http://127.0.0.1:$port$path" || true)
    [ "$code" = 200 ] && break
    sleep 0.2
done
[ "$code" = 200 ] || { echo "profile: the row answers $code, not 200" >&2; exit 1; }
workers=$(pgrep -P "$nginx_pid" | paste -sd,)

BENCH_BODY=$run/bodies/$f.json BENCH_HEADERS=$hdr \
    wrk -t1 -c8 -d$((secs + 2))s -s "$here/post.lua" "http://127.0.0.1:$port$path" \
    > "$out/profile.wrk" &
wrk_pid=$!
sleep 1
perf record -q -F 999 --call-graph dwarf,32768 -p "$workers" \
    -o "$out/profile.data" -- sleep "$secs" 2>/dev/null
wait "$wrk_pid"
if grep -q 'err_status=[1-9]' "$out/profile.wrk"; then
    echo "profile: wrk saw errors (see $out/profile.wrk)" >&2
fi

report=$out/profile-$target-$body.txt
set +e +o pipefail          # head closes the pipes early
{
    echo "# $target $body: $(grep -o 'rps=[0-9.]*' "$out/profile.wrk") (under perf)"
    echo "# self time"
    perf report -i "$out/profile.data" --no-children --stdio --sort dso,sym -g none 2>/dev/null \
        | grep -E '^ +[0-9]' | head -40
    echo "# inclusive time"
    perf report -i "$out/profile.data" --children --stdio --sort sym -g none 2>/dev/null \
        | grep -E '^ +[0-9]' | grep -v ' 0x0000' | head -80
} > "$report"
cat "$report"
echo "profile: $report" >&2
