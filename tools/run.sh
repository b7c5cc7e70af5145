#!/usr/bin/env bash
# make run: the gateway on :40114 in front of a DMR on 127.0.0.1:12434, or,
# when none answers there, in front of the bundled stand-in.  Foreground;
# Ctrl-C stops everything this script started.  It says what it does while
# it sets up, then prints commands to try (curl, the SDKs, Claude Code) with
# the model it serves.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
module=${OLLA_MODULE:-$top/build/debian/ngx_olla_dmr_module.so}
nginx=${NGINX_BIN:-/usr/sbin/nginx}
port=${OLLA_PORT:-40114}
dmr=127.0.0.1:12434
run=$top/build/run

standin_pid=""
nginx_pid=""

say() { echo "make run: $*" >&2; }

cleanup() {
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    if [ -n "$standin_pid" ] && kill -0 "$standin_pid" 2>/dev/null; then
        kill "$standin_pid" 2>/dev/null || true
        wait "$standin_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -f "$module" ] || { say "the module is not built: $module (run make)"; exit 1; }
command -v node >/dev/null || { say "node is needed (make deps-node)"; exit 1; }

say "checking that port $port is free"
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    say "port $port is taken; stop what listens there or set OLLA_PORT"
    exit 1
fi

# A model list from a URL: "id<TAB>context window" per line (the window
# empty when the list has none).
models_of() {
    node -e '
      const pick = (m) => m.dmr?.context_window ?? m.context_window
        ?? m.meta?.n_ctx_train ?? m.max_model_len ?? "";
      fetch(process.argv[1], { signal: AbortSignal.timeout(3000) })
        .then((r) => r.json())
        .then((j) => {
          const list = Array.isArray(j.data) ? j.data
            : (j.models || []).map((x) => x.model || x);
          for (const m of list) if (m && m.id) console.log(`${m.id}\t${pick(m)}`);
        })
        .catch(() => process.exit(1));
    ' "$1"
}

say "looking for a Docker Model Runner on $dmr"
if curl -fsS -m 2 "http://$dmr/engines/v1/models" >/dev/null 2>&1; then
    say "a Docker Model Runner answers on $dmr; using it"
    backend="Docker Model Runner on $dmr"
else
    say "nothing answers on $dmr; setting up the DMR stand-in (tools/dmr-standin/setup.sh)"
    "$top/tools/dmr-standin/setup.sh" >&2
    mkdir -p "$run"
    say "starting the stand-in on $dmr (models ai/smollm2, ai/tinyllama; log: $run/standin.log)"
    node "$top/tools/dmr-standin/server.js" --host 127.0.0.1 --port 12434 \
        --models ai/smollm2,ai/tinyllama > "$run/standin.log" 2>&1 &
    standin_pid=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$run/standin.log" 2>/dev/null && break
        kill -0 "$standin_pid" 2>/dev/null || { cat "$run/standin.log" >&2; exit 1; }
        sleep 0.1
    done
    grep -q "listening on" "$run/standin.log" \
        || { say "the stand-in did not start"; cat "$run/standin.log" >&2; exit 1; }
    say "the stand-in is up"
    backend="the DMR stand-in on $dmr (a tiny random model: its text is nonsense)"
fi

say "reading DMR's model list"
model=""
if list=$(models_of "http://$dmr/engines/v1/models") && [ -n "$list" ]; then
    # the stand-in's ai/smollm2 when it is there, else the first model
    model=$(printf '%s\n' "$list" | cut -f1 | grep -m1 -E '^ai/smollm2(:latest)?$' || true)
    [ -n "$model" ] || model=$(printf '%s\n' "$list" | head -n1 | cut -f1)
    model=${model%:latest}
    say "models: $(printf '%s\n' "$list" | cut -f1 | tr '\n' ' ')-> the examples use $model"
else
    model=ai/smollm2
    say "DMR lists no model; the examples use $model (docker model pull $model)"
fi

mkdir -p "$run/logs" "$run/tmp"

say "writing $run/nginx.conf (conf.examples/basic.conf with this checkout's profiles, port $port)"
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
    include $top/conf.examples/olla_log_format;
    access_log $run/logs/access.log olla;
    client_body_temp_path $run/tmp/body;
    proxy_temp_path $run/tmp/proxy;
    fastcgi_temp_path $run/tmp/fastcgi;
    uwsgi_temp_path $run/tmp/uwsgi;
    scgi_temp_path $run/tmp/scgi;
    include $run/basic.conf;
}
CONF

say "checking the configuration (nginx -t)"
"$nginx" -t -q -p "$run" -c "$run/nginx.conf"

say "starting nginx with ngx_olla_dmr_module on port $port (access log: $run/logs/access.log)"
"$nginx" -p "$run" -c "$run/nginx.conf" &
nginx_pid=$!
trap 'cleanup; exit 0' INT TERM

base=http://localhost:$port
for _ in $(seq 1 100); do
    curl -fsS -m 1 -o /dev/null "$base/internal/health" 2>/dev/null && break
    kill -0 "$nginx_pid" 2>/dev/null || { say "nginx exited"; exit 1; }
    sleep 0.1
done

# The context window as the gateway has it, once its first health check
# has read the model list (Claude Code cannot learn it by itself).
say "waiting for the gateway to read the model list (/internal/status/models)"
ctx=""
for _ in $(seq 1 60); do
    if glist=$(models_of "$base/internal/status/models") \
        && line=$(printf '%s\n' "$glist" | grep -m1 -E "^$model(:latest)?	"); then
        ctx=$(printf '%s\n' "$line" | cut -f2)
        break
    fi
    sleep 0.25
done
if [ -n "$ctx" ]; then
    say "the gateway serves $model, context window $ctx tokens"
    ctx_env="CLAUDE_CODE_MAX_CONTEXT_TOKENS=$ctx "
    ctx_note=""
else
    say "the gateway lists no context window for $model"
    ctx_env=""
    ctx_note="
    (DMR lists no context window for $model: add CLAUDE_CODE_MAX_CONTEXT_TOKENS=N,
    N the context size the model runs with, or Claude Code assumes 1,000,000
    tokens and says it does not recognize the model)"
fi

claude=claude
if ! command -v claude >/dev/null 2>&1; then
    if [ -x "$top/t/e2e/node_modules/.bin/claude" ]; then
        claude=$top/t/e2e/node_modules/.bin/claude
    else
        ctx_note="$ctx_note
    (claude is not installed: npm install -g @anthropic-ai/claude-code)"
    fi
fi

cat <<TRY

  ngx_olla_dmr_module on $base, in front of $backend (Ctrl-C stops it)

  curl $base/olla/dmr/engines/v1/models

  curl $base/olla/dmr/engines/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"$model","messages":[{"role":"user","content":"Hello!"}],"max_tokens":50}'

  curl -N $base/olla/dmr/engines/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"$model","messages":[{"role":"user","content":"Tell me a story"}],"stream":true}'

  curl $base/olla/anthropic/v1/messages -H 'Content-Type: application/json' \\
    -d '{"model":"$model","max_tokens":64,"messages":[{"role":"user","content":"Hello!"}]}'

  curl $base/internal/status/endpoints

  OpenAI SDK (Python):
    from openai import OpenAI
    client = OpenAI(base_url="$base/olla/dmr/engines/v1", api_key="not-needed")
    r = client.chat.completions.create(model="$model",
            messages=[{"role": "user", "content": "Hello!"}])
    print(r.choices[0].message.content)

  Anthropic SDK (Python):
    import anthropic
    client = anthropic.Anthropic(base_url="$base/olla/anthropic", api_key="not-needed")
    m = client.messages.create(model="$model", max_tokens=256,
            messages=[{"role": "user", "content": "Hello!"}])
    print(m.content[0].text)

  Claude Code (no Anthropic login; nothing leaves this machine but requests to the gateway):
    ANTHROPIC_BASE_URL=$base/olla/anthropic ANTHROPIC_AUTH_TOKEN=not-needed \\
    ANTHROPIC_MODEL=$model ANTHROPIC_DEFAULT_OPUS_MODEL=$model \\
    ANTHROPIC_DEFAULT_SONNET_MODEL=$model ANTHROPIC_DEFAULT_HAIKU_MODEL=$model \\
    CLAUDE_CODE_SUBAGENT_MODEL=$model ${ctx_env}CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \\
    $claude$ctx_note

TRY

wait "$nginx_pid"
