#!/usr/bin/env bash
# tools/bench/faults.sh TARGET BODY [CONNS] [DIRECTIVE]: an nginx worker's
# user and kernel time and its page faults per request on one bench row.
#
#   TARGET     plain | plain-keep | dmr | passthrough | translation
#   BODY       anth-1k | anth-50k | anth-1m | oai-1m | anth-code-1m ... (a
#              file of the last run's bodies/, without .json)
#   CONNS      wrk connections (default 8)
#   DIRECTIVE  an http-level line added to the configuration, e.g.
#              "olla_malloc_keep off;"
#
# Reuses the configs and bodies of the last `make bench` run
# (build/bench/run.*), starts the backend and that nginx (2 workers), 1 s
# of wrk to warm up, then 5 s measured: utime, stime and minflt of the
# workers (/proc/PID/stat) over the requests.  Prints one line:
#   TARGET BODY cCONNS [DIRECTIVE] rps=... user_us=... sys_us=... faults=...
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tools/bench
out=$top/build/bench
nginx=${NGINX_BIN:-/usr/sbin/nginx}
target=${1:?usage: faults.sh TARGET BODY [CONNS] [DIRECTIVE]}
body=${2:?usage: faults.sh TARGET BODY [CONNS] [DIRECTIVE]}
conns=${3:-8}
directive=${4:-}

run=$(ls -d "$out"/run.* 2>/dev/null | head -1)
[ -n "$run" ] && [ -f "$run/olla/nginx.conf" ] || { echo "faults: run make bench first" >&2; exit 1; }
[ -f "$run/bodies/$body.json" ] || { echo "faults: no body $body in $run/bodies" >&2; exit 2; }

. "$here/target.sh"
bench_target "$target" || { echo "faults: unknown target $target" >&2; exit 2; }
case $target:$body in
    plain*:oai*) path=/engines/v1/chat/completions ;;
    plain*:*)    path=/anthropic/v1/messages ;;
    dmr:*)       path=/olla/dmr/engines/v1/chat/completions ;;
    *)           path=/olla/anthropic/v1/messages ;;
esac

dir=$run/faults
rm -rf "$dir"; mkdir -p "$dir/tmp"
sed -e "s|$run/$name/|$dir/|g" -e "s|^http {|http {\n    $directive|" \
    "$run/$name/nginx.conf" > "$dir/nginx.conf"

backend_pid=""; nginx_pid=""
cleanup() {
    if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
    if [ -n "$backend_pid" ]; then kill "$backend_pid" 2>/dev/null || true; wait "$backend_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

"$out/benchd" -p 20001-20030 2>/dev/null &
backend_pid=$!
env ${tunables:+GLIBC_TUNABLES=$tunables} "$nginx" -p "$dir" -c "$dir/nginx.conf" &
nginx_pid=$!

# ready: both workers up, the route answering
for _ in $(seq 1 200); do
    [ -f "$dir/nginx.pid" ] && [ "$(pgrep -c -P "$(cat "$dir/nginx.pid")" || true)" -ge 2 ] \
        && (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
done
workers=$(pgrep -P "$(cat "$dir/nginx.pid")")

snap() {   # user ticks, system ticks, minor faults of the workers
    local w u=0 s=0 f=0 st
    for w in $workers; do
        st=$(sed 's/^.*) //' /proc/"$w"/stat)   # from the state on: field 3
        set -- $st
        f=$((f + $8)); u=$((u + ${12})); s=$((s + ${13}))
    done
    echo "$u $s $f"
}

url=http://127.0.0.1:$port$path
BENCH_BODY=$run/bodies/$body.json wrk -t1 -c"$conns" -d1s -s "$here/post.lua" "$url" >/dev/null
read -r u0 s0 f0 < <(snap)
line=$(BENCH_BODY=$run/bodies/$body.json wrk -t1 -c"$conns" -d5s -s "$here/post.lua" "$url" | grep '^BENCH ')
read -r u1 s1 f1 < <(snap)

n=$(echo "$line" | sed -n 's/^BENCH requests=\([0-9]*\).*/\1/p')
rps=$(echo "$line" | sed -n 's/.* rps=\([0-9.]*\).*/\1/p')
case $line in *err_status=0*) ;; *) echo "faults: errors: $line" >&2 ;; esac
tick=$(getconf CLK_TCK)
awk -v t="$target" -v b="$body" -v c="$conns" -v d="$directive" -v r="$rps" -v n="$n" \
    -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v f=$((f1 - f0)) -v k="$tick" 'BEGIN {
    printf "%s %s c%s%s rps=%s user_us=%.1f sys_us=%.1f faults=%.2f\n", t, b, c,
        (d == "" ? "" : " [" d "]"), r, u * 1e6 / k / n, s * 1e6 / k / n, f / n }'
