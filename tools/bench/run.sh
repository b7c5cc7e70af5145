#!/usr/bin/env bash
# make bench: what ngx_olla_dmr_module costs on top of plain nginx.
#
# One run, side by side, against one fast local DMR-like backend (benchd):
#   direct       the backend itself
#   plain        plain nginx proxy_pass + keepalive (the floor)
#   plain-keep   the same plain nginx with glibc's heap set as the module's
#                olla_malloc_keep sets it in its workers (GLIBC_TUNABLES:
#                trim threshold 128m, mmap threshold 32m): without it plain
#                nginx's bodies of 50 KB and more cost page faults that vary
#                from run to run, which the module's workers do not pay; the
#                issue-16 rows run it too, and the report gives the ratios
#                against it beside those against plain
#   dmr          the module, /olla/dmr/engines/v1/chat/completions
#   passthrough  the module, /olla/anthropic/v1/messages to DMR endpoints
#   translation  the module, /olla/anthropic/v1/messages to openai-compatible
#                endpoints (Anthropic -> OpenAI -> Anthropic)
# with wrk (requests/s, p50/p99) and nginx worker CPU per request (from
# /proc/<pid>/stat), streams timed with streamc (time to first event, each
# event's transit time), worker RSS with 1,000 open streams and with one
# 50 MB translated stream, and a burst: 200 streams at once on one endpoint
# with the default configuration (its concurrency limit and olla_queue), all
# must complete; the report says how long the queue made them wait.  Writes
# build/bench/report.md and prints it.
#
# Assumes the module is built (make) and Debian's nginx is installed;
# installs wrk with apt-get when missing.  Knobs (environment):
#   BENCH_DURATION=2     seconds per wrk run
#   BENCH_ROUNDS=3       runs of every wrk row (interleaved); medians reported
#   BENCH_CONNS=8        wrk connections (one wrk thread); latency rows use 1
#   BENCH_CONNS_MANY=32  the connections of the second set of rows
#   BENCH_STREAMS=150    streams per stream-latency run (20 events, 1 ms apart)
#   BENCH_HOLD=1000      streams held open for the RSS measurement
#   BENCH_BURST=200      streams of the burst (10 events, 50 ms apart each)
#   BENCH_ONLY=REGEX     only the rows whose "group label" matches (bash
#                        regex), no stream timing, no memory rows; the burst
#                        runs when "burst" matches; BENCH_ONLY=burst: the
#                        burst alone (a quick check of the queue)
#   NGINX_BIN, OLLA_MODULE   the nginx binary and the module to load
#   OLLA_MODULE_BASE=SO  A/B: an older build of the module (make bench-ab
#                        builds one from BASE_REV, default 0dd5f07); a third
#                        nginx ("base", same settings, ports 21101-21180)
#                        loads it, configured with only the directives that
#                        build knows, and every throughput row of the
#                        routed, passthrough and translation paths (prose
#                        and code bodies, both connection counts) gets a
#                        "-base" row right after it in the same round (first
#                        in even rounds); the report's "Against the base
#                        build" compares worker CPU per request row by row
#   OLLA_PROFILES_BASE=DIR   that build's profiles (the YAML schema changed;
#                        required with OLLA_MODULE_BASE)
#   OLLA_BASE_LABEL=TEXT what the report calls the base build (a revision)
# Ports: 20001-20030 (backend), 20100-20190 (nginx), 20200 and 20210
# (plain-keep), 21101-21180 (the base nginx, with OLLA_MODULE_BASE).
#
# Bodies stay in memory (client_body_buffer_size 2m, both nginx): with a
# small buffer (nginx's default is 8k on x86-64; the "tempfile" rows use
# 16k) a buffered body goes to a temp file, plain nginx sends it upstream
# from there and stalls ~40 ms per request (Nagle on the upstream
# connection against the backend's delayed ACK), which would hide the
# module's cost (the module sends such a body from memory, olla_body_memory,
# and sets TCP_NODELAY on its upstream connections).  The "tempfile" rows
# measure that path too.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tools/bench
out=$top/build/bench
nginx=${NGINX_BIN:-/usr/sbin/nginx}
module=${OLLA_MODULE:-$top/build/debian/ngx_olla_dmr_module.so}
module_base=${OLLA_MODULE_BASE:-}
profiles_base=${OLLA_PROFILES_BASE:-}
base_label=${OLLA_BASE_LABEL:-}
dur=${BENCH_DURATION:-2}
conns=${BENCH_CONNS:-8}
conns32=${BENCH_CONNS_MANY:-32}
nstreams=${BENCH_STREAMS:-150}
nhold=${BENCH_HOLD:-1000}
nburst=${BENCH_BURST:-200}
only=${BENCH_ONLY:-}
burst_events=10
burst_gap_us=50000
rounds=${BENCH_ROUNDS:-3}
events=20
event_gap_us=1000
big_bytes=$((50 * 1024 * 1024))

t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------ prerequisites

[ -f "$module" ] || die "no module at $module (run make first)"
[ -x "$nginx" ] || die "no nginx at $nginx"
if [ -n "$module_base" ]; then
    [ -f "$module_base" ] || die "no base module at $module_base (OLLA_MODULE_BASE)"
    module_base=$(cd "$(dirname "$module_base")" && pwd)/$(basename "$module_base")
    [ -n "$profiles_base" ] || die "OLLA_MODULE_BASE needs OLLA_PROFILES_BASE (its own profiles)"
    [ -f "$profiles_base/dmr.yaml" ] || die "no dmr.yaml in $profiles_base (OLLA_PROFILES_BASE)"
    profiles_base=$(cd "$profiles_base" && pwd)
fi
if ! command -v wrk >/dev/null; then
    say "installing wrk"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
command -v gcc >/dev/null || die "gcc is needed"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((nhold * 3 + 100)) ] || die "open files limit $(ulimit -n) too low for $nhold streams"

base_ports=""
[ -z "$module_base" ] || base_ports="21101 21103 21130 21151 21153 21180"
for port in 20001 20030 20100 20101 20103 20110 20113 20114 20130 20151 20153 20163 20180 20190 20200 20210 $base_ports; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        die "port $port is taken; something else is listening in 20000-21999"
    fi
done

mkdir -p "$out"
rm -rf "$out"/run.*        # the previous run's configs, bodies and logs
run=$(mktemp -d "$out/run.XXXXXX")
chmod 755 "$run"          # the workers (nobody) write temp files under it
res=$run/results.tsv
: > "$res"

gcc -O2 -Wall -o "$out/benchd" "$here/backend.c" -lpthread
gcc -O2 -Wall -o "$out/streamc" "$here/streamc.c"
perl "$here/genbodies.pl" "$run/bodies" >/dev/null

# ------------------------------------------------------------ processes

backend_pid=""
plain_pid=""
plainkeep_pid=""
olla_pid=""
base_pid=""

stop_pid() {    # stop_pid PID: TERM (QUIT for nginx), wait
    local pid=$1 sig=${2:-TERM}
    [ -n "$pid" ] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -"$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    stop_nginx plain
    stop_nginx plainkeep
    stop_nginx olla
    stop_nginx base
    stop_pid "$backend_pid"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$out/benchd" -p 20001-20030 2> "$run/benchd.log" &
backend_pid=$!

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
        sleep 0.05
    done
    die "nothing listens on $1"
}
wait_port 20001
wait_port 20030

# ------------------------------------------------------------ nginx configs
# Both: 2 workers, the same events/http settings, the same proxy settings
# (conf.examples/olla_proxy_params: HTTP/1.1, Connection "", buffering off,
# the same headers), keepalive 64 to the backend, no access log.  The plain
# upstream is nginx's closest equivalent of the module's: least_conn over
# the same 3 backend ports.

common_main() {   # common_main NAME
    cat <<CONF
daemon off;
worker_processes 2;
worker_rlimit_nofile 16384;
error_log $run/$1/error.log warn;
pid $run/$1/nginx.pid;
events { worker_connections 8192; }
CONF
}

common_http() {   # common_http NAME
    cat <<CONF
    access_log off;
    client_max_body_size 16m;
    client_body_buffer_size 2m;
    client_body_temp_path $run/$1/tmp/body;
    proxy_temp_path $run/$1/tmp/proxy;
    fastcgi_temp_path $run/$1/tmp/fastcgi;
    uwsgi_temp_path $run/$1/tmp/uwsgi;
    scgi_temp_path $run/$1/tmp/scgi;
CONF
}

mkdir -p "$run/plain/tmp" "$run/plainkeep/tmp" "$run/olla/tmp"

plain_conf() {    # plain_conf NAME PORT TEMPFILE_PORT
    common_main "$1"
    echo "http {"
    common_http "$1"
    cat <<CONF
    upstream plain {
        least_conn;
        server 127.0.0.1:20001;
        server 127.0.0.1:20002;
        server 127.0.0.1:20003;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$2;
        location / {
            proxy_pass http://plain;
            include $top/conf.examples/olla_proxy_params;
        }
    }
    server {
        listen 127.0.0.1:$3;
        client_body_buffer_size 16k;
        location / {
            proxy_pass http://plain;
            include $top/conf.examples/olla_proxy_params;
        }
    }
}
CONF
}

plain_conf plain 20100 20110 > "$run/plain/nginx.conf"
plain_conf plainkeep 20200 20210 > "$run/plainkeep/nginx.conf"

# what olla_malloc_keep's default (128m) sets in the module's workers:
# M_TRIM_THRESHOLD 128m, M_MMAP_THRESHOLD a quarter of it, at most 32m
. "$here/target.sh"
bench_target plain-keep
keep_tunables=$tunables

olla_upstream() {   # olla_upstream NAME TYPE COUNT
    local name=$1 type=$2 n=$3 i
    echo "    upstream $name {"
    echo "        olla_load_balancer least-connections;"
    for i in $(seq 1 "$n"); do
        printf '        olla_endpoint http://127.0.0.1:%d name=%s-%d type=%s check_interval=5s check_timeout=2s max_concurrent=10000;\n' \
            $((20000 + i)) "$name" "$i" "$type"
    done
    echo "        keepalive 64;"
    echo "    }"
}

olla_server() {   # olla_server PORT UPSTREAM [DIRECTIVE]
    cat <<CONF
    server {
        listen 127.0.0.1:$1;
        ${3:-}
        location /olla/ {
            olla_route $2;
            proxy_pass http://$2;
            include $top/conf.examples/olla_proxy_params;
        }
        location /internal/ { olla_status; }
    }
CONF
}

{
    echo "load_module $module;"
    common_main olla
    echo "http {"
    common_http olla
    echo "    olla_zone 4m;    # 69 endpoints: their own records take some 620k of the default 1m"
    echo "    olla_profiles $top/profiles;"
    olla_upstream dmr1 docker-model-runner 1
    olla_upstream dmr3 docker-model-runner 3
    olla_upstream dmr30 docker-model-runner 30
    olla_upstream oai1 openai-compatible 1
    olla_upstream oai3 openai-compatible 3
    olla_upstream oai30 openai-compatible 30
    # the burst: one DMR endpoint as a new user declares it (the profile's
    # concurrency limit, the default olla_queue)
    echo "    upstream burst1 {"
    echo "        olla_endpoint http://127.0.0.1:20001 name=burst-1;"
    echo "        keepalive 64;"
    echo "    }"
    olla_server 20101 dmr1
    olla_server 20103 dmr3
    olla_server 20130 dmr30
    olla_server 20151 oai1
    olla_server 20153 oai3
    olla_server 20180 oai30
    olla_server 20190 burst1
    olla_server 20113 dmr3 "client_body_buffer_size 16k;"
    olla_server 20114 dmr3 "client_body_buffer_size 16k; olla_body_memory off;"
    olla_server 20163 oai3 "client_body_buffer_size 16k;"
    echo "}"
} > "$run/olla/nginx.conf"

# The base build (OLLA_MODULE_BASE): the same upstreams and servers as the
# module's above, 1000 ports up, with the directives it knows (those of
# 0dd5f07: no burst upstream, nothing of olla_queue, olla_failover and what
# came after) and its own profiles.
if [ -n "$module_base" ]; then
    mkdir -p "$run/base/tmp"
    {
        echo "load_module $module_base;"
        common_main base
        echo "http {"
        common_http base
        echo "    olla_profiles $profiles_base;"
        olla_upstream dmr1 docker-model-runner 1
        olla_upstream dmr3 docker-model-runner 3
        olla_upstream dmr30 docker-model-runner 30
        olla_upstream oai1 openai-compatible 1
        olla_upstream oai3 openai-compatible 3
        olla_upstream oai30 openai-compatible 30
        olla_server 21101 dmr1
        olla_server 21103 dmr3
        olla_server 21130 dmr30
        olla_server 21151 oai1
        olla_server 21153 oai3
        olla_server 21180 oai30
        echo "}"
    } > "$run/base/nginx.conf"
fi

start_nginx() {   # start_nginx plain|plainkeep|olla|base ; sets plain_pid / ...
    local name=$1 pid
    "$nginx" -t -q -p "$run/$name" -c "$run/$name/nginx.conf" \
        || die "nginx -t failed for $run/$name/nginx.conf"
    if [ "$name" = plainkeep ]; then
        GLIBC_TUNABLES=$keep_tunables "$nginx" -p "$run/$name" -c "$run/$name/nginx.conf" &
    else
        "$nginx" -p "$run/$name" -c "$run/$name/nginx.conf" &
    fi
    pid=$!
    eval "${name}_pid=$pid"
    case $name in
        plain) wait_port 20100;;
        plainkeep) wait_port 20200;;
        olla)  wait_port 20103; wait_port 20180;;
        base)  wait_port 21103; wait_port 21180;;
    esac
    for _ in $(seq 1 100); do
        [ "$(workers "$pid" | wc -w)" = 2 ] && return 0
        sleep 0.05
    done
    die "$name nginx has no 2 workers"
}

stop_nginx() {    # graceful, then fast, then the workers and master by pid
    local name=$1 pid w p
    eval "pid=\${${name}_pid}"
    eval "${name}_pid=''"
    [ -n "$pid" ] || return 0
    w=$(workers "$pid")
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    for p in $pid $w; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
    wait "$pid" 2>/dev/null || true
}

workers() {       # workers MASTER_PID: its worker processes
    local p
    for p in $(pgrep -P "$1" 2>/dev/null); do
        grep -q 'nginx: worker process' /proc/"$p"/cmdline 2>/dev/null \
            && echo "$p"
    done
    true
}

cpu_ticks() {     # cpu_ticks PID...: utime+stime summed
    local t=0 p f
    for p in "$@"; do
        f=$(sed 's/^.*) //' /proc/"$p"/stat)
        set -- $f
        t=$((t + ${12} + ${13}))     # fields 14 and 15 of stat
    done
    echo $t
}

# ------------------------------------------------------------ checks

b=$run/bodies
start_nginx plain
start_nginx plainkeep
start_nginx olla
[ -z "$module_base" ] || start_nginx base

# every endpoint probed healthy before anything is timed
healthy() {       # healthy PORT COUNT
    local n
    for _ in $(seq 1 100); do
        n=$(curl -fsS http://127.0.0.1:$1/internal/status/endpoints 2>/dev/null \
            | grep -o '"status":"healthy"' | wc -l) || n=0
        [ "$n" -ge "$2" ] && return 0
        sleep 0.1
    done
    curl -sS http://127.0.0.1:$1/internal/status/endpoints >&2 || true
    die "endpoints not healthy on $1 ($n of $2)"
}
healthy 20130 69
[ -z "$module_base" ] || healthy 21130 68

check() {         # check PORT PATH BODY EXPECT-IN-BODY [EXPECT-HEADER]
    local h=$run/check.h o=$run/check.o
    curl -sS -o "$o" -D "$h" -H 'Content-Type: application/json' \
        --data-binary @"$3" "http://127.0.0.1:$1$2" || die "check $1$2: curl failed"
    grep -q "^HTTP/1.1 200" "$h" || { cat "$h" "$o" >&2; die "check $1$2: not 200"; }
    grep -q "$4" "$o" || { head -c 600 "$o" >&2; die "check $1$2: answer lacks $4"; }
    if [ -n "${5:-}" ]; then
        grep -qi "$5" "$h" || { cat "$h" >&2; die "check $1$2: no header $5"; }
    fi
}
check 20001 /engines/v1/chat/completions "$b/oai-1k.json" '"chat.completion"'
check 20100 /engines/v1/chat/completions "$b/oai-1k.json" '"chat.completion"'
for p in 20101 20103 20130; do
    check $p /olla/dmr/engines/v1/chat/completions "$b/oai-50k.json" '"chat.completion"' 'X-Olla-Endpoint: dmr'
    check $p /olla/anthropic/v1/messages "$b/anth-50k.json" '"type":"message"' 'X-Olla-Mode: passthrough'
done
for p in 20151 20153 20180; do
    check $p /olla/anthropic/v1/messages "$b/anth-50k.json" '"type":"message"' 'X-Olla-Mode: translation'
done
check 20153 /olla/anthropic/v1/messages "$b/anth-1m.json" '"type":"message"' 'X-Olla-Mode: translation'
for sz in code-1k code-50k code-1m; do
    check 20103 /olla/dmr/engines/v1/chat/completions "$b/oai-$sz.json" '"chat.completion"' 'X-Olla-Endpoint: dmr'
    check 20103 /olla/anthropic/v1/messages "$b/anth-$sz.json" '"type":"message"' 'X-Olla-Mode: passthrough'
    check 20153 /olla/anthropic/v1/messages "$b/anth-$sz.json" '"type":"message"' 'X-Olla-Mode: translation'
done
check 20153 /olla/anthropic/v1/messages "$b/anth-stream.json" 'content_block_delta' 'X-Olla-Mode: translation'
check 20103 /olla/dmr/engines/v1/chat/completions "$b/oai-stream.json" 'chat.completion.chunk'
check 20110 /engines/v1/chat/completions "$b/oai-1m.json" '"chat.completion"'
check 20113 /olla/dmr/engines/v1/chat/completions "$b/oai-1m.json" '"chat.completion"' 'X-Olla-Endpoint: dmr3'
check 20114 /olla/dmr/engines/v1/chat/completions "$b/oai-1m.json" '"chat.completion"' 'X-Olla-Endpoint: dmr3'
check 20163 /olla/anthropic/v1/messages "$b/anth-50k.json" '"type":"message"' 'X-Olla-Mode: translation'
check 20113 /olla/anthropic/v1/messages "$b/anth-50k.json" '"type":"message"' 'X-Olla-Mode: passthrough'
if [ -n "$module_base" ]; then
    for p in 21101 21103 21130; do
        check $p /olla/dmr/engines/v1/chat/completions "$b/oai-50k.json" '"chat.completion"' 'X-Olla-Endpoint: dmr'
        check $p /olla/anthropic/v1/messages "$b/anth-50k.json" '"type":"message"' 'X-Olla-Mode: passthrough'
    done
    for p in 21151 21153 21180; do
        check $p /olla/anthropic/v1/messages "$b/anth-50k.json" '"type":"message"' 'X-Olla-Mode: translation'
    done
    for sz in 1m code-1k code-50k code-1m; do
        check 21103 /olla/dmr/engines/v1/chat/completions "$b/oai-$sz.json" '"chat.completion"' 'X-Olla-Endpoint: dmr'
        check 21103 /olla/anthropic/v1/messages "$b/anth-$sz.json" '"type":"message"' 'X-Olla-Mode: passthrough'
        check 21153 /olla/anthropic/v1/messages "$b/anth-$sz.json" '"type":"message"' 'X-Olla-Mode: translation'
    done
fi

# ------------------------------------------------------------ throughput

# One-at-a-time measurements (wrk -c1, stream timing) run with the backend,
# both nginx's workers and the client on one core: a request's latency is
# then the CPU work on its path, not where the scheduler happened to put
# each process (cross-core wake-ups on this VM vary by tens of µs).
ncpu=$(nproc)
pin_cpu=$((ncpu - 1))
pin_one() {
    local p
    [ "$ncpu" -gt 1 ] || return 0
    for p in $backend_pid $(workers "$plain_pid") $(workers "$plainkeep_pid") $(workers "$olla_pid"); do
        taskset -a -p -c "$pin_cpu" "$p" >/dev/null
    done
}
unpin() {
    local p
    [ "$ncpu" -gt 1 ] || return 0
    for p in $backend_pid $(workers "$plain_pid") $(workers "$plainkeep_pid") $(workers "$olla_pid"); do
        taskset -a -p -c "0-$pin_cpu" "$p" >/dev/null
    done
}
one() { if [ "$ncpu" -gt 1 ]; then taskset -c "$pin_cpu" "$@"; else "$@"; fi; }

nginx_of() {      # the master pid of a target
    case $1 in direct) echo "";; plain) echo "$plain_pid";; base) echo "$base_pid";;
               plain-keep) echo "$plainkeep_pid";;
               *) echo "$olla_pid";; esac
}

# bench GROUP LABEL TARGET PORT PATH BODY ENDPOINTS [HEADERS]
bench() {
    local group=$1 label=$2 target=$3 port=$4 path=$5 body=$6 eps=$7 hdrs=${8:-}
    local master pids="" c0=0 c1=0 line tick
    if [ -n "$only" ] && ! [[ "$group $label" =~ $only ]]; then
        return 0
    fi
    master=$(nginx_of "$target")
    [ -n "$master" ] && pids=$(workers "$master")
    [ -n "$pids" ] && c0=$(cpu_ticks $pids)
    line=$(BENCH_BODY=$body BENCH_HEADERS=$hdrs \
           ${WRAP:-} wrk -t1 -c"${BC:-$conns}" -d"${dur}s" --latency -s "$here/post.lua" \
               "http://127.0.0.1:$port$path" | grep '^BENCH ') \
        || die "wrk failed: $group $label"
    [ -n "$pids" ] && c1=$(cpu_ticks $pids)
    printf 'wrk\t%s\t%s\t%s\t%s\t%s\tticks=%s\t%s\n' "$group" "$label" "$target" \
        "$(basename "$body" .json)" "$eps" "$((c1 - c0))" "${line#BENCH }" >> "$res"
    printf '  %-28s %-12s %s\n' "$group" "$label" \
        "$(echo "$line" | grep -o 'rps=[0-9.]*') $(echo "$line" | grep -o 'p99_us=[0-9]*') $(echo "$line" | grep -o 'err_status=[0-9]*')" >&2
}

D=/engines/v1/chat/completions
A=/anthropic/v1/messages
OD=/olla/dmr/engines/v1/chat/completions
OA=/olla/anthropic/v1/messages
S="X-Bench-Events: $events"

# ab GROUP LABEL PORT PATH BODY: a row of the module's (3 endpoints) and,
# with OLLA_MODULE_BASE, the same row on the base build (LABEL-base, 1000
# ports up) next to it: after it in odd rounds, before it in even ones, so
# that a drift within a round does not always favour one build.  The base
# row runs when the module's row is selected by BENCH_ONLY.
ab() {
    local group=$1 label=$2 port=$3 path=$4 body=$5
    if [ -z "$module_base" ]; then
        bench "$group" "$label" "$label" "$port" "$path" "$body" 3
        return 0
    fi
    if [ -n "$only" ] && ! [[ "$group $label" =~ $only ]]; then
        return 0
    fi
    local only=""
    if [ $((round % 2)) = 1 ]; then
        bench "$group" "$label"      "$label" "$port"          "$path" "$body" 3
        bench "$group" "$label-base" base     $((port + 1000)) "$path" "$body" 3
    else
        bench "$group" "$label-base" base     $((port + 1000)) "$path" "$body" 3
        bench "$group" "$label"      "$label" "$port"          "$path" "$body" 3
    fi
}

matrix() {
    local sz c
    for sz in 1k 50k 1m; do
        bench "openai $sz" direct      direct      20001 $D  "$b/oai-$sz.json" -
        bench "openai $sz" plain       plain       20100 $D  "$b/oai-$sz.json" 3
        bench "openai $sz" plain-keep  plain-keep  20200 $D  "$b/oai-$sz.json" 3
        ab    "openai $sz" dmr                     20103 $OD "$b/oai-$sz.json"
    done
    for sz in 1k 50k 1m; do
        bench "anthropic $sz" direct      direct      20001 $A  "$b/anth-$sz.json" -
        bench "anthropic $sz" plain       plain       20100 $A  "$b/anth-$sz.json" 3
        bench "anthropic $sz" plain-keep  plain-keep  20200 $A  "$b/anth-$sz.json" 3
        ab    "anthropic $sz" passthrough             20103 $OA "$b/anth-$sz.json"
        ab    "anthropic $sz" translation             20153 $OA "$b/anth-$sz.json"
    done
    # bodies dense in escapes (code-heavy agent prompts), and 32 connections
    for c in 8 $conns32; do
        for sz in 1k 50k 1m code-1k code-50k code-1m; do
            case "$c:$sz" in 8:[0-9]*) continue;; esac
            g=$sz; [ "$c" = 8 ] || g="$sz c$c"
            BC=$c bench "openai $g"    plain       plain       20100 $D  "$b/oai-$sz.json" 3
            BC=$c bench "openai $g"    plain-keep  plain-keep  20200 $D  "$b/oai-$sz.json" 3
            BC=$c ab    "openai $g"    dmr                     20103 $OD "$b/oai-$sz.json"
            BC=$c bench "anthropic $g" plain       plain       20100 $A  "$b/anth-$sz.json" 3
            BC=$c bench "anthropic $g" plain-keep  plain-keep  20200 $A  "$b/anth-$sz.json" 3
            BC=$c ab    "anthropic $g" passthrough             20103 $OA "$b/anth-$sz.json"
            BC=$c ab    "anthropic $g" translation             20153 $OA "$b/anth-$sz.json"
        done
    done
    bench "endpoints openai 1k"    dmr         dmr         20101 $OD "$b/oai-1k.json" 1
    bench "endpoints openai 1k"    dmr         dmr         20103 $OD "$b/oai-1k.json" 3
    bench "endpoints openai 1k"    dmr         dmr         20130 $OD "$b/oai-1k.json" 30
    bench "endpoints anthropic 1k" passthrough passthrough 20101 $OA "$b/anth-1k.json" 1
    bench "endpoints anthropic 1k" passthrough passthrough 20103 $OA "$b/anth-1k.json" 3
    bench "endpoints anthropic 1k" passthrough passthrough 20130 $OA "$b/anth-1k.json" 30
    bench "endpoints anthropic 1k" translation translation 20151 $OA "$b/anth-1k.json" 1
    bench "endpoints anthropic 1k" translation translation 20153 $OA "$b/anth-1k.json" 3
    bench "endpoints anthropic 1k" translation translation 20180 $OA "$b/anth-1k.json" 30
    pin_one
    WRAP=one BC=1 bench "latency openai 1k"    direct      direct      20001 $D  "$b/oai-1k.json" -
    WRAP=one BC=1 bench "latency openai 1k"    plain       plain       20100 $D  "$b/oai-1k.json" 3
    WRAP=one BC=1 bench "latency openai 1k"    dmr         dmr         20103 $OD "$b/oai-1k.json" 3
    WRAP=one BC=1 bench "latency anthropic 1k" direct      direct      20001 $A  "$b/anth-1k.json" -
    WRAP=one BC=1 bench "latency anthropic 1k" plain       plain       20100 $A  "$b/anth-1k.json" 3
    WRAP=one BC=1 bench "latency anthropic 1k" passthrough passthrough 20103 $OA "$b/anth-1k.json" 3
    WRAP=one BC=1 bench "latency anthropic 1k" translation translation 20153 $OA "$b/anth-1k.json" 3
    unpin
    bench "tempfile openai 50k"    plain       plain       20110 $D  "$b/oai-50k.json" 3
    bench "tempfile openai 50k"    dmr         dmr         20113 $OD "$b/oai-50k.json" 3
    bench "tempfile openai 50k"    dmr-file    dmr         20114 $OD "$b/oai-50k.json" 3
    bench "tempfile openai 1m"     plain       plain       20110 $D  "$b/oai-1m.json" 3
    bench "tempfile openai 1m"     dmr         dmr         20113 $OD "$b/oai-1m.json" 3
    bench "tempfile openai 1m"     dmr-file    dmr         20114 $OD "$b/oai-1m.json" 3
    bench "tempfile anthropic 50k" plain       plain       20110 $A  "$b/anth-50k.json" 3
    bench "tempfile anthropic 50k" passthrough passthrough 20113 $OA "$b/anth-50k.json" 3
    bench "tempfile anthropic 50k" translation translation 20163 $OA "$b/anth-50k.json" 3
    bench "openai stream"    direct      direct      20001 $D  "$b/oai-stream.json" - "$S"
    bench "openai stream"    plain       plain       20100 $D  "$b/oai-stream.json" 3 "$S"
    bench "openai stream"    dmr         dmr         20103 $OD "$b/oai-stream.json" 3 "$S"
    bench "anthropic stream" direct      direct      20001 $A  "$b/anth-stream.json" - "$S"
    bench "anthropic stream" plain       plain       20100 $A  "$b/anth-stream.json" 3 "$S"
    bench "anthropic stream" passthrough passthrough 20103 $OA "$b/anth-stream.json" 3 "$S"
    bench "anthropic stream" translation translation 20153 $OA "$b/anth-stream.json" 3 "$S"
}

# ------------------------------------------------------------ burst
# nburst streams at once on one endpoint with the default configuration:
# past the profile's limit (8 for ai/smollm2) they wait in olla_queue; all
# must complete.  The same burst straight to the backend gives a stream's
# own duration.  What the queue added: each stream's wait (the module's
# olla_queue_wait_seconds), and the burst's wall time against the ideal one
# (the waves the limit makes times a stream's duration).

queue_metric() {  # queue_metric NAME [LABELS]: the value for upstream burst1
    curl -fsS http://127.0.0.1:20190/internal/metrics 2>/dev/null \
        | awk -v k="$1{upstream=\"burst1\"${2:-}}" '$1 == k { print $2 }'
}

burst() {         # burst LABEL TARGET PORT PATH
    local line s0 c0 r0 s1 c1 r1 full tout
    s0=$(queue_metric olla_queue_wait_seconds_sum); s0=${s0:-0}
    c0=$(queue_metric olla_queue_wait_seconds_count); c0=${c0:-0}
    r0=$(queue_metric olla_queue_requests_total); r0=${r0:-0}
    line=$("$out/streamc" -m hold -p "$3" -u "$4" -b "$b/oai-stream.json" -c "$nburst" \
               -H "X-Bench-Events: $burst_events" -H "X-Bench-Delay-Us: $burst_gap_us" \
               2>"$run/burst.err") \
        || { cat "$run/burst.err" >&2; die "burst: not every stream completed ($1): $line"; }
    s1=$(queue_metric olla_queue_wait_seconds_sum); s1=${s1:-0}
    c1=$(queue_metric olla_queue_wait_seconds_count); c1=${c1:-0}
    r1=$(queue_metric olla_queue_requests_total); r1=${r1:-0}
    full=$(queue_metric olla_queue_rejected_total ',reason="full"')
    tout=$(queue_metric olla_queue_rejected_total ',reason="timeout"')
    printf 'burst\t%s\t%s\t%s\toai-stream\t%s\tqwait_s=%s qserved=%s queued=%s full=%s timeout=%s\t%s\n' \
        "$1" "$2" "$2" "$nburst" \
        "$(awk -v a="$s1" -v b="$s0" 'BEGIN { printf "%.3f", a - b }')" \
        $((c1 - c0)) $((r1 - r0)) "${full:-0}" "${tout:-0}" "$line" >> "$res"
    printf '  %-40s %s\n' "$1" "$(echo "$line" | grep -oE '(ok|failed|open_max|total_ms)=[0-9.]+' | tr '\n' ' ')" >&2
}

if [ -z "$only" ] || [[ burst =~ $only ]]; then
    say "burst: $nburst streams at once ($burst_events events, $burst_gap_us us apart), one endpoint, default configuration"
    burst "direct (no limit)" direct 20001 /engines/v1/chat/completions
    burst "dmr, 1 endpoint, defaults" dmr 20190 /olla/dmr/engines/v1/chat/completions
fi

if [ "$only" = burst ]; then
    stop_nginx plain
    stop_nginx plainkeep
    stop_nginx olla
    stop_nginx base
    stop_pid "$backend_pid"; backend_pid=""
    perl "$here/report.pl" /dev/null "$res" > "$out/report.md"
    cp "$res" "$out/results.tsv"
    cat "$out/report.md"
    exit 0
fi

# a short warm-up of every path (keepalive pools, page cache, allocators)
say "warm-up"
warm=("20001 $D oai" "20100 $D oai" "20200 $D oai" "20103 $OD oai" "20100 $A anth" "20103 $OA anth" "20153 $OA anth")
[ -z "$module_base" ] || warm+=("21103 $OD oai" "21103 $OA anth" "21153 $OA anth")
for t in "${warm[@]}"; do
    set -- $t
    BENCH_BODY=$b/$3-50k.json wrk -t1 -c"$conns" -d1s -s "$here/post.lua" "http://127.0.0.1:$1$2" >/dev/null
done

for round in $(seq 1 "$rounds"); do
    say "throughput, round $round of $rounds: wrk -t1 -c$conns -d${dur}s per row (latency rows -c1)"
    cut -d' ' -f1 /proc/loadavg >> "$run/loadavg.rounds"
    matrix
done

if [ -z "$only" ]; then

# ------------------------------------------------------------ stream latency

# lat GROUP LABEL TARGET PORT PATH BODY
lat() {
    local line
    line=$(one "$out/streamc" -m lat -p "$4" -u "$5" -b "$6" -n "$nstreams" \
               -H "X-Bench-Events: $events" -H "X-Bench-Delay-Us: $event_gap_us") \
        || die "streamc failed: $1 $2"
    printf 'lat\t%s\t%s\t%s\t%s\t%s\t-\t%s\n' "$1" "$2" "$3" "$(basename "$6" .json)" 3 "$line" >> "$res"
    printf '  %-28s %-12s %s\n' "$1" "$2" "$(echo "$line" | grep -o 'transit_p50_us=[0-9.]*')" >&2
}

say "stream latency: $nstreams streams x $events events, ${event_gap_us} us apart, one at a time, on CPU $pin_cpu"
pin_one
lat "openai stream"    direct      direct      20001 $D  "$b/oai-stream.json"
lat "openai stream"    plain       plain       20100 $D  "$b/oai-stream.json"
lat "openai stream"    dmr         dmr         20103 $OD "$b/oai-stream.json"
lat "anthropic stream" direct      direct      20001 $A  "$b/anth-stream.json"
lat "anthropic stream" plain       plain       20100 $A  "$b/anth-stream.json"
lat "anthropic stream" passthrough passthrough 20103 $OA "$b/anth-stream.json"
lat "anthropic stream" translation translation 20153 $OA "$b/anth-stream.json"
unpin

# ------------------------------------------------------------ memory
# Each on a freshly started nginx, so a worker's VmHWM is this test's peak.

rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' /proc/"$1"/status; }

# mem LABEL NGINX PORT PATH BODY CONNS HEADER...
mem() {
    local label=$1 name=$2 port=$3 path=$4 body=$5 n=$6 pid p base=0 peak=0 line b0 h
    shift 6
    stop_nginx "$name"
    start_nginx "$name"
    eval "pid=\${${name}_pid}"
    sleep 0.5
    for p in $(workers "$pid"); do
        b0=$(rss_kb "$p" VmRSS); [ "$b0" -gt "$base" ] && base=$b0
    done
    local hdr=()
    for h in "$@"; do hdr+=(-H "$h"); done
    line=$("$out/streamc" -m hold -p "$port" -u "$path" -b "$body" -c "$n" "${hdr[@]}" 2>"$run/hold.err") \
        || { cat "$run/hold.err" >&2; die "streamc hold failed: $label"; }
    for p in $(workers "$pid"); do
        h=$(rss_kb "$p" VmHWM); [ "$h" -gt "$peak" ] && peak=$h
    done
    printf 'mem\t%s\t%s\t%s\t%s\t%s\tbase_kb=%s peak_kb=%s\t%s\n' "$label" "$name" "$name" \
        "$(basename "$body" .json)" "$n" "$base" "$peak" "$line" >> "$res"
    printf '  %-40s worker RSS %s kB idle, %s kB peak\n' "$label" "$base" "$peak" >&2
}

say "memory: $nhold streams open (1 event/s), one 50 MB stream"
slow=("X-Bench-Events: 4" "X-Bench-Delay-Us: 1000000")
mem "open streams, plain"        plain 20100 $D  "$b/oai-stream.json"  "$nhold" "${slow[@]}"
mem "open streams, dmr"          olla  20103 $OD "$b/oai-stream.json"  "$nhold" "${slow[@]}"
mem "open streams, passthrough"  olla  20103 $OA "$b/anth-stream.json" "$nhold" "${slow[@]}"
mem "open streams, translation"  olla  20153 $OA "$b/anth-stream.json" "$nhold" "${slow[@]}"
mem "50 MB stream, plain"        plain 20100 $D  "$b/oai-stream.json"  1 "X-Bench-Bytes: $big_bytes"
mem "50 MB stream, translation"  olla  20153 $OA "$b/anth-stream.json" 1 "X-Bench-Bytes: $big_bytes"

fi     # BENCH_ONLY

stop_nginx plain
stop_nginx plainkeep
stop_nginx olla
stop_nginx base
stop_pid "$backend_pid"; backend_pid=""

# ------------------------------------------------------------ report

t_end=$(date +%s)
cp /proc/loadavg "$run/loadavg.end"
{
    envs=$(env | grep -E '^(BENCH_[A-Z]+|NGINX_BIN|OLLA_MODULE|OLLA_MODULE_BASE|OLLA_PROFILES_BASE)=' \
           | sort | tr '\n' ' ' || true)
    echo "cmd=${envs}make bench"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cores=$(nproc)"
    echo "pin_cpu=$pin_cpu"
    echo "kernel=$(uname -sr)"
    echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "nginx=$("$nginx" -v 2>&1 | sed 's/^nginx version: //')"
    echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $1" "$2}')"
    echo "module=${module#$top/} (sha256 $(sha256sum "$module" | cut -c1-12), built $(date -u -r "$module" '+%Y-%m-%d %H:%M:%S UTC'))"
    if [ -n "$module_base" ]; then
        echo "base_module=${module_base#$top/} (sha256 $(sha256sum "$module_base" | cut -c1-12), $(stat -c %s "$module_base") bytes, built $(date -u -r "$module_base" '+%Y-%m-%d %H:%M:%S UTC'))"
        echo "base_label=$base_label"
        echo "base_profiles=${profiles_base#$top/}"
    fi
    echo "checkout=$(cd "$top" && git log -1 --format='%h %s' 2>/dev/null | cut -c1-60)$(cd "$top" && [ -n "$(git status --porcelain -- src ngx_olla_dmr_module.c config 2>/dev/null)" ] && echo '; src/ has uncommitted changes')"
    echo "duration=$dur"
    echo "conns=$conns"
    echo "conns_many=$conns32"
    echo "loadavg=$load_start at the start; $(tr '\n' ' ' < "$run/loadavg.rounds")at the rounds' starts; $(cut -d' ' -f1-3 "$run/loadavg.end") at the end"
    echo "rounds=$rounds"
    echo "streams=$nstreams"
    echo "events=$events"
    echo "gap_us=$event_gap_us"
    echo "hold=$nhold"
    echo "clk_tck=$(getconf CLK_TCK)"
    echo "elapsed=$((t_end - t_start))"
} > "$run/machine.txt"

perl "$here/report.pl" "$run/machine.txt" "$res" > "$out/report.md"
cp "$res" "$out/results.tsv"
cat "$out/report.md"
say "report: $out/report.md (raw: $out/results.tsv, run dir $run)"
