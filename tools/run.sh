#!/usr/bin/env bash
# make run: the gateway on :40114 in front of a DMR on 127.0.0.1:12434, or,
# when none answers there, in front of the bundled stand-in.  Foreground;
# Ctrl-C stops everything this script started.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
module=${OLLA_MODULE:-$top/build/debian/ngx_olla_dmr_module.so}
nginx=${NGINX_BIN:-/usr/sbin/nginx}
port=${OLLA_PORT:-40114}
dmr=127.0.0.1:12434
run=$top/build/run

standin_pid=""

cleanup() {
    if [ -n "$standin_pid" ] && kill -0 "$standin_pid" 2>/dev/null; then
        kill "$standin_pid" 2>/dev/null || true
        wait "$standin_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "make run: port $port is taken; stop what listens there or set OLLA_PORT" >&2
    exit 1
fi

if curl -fsS -m 2 "http://$dmr/engines/v1/models" >/dev/null 2>&1; then
    echo "make run: a Docker Model Runner answers on $dmr; using it"
else
    echo "make run: nothing answers on $dmr; starting the DMR stand-in there"
    "$top/tools/dmr-standin/setup.sh"
    mkdir -p "$run"
    node "$top/tools/dmr-standin/server.js" --host 127.0.0.1 --port 12434 \
        --models ai/smollm2,ai/tinyllama > "$run/standin.log" 2>&1 &
    standin_pid=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$run/standin.log" 2>/dev/null && break
        kill -0 "$standin_pid" 2>/dev/null || { cat "$run/standin.log" >&2; exit 1; }
        sleep 0.1
    done
    grep -q "listening on" "$run/standin.log" \
        || { echo "make run: the stand-in did not start" >&2; cat "$run/standin.log" >&2; exit 1; }
fi

mkdir -p "$run/logs" "$run/tmp"

# the basic example, with this checkout's profiles and proxy params
sed -e "s#olla_profiles [^;]*;#olla_profiles $top/profiles;#" \
    -e "s#include olla_proxy_params;#include $top/conf.examples/olla_proxy_params;#" \
    -e "s#listen 40114;#listen $port;#" \
    "$top/conf.examples/basic.conf" > "$run/basic.conf"

cat > "$run/nginx.conf" <<CONF
load_module $module;
daemon off;
worker_processes 2;
error_log stderr notice;
pid $run/nginx.pid;
events { worker_connections 1024; }
http {
    access_log $run/logs/access.log;
    client_body_temp_path $run/tmp/body;
    proxy_temp_path $run/tmp/proxy;
    fastcgi_temp_path $run/tmp/fastcgi;
    uwsgi_temp_path $run/tmp/uwsgi;
    scgi_temp_path $run/tmp/scgi;
    include $run/basic.conf;
}
CONF

"$nginx" -t -q -p "$run" -c "$run/nginx.conf"

base=http://localhost:$port
cat <<TRY

  ngx_olla_dmr_module on $base (Ctrl-C stops it)

  curl $base/olla/dmr/engines/v1/models

  curl $base/olla/dmr/engines/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"ai/smollm2","messages":[{"role":"user","content":"Hello!"}],"max_tokens":50}'

  curl -N $base/olla/dmr/engines/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"ai/smollm2","messages":[{"role":"user","content":"Tell me a story"}],"stream":true}'

  curl $base/olla/anthropic/v1/messages -H 'Content-Type: application/json' \\
    -d '{"model":"ai/smollm2","max_tokens":64,"messages":[{"role":"user","content":"Hello!"}]}'

  curl $base/internal/status/endpoints

  OpenAI SDK (Python):
    from openai import OpenAI
    client = OpenAI(base_url="$base/olla/dmr/engines/v1", api_key="not-needed")
    r = client.chat.completions.create(model="ai/smollm2",
            messages=[{"role": "user", "content": "Hello!"}])
    print(r.choices[0].message.content)

  Anthropic SDK (Python):
    import anthropic
    client = anthropic.Anthropic(base_url="$base/olla/anthropic", api_key="not-needed")
    m = client.messages.create(model="ai/smollm2", max_tokens=256,
            messages=[{"role": "user", "content": "Hello!"}])
    print(m.content[0].text)

  Claude Code:  ANTHROPIC_BASE_URL=$base/olla/anthropic claude --model ai/smollm2

TRY

"$nginx" -p "$run" -c "$run/nginx.conf" &
nginx_pid=$!
trap 'kill -QUIT $nginx_pid 2>/dev/null; wait $nginx_pid 2>/dev/null; cleanup; exit 0' INT TERM
wait $nginx_pid
