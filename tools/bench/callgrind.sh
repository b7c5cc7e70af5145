#!/usr/bin/env bash
# tools/bench/callgrind.sh ROW... : instructions per request, by function,
# for bench rows, with valgrind's callgrind (deterministic, unlike timings).
#
#   ROW = TARGET:BODY
#   TARGET  plain-openai plain-anthropic dmr dmr1 dmr30 passthrough
#           passthrough1 passthrough30 translation translation1 translation30
#           (no digit: 3 endpoints)
#   BODY    1k | 50k | 1m
#   e.g.    tools/bench/callgrind.sh plain-openai:1k dmr:1k dmr30:1k
#
# Reuses the configs and bodies of the last `make bench` run, runs each
# nginx as one process (master_process off) under callgrind, and for each
# row: 1 s of warm-up, counters zeroed, 3 s of `wrk -c1`, a dump.  Prints
# user-space instructions (Ir) per request by object, and the inclusive Ir
# per request of the module's functions and of what they call in
# libjansson, libcrypto and libc (kernel time is not counted).  Dumps stay
# in build/bench/callgrind/ for callgrind_annotate.
#
# JANSSON_LIB=/dir/with/libjansson.so.4 (a -g build of the same version,
# linked with -Wl,--default-symver) names jansson's internal functions.
# CACHE_SIM=1 adds valgrind's cache simulation (--cache-sim=yes) and
# prints the simulated L1 instruction and data misses per request (what
# the instruction counts do not show: a longer code path misses more).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tools/bench
out=$top/build/bench
cg=$out/callgrind
nginx=${NGINX_BIN:-/usr/sbin/nginx}
[ $# -gt 0 ] || { sed -n '2,22p' "$0" >&2; exit 2; }
all=("$@")
command -v valgrind >/dev/null || { echo "callgrind: valgrind is needed" >&2; exit 1; }

run=$(ls -d "$out"/run.* 2>/dev/null | head -1)
[ -n "$run" ] && [ -f "$run/olla/nginx.conf" ] || { echo "callgrind: run make bench first" >&2; exit 1; }
rm -rf "$cg"; mkdir -p "$cg"

row_of() {     # row_of TARGET BODY -> "nginx port path bodyfile"
    local t=$1 b=$2 p
    case $t in
        plain-openai)    echo "plain 20100 /engines/v1/chat/completions oai-$b" ;;
        plain-anthropic) echo "plain 20100 /anthropic/v1/messages anth-$b" ;;
        dmr|dmr1|dmr30)
            case $t in dmr) p=20103;; dmr1) p=20101;; dmr30) p=20130;; esac
            echo "olla $p /olla/dmr/engines/v1/chat/completions oai-$b" ;;
        passthrough|passthrough1|passthrough30)
            case $t in passthrough) p=20103;; passthrough1) p=20101;; *) p=20130;; esac
            echo "olla $p /olla/anthropic/v1/messages anth-$b" ;;
        translation|translation1|translation30)
            case $t in translation) p=20153;; translation1) p=20151;; *) p=20180;; esac
            echo "olla $p /olla/anthropic/v1/messages anth-$b" ;;
        *) echo "callgrind: unknown target $t" >&2; exit 2 ;;
    esac
}

backend_pid=""; vg_pid=""
cleanup() {
    if [ -n "$vg_pid" ]; then kill -TERM "$vg_pid" 2>/dev/null || true; wait "$vg_pid" 2>/dev/null || true; fi
    if [ -n "$backend_pid" ]; then kill "$backend_pid" 2>/dev/null || true; wait "$backend_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

sim=""
[ "${CACHE_SIM:-}" = 1 ] && sim=--cache-sim=yes

"$out/benchd" -p 20001-20030 2>/dev/null &
backend_pid=$!

for name in plain olla; do
    rows=()
    for r in "${all[@]}"; do
        set -- $(row_of "${r%%:*}" "${r#*:}")
        [ "$1" = "$name" ] && rows+=("$r")
    done
    [ ${#rows[@]} -gt 0 ] || continue
    sed 's/^worker_processes 2;/worker_processes 1;\nmaster_process off;/' \
        "$run/$name/nginx.conf" > "$run/$name/single.conf"
    LD_LIBRARY_PATH=${JANSSON_LIB:-} valgrind --tool=callgrind $sim \
        --callgrind-out-file="$cg/$name.%p" \
        "$nginx" -p "$run/$name" -c "$run/$name/single.conf" > "$cg/$name.log" 2>&1 &
    vg_pid=$!
    for _ in $(seq 1 200); do
        (exec 3<>/dev/tcp/127.0.0.1/20100) 2>/dev/null && [ $name = plain ] && break
        (exec 3<>/dev/tcp/127.0.0.1/20180) 2>/dev/null && [ $name = olla ] && break
        sleep 0.1
    done
    sleep 6          # the module's first health checks (68 endpoints)
    for r in "${rows[@]}"; do
        set -- $(row_of "${r%%:*}" "${r#*:}")
        url="http://127.0.0.1:$2$3"
        BENCH_BODY=$run/bodies/$4.json wrk -t1 -c1 -d1s -s "$here/post.lua" "$url" >/dev/null
        callgrind_control -z "$vg_pid" >/dev/null
        line=$(BENCH_BODY=$run/bodies/$4.json wrk -t1 -c1 -d3s -s "$here/post.lua" "$url" \
               | grep '^BENCH ')
        n=$(echo "$line" | sed -n 's/^BENCH requests=\([0-9]*\).*/\1/p')
        case $line in
            *err_status=0*) ;;
            *) echo "callgrind: $r answered errors: $line" >&2 ;;
        esac
        callgrind_control -d "$r" "$vg_pid" >/dev/null
        f=$(ls -t "$cg/$name.$vg_pid".* | head -1)
        mv "$f" "$cg/${r/:/-}.out"
        echo "$n" > "$cg/${r/:/-}.requests"
    done
    kill -TERM "$vg_pid"; wait "$vg_pid" 2>/dev/null || true; vg_pid=""
done

# ---------------------------------------------------------------- report
report=$cg/report.txt
: > "$report"
for r in $(ls "$cg"/*.out | sed 's|.*/||; s|\.out$||'); do
    n=$(cat "$cg/$r.requests")
    perl -e '
        my ($f, $n, $name, $sim) = @ARGV;
        my (%obj, %incl);
        open my $h, "-|", "callgrind_annotate --show=Ir --threshold=100 --inclusive=no $f 2>/dev/null" or die;
        my $total = 0;
        while (<$h>) {
            if (/^\s*([\d,]+) .*PROGRAM TOTALS/) { ($total = $1) =~ s/,//g; next }
            next unless /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+) \[([^\]]+)\]/;
            my ($ir, $fn, $o) = ($1, $2, $3);
            $ir =~ s/,//g;
            next if $ir == $total;      # the frames above main: everything
            $o =~ s|.*/||;
            $obj{$o} += $ir;
        }
        open $h, "-|", "callgrind_annotate --show=Ir --threshold=100 --inclusive=yes $f 2>/dev/null" or die;
        while (<$h>) {
            next unless /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+)/;
            my ($ir, $fn) = ($1, $2);
            $ir =~ s/,//g; $fn =~ s/.*://;
            next unless $fn =~ /olla|^json_|^lex_|^dump_|^do_dump|^strbuffer|^utf8_|^hashtable_|^RAND_bytes$|^ngx_http_get_indexed_variable$|^malloc$|^free$/;
            $incl{$fn} = $ir unless exists $incl{$fn} && $incl{$fn} > $ir;
        }
        my $t = 0; $t += $_ for values %obj;
        printf "== %s: %d requests, %.0f Ir/request (user space)\n", $name, $n, $t / $n;
        printf "   %-28s %10.0f\n", $_, $obj{$_} / $n for sort { $obj{$b} <=> $obj{$a} } keys %obj;
        if ($sim) {
            open $h, "-|", "callgrind_annotate --show=I1mr,D1mr,D1mw --threshold=100 $f 2>/dev/null" or die;
            while (<$h>) {
                next unless /PROGRAM TOTALS/;
                my @m = map { s/,//gr } /([\d,]+) \(/g;
                printf "   simulated misses/request: L1 instruction %.0f, L1 data read %.0f, write %.0f\n",
                    map { $_ / $n } @m[0 .. 2];
            }
        }
        my @top = sort { $incl{$b} <=> $incl{$a} } keys %incl;
        print "   inclusive Ir/request:\n";
        printf "   %10.0f  %s\n", $incl{$_} / $n, $_ for grep { $incl{$_} / $n >= 100 } @top[0 .. ($#top < 39 ? $#top : 39)];
    ' "$cg/$r.out" "$n" "$r" "$sim" >> "$report"
done
cat "$report"
echo "callgrind: $report (dumps in $cg)" >&2
