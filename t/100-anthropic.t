# The Anthropic Messages API (SPEC 5): passthrough to DMR, translation for
# OpenAI-only backends (JSON and SSE, tools, reasoning), errors and limits.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();
my $root = $ENV{TEST_NGINX_OLLA_ROOT};

OllaMock::start(names => ['dmr', 'oai']);

our $P1 = $ENV{TEST_NGINX_MOCK_PORT_1};
our $P2 = $ENV{TEST_NGINX_MOCK_PORT_2};

our $msg = '{"model":"ai/smollm2","max_tokens":64,"messages":[{"role":"user","content":"Hello!"}]}';
our $stream_msg = '{"model":"ai/smollm2","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello!"}]}';

open my $fh, '<', "$root/t/unit/fixtures/anthropic/claude_code_request.json" or die $!;
our $claude_code = do { local $/; <$fh> };
close $fh;

# the request the OpenAI-only backend received last
sub last_backend_request {
    my $log = OllaMock::requests_log($P2, 1);
    return ref $log eq 'ARRAY' ? $log->[-1] : $log->{requests}[-1];
}

# the bodies of the last 50 requests the OpenAI-only backend received
sub backend_bodies {
    my $log = OllaMock::requests_log($P2, 50);
    my @r = ref $log eq 'ARRAY' ? @$log : @{$log->{requests}};
    return join "\n", map { defined $_->{body} ? $_->{body} : '' } @r;
}

# the Anthropic SSE events of a body, as [name, decoded data]
sub events {
    my ($body) = @_;
    my @ev;
    while ($body =~ /event: (\w+)\ndata: ([^\n]*)\n\n/g) {
        push @ev, [$1, decode_json($2)];
    }
    return @ev;
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s; keepalive 4; }
    upstream oai { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=oai type=openai-compatible check_interval=30s check_timeout=2s; keepalive 4; }
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location /pt/ { olla_route dmr; proxy_pass http://dmr; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /tr/ { olla_route oai; proxy_pass http://oai; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
_EOC_
    }

    # before this block's nginx starts (and probes): no state left over
    OllaMock::reset();

    if (defined(my $code = $block->mock_setup)) {
        eval "package main; $code; 1" or die "mock_setup: $@";
    }

    # this nginx's first probes are answered (and logged by the mocks)
    # before the block's requests: the last request a mock logged is the
    # block's, not a probe
    my $init = $block->init // '';
    $block->set_value("init", "OllaTest::wait_probes(\$main::P1, 1);\n"
                              . "OllaTest::wait_probes(\$main::P2, 1);\n$init");
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: passthrough to DMR: path, query, headers and body untouched
--- more_headers
anthropic-version: 2023-06-01
anthropic-beta: interleaved-thinking-2025-05-14
x-api-key: sk-ant-client
Content-Type: application/json
--- request eval
"POST /pt/anthropic/v1/messages?beta=true\n$main::msg"
--- response_headers
X-Olla-Mode: passthrough
X-Olla-Endpoint: dmr
X-Olla-Backend-Type: docker-model-runner
X-Olla-Model: ai/smollm2
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex($main::msg);
qr{(?=.*"uri":"/anthropic/v1/messages\?beta=true")(?=.*"body_sha256":"$sha")(?=.*"anthropic-version":"2023-06-01")(?=.*"anthropic-beta":"interleaved-thinking-2025-05-14")(?!.*x-api-key)}s
--- no_error_log
[error]



=== TEST 2: passthrough count_tokens goes to DMR's counter
--- request eval
"POST /pt/anthropic/v1/messages/count_tokens\n$main::msg"
--- response_headers
X-Olla-Mode: passthrough
--- response_body_like: "uri":"/anthropic/v1/messages/count_tokens"
--- no_error_log
[error]



=== TEST 3: passthrough streams the backend's events unchanged
--- more_headers
X-Mock-Replay: t/unit/fixtures/anthropic/llamacpp_tools.sse
--- request eval
"POST /pt/anthropic/v1/messages\n$main::stream_msg"
--- response_headers
Content-Type: text/event-stream
X-Olla-Mode: passthrough
--- response_body eval
open my $f, '<', "$ENV{TEST_NGINX_OLLA_ROOT}/t/unit/fixtures/anthropic/llamacpp_tools.sse" or die;
local $/; <$f>
--- no_error_log
[error]



=== TEST 4: translation: the backend gets an OpenAI chat completion, the client an Anthropic message
--- more_headers
X-Mock-Replay: t/data/anthropic/completion.json
anthropic-version: 2023-06-01
Accept-Encoding: gzip
--- init
my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages', body => '{"model":"ai/qwen3","max_tokens":100,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":"Hi"}],"thinking":{"type":"enabled","budget_tokens":1024}}', headers => {'X-Mock-Replay' => 't/data/anthropic/completion.json', 'Accept-Encoding' => 'gzip'});
my $req = main::last_backend_request();
Test::More::is($req->{uri}, '/v1/chat/completions', 'the type\'s chat path');
Test::More::ok(!exists $req->{headers}{'accept-encoding'}, 'Accept-Encoding cleared upstream');
Test::More::ok(!exists $req->{headers}{'anthropic-version'}, 'anthropic-* headers stay at the gateway');
my $b = JSON::PP::decode_json($req->{body});
Test::More::is_deeply($b->{messages}, [{role => 'system', content => 'Be brief.'}, {role => 'user', content => 'Hi'}], 'system first, then the messages');
Test::More::is($b->{max_tokens}, 100, 'max_tokens kept');
Test::More::ok(!exists $b->{thinking}, 'thinking dropped');
--- request eval
"POST /tr/anthropic/v1/messages\n$main::msg"
--- response_headers
Content-Type: application/json
X-Olla-Mode: translation
X-Olla-Backend-Type: openai-compatible
--- response_body_like: ^\{"id":"msg_\w+","type":"message","role":"assistant","model":"ai/smollm2","content":\[\{"type":"text","text":"Hello from the backend\."\}\],"stop_reason":"end_turn","stop_sequence":null,"usage":\{"input_tokens":12,.*"output_tokens":5\}\}$
--- no_error_log
[error]



=== TEST 5: translation: tool calls and reasoning become tool_use and thinking blocks
--- more_headers
X-Mock-Replay: t/data/anthropic/tool-completion.json
--- request eval
"POST /tr/anthropic/v1/messages\n" . '{"model":"ai/qwen3","max_tokens":100,"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"tool_choice":{"type":"auto"}}'
--- response_body_like: "content":\[\{"type":"thinking","thinking":"The user wants the weather\.".*\},\{"type":"text","text":"Let me check\."\},\{"type":"tool_use","id":"call_1","name":"get_weather","input":\{"city":"Paris"\}\}\],"stop_reason":"tool_use"
--- no_error_log
[error]



=== TEST 6: translation, streaming: events arrive as the backend produces them
--- init
my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages', body => $main::stream_msg,
                       headers => {'X-Mock-SSE' => 5, 'X-Mock-Interval' => 0.2});
my @t;
for my $ev (@{ $r->{events} }) {
    push @t, ($ev->[0]) x (() = $ev->[1] =~ /"type":"text_delta"/g);
}
Test::More::is(scalar @t, 5, '5 text deltas');
my @gaps = map { $t[$_] - $t[$_ - 1] } 1 .. $#t;
Test::More::ok(!grep({ $_ < 0.12 || $_ > 0.6 } @gaps), 'one at a time: ' . join(' ', map { sprintf '%.2f', $_ } @t));
--- more_headers
X-Mock-SSE: 3
--- request eval
"POST /tr/anthropic/v1/messages\n$main::stream_msg"
--- response_headers
Content-Type: text/event-stream
X-Olla-Mode: translation
--- response_body_like eval
qr{^event: message_start\ndata: \{"type":"message_start".*?\n\nevent: ping\ndata: \{"type":"ping"\}\n\nevent: content_block_start\ndata: \{"type":"content_block_start","index":0,"content_block":\{"type":"text","text":""\}\}\n\n(event: content_block_delta\ndata: [^\n]*"text":"tok\d"[^\n]*\n\n){3}event: content_block_stop\ndata: \{"type":"content_block_stop","index":0\}\n\nevent: message_delta\ndata: \{"type":"message_delta","delta":\{"stop_reason":"end_turn","stop_sequence":null\}.*\n\nevent: message_stop\ndata: \{"type":"message_stop"\}\n\n$}s
--- no_error_log
[error]
--- timeout: 8



=== TEST 7: translation, streaming tool calls from llama.cpp
--- more_headers
X-Mock-Replay: t/unit/fixtures/anthropic/llamacpp_tools.sse
--- request eval
"POST /tr/anthropic/v1/messages\n$main::stream_msg"
--- response_body_like eval
qr{"content_block":\{"type":"tool_use","id":"[^"]+","name":"\w+","input":\{\}\}.*"type":"input_json_delta".*"stop_reason":"tool_use".*event: message_stop}s
--- no_error_log
[error]



=== TEST 8: translation, parallel tool calls that interleave come out complete and in order
--- more_headers
X-Mock-Replay: t/unit/fixtures/anthropic/interleaved_tools.sse
--- request eval
"POST /tr/anthropic/v1/messages\n$main::stream_msg"
--- response_body_like eval
qr{^(?!.*event: error)(?=.*"index":0,"content_block":\{"type":"tool_use","id":"call_r1","name":"Read".*"content_block_stop","index":0\}.*"index":1,"content_block":\{"type":"tool_use","id":"call_b1","name":"Bash".*"content_block_stop","index":1\}.*event: message_stop)}s
--- no_error_log
[error]



=== TEST 9: a Claude-Code-sized request (48 KB, 12 tools, thinking, context_management) read from a temp file
--- config
    location /tr/ { client_body_buffer_size 4k; olla_route oai; proxy_pass http://oai; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- init
my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages?beta=true', body => $main::claude_code,
                       headers => {'X-Mock-Replay' => 't/data/anthropic/tool-completion.json'});
Test::More::is($r->{status}, 200, 'answered');
my $req = main::last_backend_request();
my $b = JSON::PP::decode_json($req->{body});
Test::More::is(scalar @{ $b->{tools} }, 12, '12 tools translated');
Test::More::is($b->{tools}[0]{type}, 'function', 'as OpenAI functions');
Test::More::ok(!exists $b->{context_management} && !exists $b->{thinking}, 'unknown fields dropped');
Test::More::is($b->{stream_options}{include_usage}, JSON::PP::true, 'usage asked for') if $b->{stream};
Test::More::is($req->{uri}, '/v1/chat/completions', "the client's ?beta=true is not the backend's");
--- request eval
"POST /tr/anthropic/v1/messages?beta=true\n$main::claude_code"
--- more_headers
X-Mock-SSE: 4
--- response_body_like: event: message_stop
--- no_error_log
[error]



=== TEST 10: a backend that cuts the stream: the stream ends with an error event, never message_stop
--- more_headers
X-Mock-SSE: 10
X-Mock-Cut: 3
--- request eval
"POST /tr/anthropic/v1/messages\n$main::stream_msg"
--- response_body_like eval
qr{^(?!.*message_stop)(?=.*"text":"tok2".*event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"[^"]+"\}\}\n\n$)}s



=== TEST 11: backend errors keep their status, in Anthropic's shape
--- request eval
["POST /tr/anthropic/v1/messages\n$main::msg", "POST /tr/anthropic/v1/messages\n$main::msg", "POST /tr/anthropic/v1/messages\n$main::msg"]
--- more_headers eval
["X-Mock-Status: 429\nX-Mock-Content-Type: text/plain\nX-Mock-Body: slow down",
 "X-Mock-Status: 500\nX-Mock-Body: {\"error\":{\"message\":\"model crashed\",\"type\":\"server_error\"}}",
 "X-Mock-Status: 404\nX-Mock-Body: {\"error\":{\"message\":\"model not found\"}}"]
--- error_code eval
[429, 500, 404]
--- response_body_like eval
[qr{^\{"type":"error","error":\{"type":"rate_limit_error","message":"slow down"\}},
 qr{^\{"type":"error","error":\{"type":"api_error","message":"model crashed"\}},
 qr{^\{"type":"error","error":\{"type":"not_found_error","message":"model not found"\}}]
--- no_error_log
[error]



=== TEST 12: a garbage 200 from the backend is a 502 in Anthropic's shape
--- more_headers
X-Mock-Body: <html>not json</html>
--- request eval
"POST /tr/anthropic/v1/messages\n$main::msg"
--- error_code: 502
--- response_body_like: ^\{"type":"error","error":\{"type":"api_error","message":"[^"]+"\}



=== TEST 13: count_tokens without a native counter is estimated locally
--- request
POST /tr/anthropic/v1/messages/count_tokens
{"model":"ai/smollm2","system":"You are a helpful assistant.","messages":[{"role":"user","content":"What is the weather?"}]}
--- response_headers
X-Olla-Mode: translation
--- response_body
{"input_tokens":12}
--- no_error_log
[error]



=== TEST 14: /v1/models in Anthropic's list shape
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s; }
    upstream oai { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=oai type=openai-compatible check_interval=30s check_timeout=2s; }
--- mock_setup
OllaMock::set($main::P1, models_body => '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model"},{"id":"ai/qwen3:latest","object":"model"}]}');
--- init
OllaTest::wait_until(sub { OllaTest::http(GET => '/pt/anthropic/v1/models')->{body} =~ /qwen3/ }, 10);
--- request
GET /pt/anthropic/v1/models
--- response_body_like: ^\{"data":\[\{"type":"model","id":"ai/smollm2:latest","display_name":"ai/smollm2:latest","created_at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\},\{"type":"model","id":"ai/qwen3:latest".*\}\],"has_more":false,"first_id":"ai/smollm2:latest","last_id":"ai/qwen3:latest"\}$
--- no_error_log
[error]



=== TEST 15: errors on the Anthropic route are Anthropic-shaped: invalid JSON, no model, bad max_tokens, no messages, GET
--- request eval
["POST /pt/anthropic/v1/messages\n{\"model\": ",
 "POST /pt/anthropic/v1/messages\n{\"max_tokens\":10,\"messages\":[]}",
 "POST /pt/anthropic/v1/messages\n{\"model\":\"m\",\"max_tokens\":\"10\",\"messages\":[]}",
 "POST /pt/anthropic/v1/messages\n{\"model\":\"m\",\"max_tokens\":0,\"messages\":[]}",
 "POST /pt/anthropic/v1/messages\n{\"model\":\"m\",\"max_tokens\":10}",
 "GET /pt/anthropic/v1/messages",
 "POST /pt/anthropic/v1/nope\n{}"]
--- error_code eval
[400, 400, 400, 400, 400, 405, 404]
--- response_body_like eval
[qr{^\{"type":"error","error":\{"type":"invalid_request_error","message":"request body is not valid JSON: [^"]+"\},"request_id":"[0-9a-f]{32}"\}},
 qr{"type":"invalid_request_error","message":"\\"model\\" is required and must be a non-empty string"},
 qr{"type":"invalid_request_error","message":"\\"max_tokens\\" is required and must be an integer >= 1"},
 qr{"type":"invalid_request_error","message":"\\"max_tokens\\" is required and must be an integer >= 1"},
 qr{"type":"invalid_request_error","message":"\\"messages\\" is required and must be an array"},
 qr{"type":"invalid_request_error","message":"use POST for /v1/messages"},
 qr{"type":"not_found_error"}]
--- no_error_log
[error]



=== TEST 16: olla_max_message_size: 413 request_too_large
--- config
    olla_max_message_size 1k;
    location /pt/ { olla_route dmr; proxy_pass http://dmr; }
--- request eval
"POST /pt/anthropic/v1/messages\n" . '{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"' . ("x" x 2000) . '"}]}'
--- error_code: 413
--- response_body_like: ^\{"type":"error","error":\{"type":"request_too_large","message":"request body exceeds the maximum message size \(1024 bytes\)"\}
--- no_error_log
[error]



=== TEST 17: translation is invalid-request aware: a bad tool_choice is a 400
--- request eval
"POST /tr/anthropic/v1/messages\n" . '{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"t","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool"}}'
--- error_code: 400
--- response_body_like: "type":"invalid_request_error"
--- no_error_log
[error]



=== TEST 18: olla_passthrough off translates for DMR too, to its own chat path
--- config
    olla_passthrough off;
    location /pt/ { olla_route dmr; proxy_pass http://dmr; }
--- more_headers
X-Mock-Replay: t/data/anthropic/completion.json
--- init
OllaTest::http(POST => '/pt/anthropic/v1/messages', body => $main::msg, headers => {'X-Mock-Replay' => 't/data/anthropic/completion.json'});
my $log = OllaMock::requests_log($main::P1, 1);
my $req = ref $log eq 'ARRAY' ? $log->[-1] : $log->{requests}[-1];
Test::More::is($req->{uri}, '/engines/v1/chat/completions', "DMR's own chat path");
--- request eval
"POST /pt/anthropic/v1/messages\n$main::msg"
--- response_headers
X-Olla-Mode: translation
--- response_body_like: "text":"Hello from the backend\."
--- no_error_log
[error]



=== TEST 19: no passthrough and no translation: 503, said plainly
--- config
    olla_translation off;
    location /tr/ { olla_route oai; proxy_pass http://oai; }
--- request eval
"POST /tr/anthropic/v1/messages\n$main::msg"
--- error_code: 404
--- response_body_like: ^\{"type":"error","error":\{"type":"not_found_error","message":"no endpoint can serve this route"\}



=== TEST 20: a 50 MB translated stream: memory stays bounded, the answer completes
--- init
my $pid = OllaTest::nginx_pid();
my ($hwm0) = OllaTest::memory($pid);
my %d;
my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages', body => $main::stream_msg, timeout => 120,
                       headers => {'X-Mock-Stream-Bytes' => 50_000_000}, discard => \%d, http10 => 1);
my ($hwm1) = OllaTest::memory($pid);
Test::More::cmp_ok($d{bytes}, '>', 45_000_000, "the events of 50 MB of upstream SSE passed ($d{bytes} bytes)");
Test::More::like($d{tail}, qr/event: message_stop\ndata: \{"type":"message_stop"\}\n\n$/, 'and the stream completed');
Test::More::cmp_ok($hwm1 - $hwm0, '<', 16 * 1024, "the worker's peak RSS grew by " . ($hwm1 - $hwm0) . " kB (from $hwm0 kB)");
Test::More::diag("50 MB translated stream: peak RSS $hwm0 kB -> $hwm1 kB");
--- request eval
"POST /tr/anthropic/v1/messages/count_tokens\n$main::msg"
--- response_body_like: input_tokens
--- no_error_log
[error]
--- timeout: 150



=== TEST 21: a prompt over the context, passthrough and translated: Anthropic's words with the two numbers (Claude Code sizes its compaction by them)
--- init
my $llama = '{"error":{"code":400,"message":"request (31000 tokens) exceeds the available context size (8192 tokens)","type":"exceed_context_size_error","n_prompt_tokens":31000,"n_ctx":8192}}';
for my $p ('/pt', '/tr') {
    my $r = OllaTest::http(POST => "$p/anthropic/v1/messages", body => $main::msg,
                           headers => {'X-Mock-Status' => 400, 'X-Mock-Body' => $llama});
    Test::More::is($r->{status}, 400, "$p: 400");
    Test::More::like($r->{headers}{'content-type'}, qr{^application/json}, "$p: JSON");
    Test::More::like($r->{body}, qr/^\{"type":"error","error":\{"type":"invalid_request_error","message":"prompt is too long: 31000 tokens > 8192 maximum"\}/, "$p: in Anthropic's words");
}
--- request eval
"POST /pt/anthropic/v1/messages\n$main::msg"
--- more_headers
X-Mock-Status: 500
X-Mock-Body: {"error":{"code":500,"message":"boom","type":"server_error"}}
--- error_code: 500
--- response_body_like: ^\{"type":"error","error":\{"type":"api_error","message":"boom"\},"request_id":"[0-9a-f]{32}"\}$
--- no_error_log
[error]



=== TEST 22: passthrough keeps an error already in the Messages API's shape, byte for byte
--- request eval
"POST /pt/anthropic/v1/messages\n$main::msg"
--- more_headers
X-Mock-Status: 529
X-Mock-Body: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}
--- error_code: 529
--- response_body: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}
--- no_error_log
[error]



=== TEST 23: the Anthropic model list carries the window DMR lists (max_input_tokens, max_tokens)
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=1s check_timeout=500ms; }
    upstream oai { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=oai type=openai-compatible check_interval=30s check_timeout=2s; }
--- config
    location /pt/ { olla_route dmr; proxy_pass http://dmr; }
    location /internal/ { olla_status; }
--- init
OllaMock::set($main::P1, models_body => '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model","created":1742816981,"owned_by":"docker","dmr":{"context_window":65536}},{"id":"ai/qwen3:latest","object":"model","created":1742816981,"owned_by":"docker"}]}');
OllaTest::wait_endpoint('dmr', sub { $_[0]{model_count} == 2 }, 10) or die 'no model list';
--- request
GET /pt/anthropic/v1/models
--- response_body_like: "id":"ai/smollm2:latest","display_name":"ai/smollm2:latest","created_at":"[^"]+","max_input_tokens":65536,"max_tokens":65536\},\{"type":"model","id":"ai/qwen3:latest","display_name":"ai/qwen3:latest","created_at":"[^"]+"\}
--- no_error_log
[error]



=== TEST 24: a body in memory in two parts (what came with the header, the rest) is joined in place for the translator: the same translation as from a temp file; passthrough sends it byte for byte
--- config
    location /tr/ { client_body_buffer_size 4k; olla_route oai; proxy_pass http://oai; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /mem/ { client_body_buffer_size 1m; olla_route oai; proxy_pass http://oai; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /pt/ { client_body_buffer_size 1m; olla_route dmr; proxy_pass http://dmr; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- init
my %h = ('X-Mock-Replay' => 't/data/anthropic/tool-completion.json');
my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages', body => $main::claude_code, headers => \%h);
Test::More::is($r->{status}, 200, 'from a temp file: answered');
my $file = main::last_backend_request()->{body};
for my $n (1 .. 3) {
    $r = OllaTest::http(POST => '/mem/anthropic/v1/messages', body => $main::claude_code, headers => \%h);
    Test::More::is($r->{status}, 200, "in memory ($n): answered");
    Test::More::is(main::last_backend_request()->{body}, $file, "in memory ($n): the same translation");
}
$r = OllaTest::http(POST => '/pt/anthropic/v1/messages', body => $main::claude_code);
Test::More::is($r->{status}, 200, 'passthrough: answered');
my $log = OllaMock::requests_log($main::P1, 1);
my $req = ref $log eq 'ARRAY' ? $log->[-1] : $log->{requests}[-1];
Test::More::is(Digest::SHA::sha256_hex($req->{body}), Digest::SHA::sha256_hex($main::claude_code), 'passthrough: byte for byte');
--- request eval
"POST /mem/anthropic/v1/messages\n$main::claude_code"
--- more_headers
X-Mock-Replay: t/data/anthropic/tool-completion.json
--- response_body_like: "type":"message"
--- no_error_log
[error]



=== TEST 25: translation: a tool's schema and a call's input reach the backend byte for byte as the client wrote them (white space, escapes, a key given twice)
--- init
my %h = ('X-Mock-Replay' => 't/data/anthropic/completion.json');
my $schema = "{ \"type\" : \"object\",\n  \"properties\": {\"p\": {\"description\": \"caf\\u00e9 \\/\"}} }";
my $body = '{"model":"ai/qwen3","max_tokens":10,"tools":[{"name":"t","input_schema":' . $schema . '},{"name":"u","input_schema":{"type":"string","type":"object"}}],'
         . '"messages":[{"role":"user","content":"Go"},{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"t","input":{ "p" : [ 1, 2.50 ] }}]},'
         . '{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"ok"}]}]}';
my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages', body => $body, headers => \%h);
Test::More::is($r->{status}, 200, 'answered');
my $sent = main::last_backend_request()->{body};
Test::More::ok(index($sent, '"parameters":' . $schema . '}') >= 0, 'the schema as written') or Test::More::diag($sent);
Test::More::ok(index($sent, '"parameters":{"type":"string","type":"object"}') >= 0, 'a key given twice: as written') or Test::More::diag($sent);
my $b = JSON::PP::decode_json($sent);
Test::More::is($b->{messages}[1]{tool_calls}[0]{function}{arguments}, '{ "p" : [ 1, 2.50 ] }', 'the input as written, as the arguments');
Test::More::is($b->{tools}[0]{function}{parameters}{properties}{p}{description}, "caf\x{e9} /", 'the same value');
--- request eval
"POST /tr/anthropic/v1/messages\n$main::msg"
--- more_headers
X-Mock-Replay: t/data/anthropic/completion.json
--- response_body_like: "type":"message"
--- no_error_log
[error]



=== TEST 26: translation: a tool's schema is read to its end only, yet what the JSON reader refuses in it is still refused (Anthropic-shaped, nothing sent upstream): an integer or a real too large, a key with U+0000
--- init
my %h = ('X-Mock-Replay' => 't/data/anthropic/completion.json');
my $pre = '{"model":"ai/qwen3","max_tokens":10,';
my $msgs = '"messages":[{"role":"user","content":"Go"}]}';
my @bad = (
    [ '"tools":[{"name":"t","input_schema":{"type":"object","maximum":99999999999999999999}}],' . $msgs, qr/request body is not valid JSON: .*integer/ ],
    [ '"tools":[{"name":"t","input_schema":{"type":"object","x":1e999}}],' . $msgs, qr/request body is not valid JSON: .*real/ ],
    [ '"tools":[{"name":"t","input_schema":{"a\\u0000":1}}],' . $msgs, qr/request body is not valid JSON: .*NUL/ ],
);
for my $c (@bad) {
    my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages', body => $pre . $c->[0], headers => \%h);
    Test::More::is($r->{status}, 400, 'refused: ' . substr($c->[0], 0, 70));
    Test::More::like($r->{body}, qr/^\{"type":"error","error":\{"type":"invalid_request_error","message":"/, 'in the Anthropic shape');
    Test::More::like($r->{body}, $c->[1], 'saying why') or Test::More::diag($r->{body});
}
Test::More::unlike(main::backend_bodies(), qr/99999999999999999999|1e999|"a\\u0000"/, 'nothing went upstream');

# a U+0000 in a string value, a real and white space in the schema: read, and passed as written
my $schema = '{"type":"object","properties":{"p":{"default":"a\\u0000b","minimum":0.5}}, "required":[]}';
my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages', body => $pre . '"tools":[{"name":"t","input_schema":' . $schema . '}],' . $msgs, headers => \%h);
Test::More::is($r->{status}, 200, 'answered');
Test::More::ok(index(main::last_backend_request()->{body}, '"parameters":' . $schema . '}') >= 0, 'as written') or Test::More::diag(main::last_backend_request()->{body});
--- request eval
"POST /tr/anthropic/v1/messages\n$main::msg"
--- more_headers
X-Mock-Replay: t/data/anthropic/completion.json
--- response_body_like: "type":"message"
--- no_error_log
[error]



=== TEST 27: count_tokens counted locally skips the tools' schemas to their ends (the scan read the body), yet counts them as jansson writes them and refuses what the JSON reader refuses in them
--- init
my $pre = '{"model":"ai/smollm2",';
my $msgs = '"messages":[{"role":"user","content":"hi"}]}';
# name 6 + description 14 + the schema's compact, sorted dump 58 + user 2: 80 bytes, 20 tokens
for my $schema ('{"type":"object","properties":{"query":{"type":"string"}}}',
                "{ \"properties\" : {\"query\": {\"type\":\n \"string\"}},\t\"type\": \"object\" }",
                '{"type":"\\u006fbject","properties":{"query":{"type":"string"}}}') {
    my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages/count_tokens',
                           body => $pre . '"tools":[{"name":"search","description":"Search the web","input_schema":' . $schema . '}],' . $msgs);
    Test::More::is($r->{status}, 200, 'counted: ' . $schema);
    Test::More::is($r->{body}, "{\"input_tokens\":20}\n", 'the same count, however the schema is written');
}
my @bad = (
    [ '{"type":"object","maximum":99999999999999999999}', qr/request body is not valid JSON: .*integer/ ],
    [ '{"type":"object","x":1e999}', qr/request body is not valid JSON: .*real/ ],
    [ '{"a\\u0000":1}', qr/request body is not valid JSON: .*NUL/ ],
);
for my $c (@bad) {
    my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages/count_tokens',
                           body => $pre . '"tools":[{"name":"t","input_schema":' . $c->[0] . '}],' . $msgs);
    Test::More::is($r->{status}, 400, 'refused: ' . $c->[0]);
    Test::More::like($r->{body}, qr/^\{"type":"error","error":\{"type":"invalid_request_error","message":"/, 'in the Anthropic shape');
    Test::More::like($r->{body}, $c->[1], 'saying why') or Test::More::diag($r->{body});
}
--- request eval
"POST /tr/anthropic/v1/messages/count_tokens\n$main::msg"
--- response_headers
X-Olla-Mode: translation
--- response_body_like: ^\{"input_tokens":\d+\}$
--- no_error_log
[error]



=== TEST 28: translation: a request sent chunked in small chunks is joined into one buffer once (olla_body_memory), translated from there, its content whole
--- config
    location /tr/ { client_body_buffer_size 1m; olla_route oai; proxy_pass http://oai; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- init
my $content = join '', map { "word $_ \\\"q\\\" caf\\u00e9 " } 1 .. 400;
my $body = '{"model":"ai/qwen3","max_tokens":10,"messages":[{"role":"user","content":"' . $content . '"}]}';
my $r = OllaTest::http(POST => '/tr/anthropic/v1/messages', body => $body, chunked => 200,
                       headers => {'X-Mock-Replay' => 't/data/anthropic/completion.json', 'Content-Type' => 'application/json'});
Test::More::is($r->{status}, 200, 'answered');
Test::More::like($r->{body}, qr/"type":"message"/, 'an Anthropic message');
my $b = JSON::PP::decode_json(main::last_backend_request()->{body});
Test::More::is($b->{messages}[0]{content}, JSON::PP::decode_json('"' . $content . '"'), 'the content whole, as the client wrote it');
--- request eval
"POST /tr/anthropic/v1/messages\n$main::msg"
--- more_headers
X-Mock-Replay: t/data/anthropic/completion.json
--- response_body_like: "type":"message"
--- error_log eval
qr{\[info\] .*olla: the request body \(9970 bytes in \d+ pieces\) was joined into one buffer and is sent from there \(olla_body_memory\)}
--- no_error_log eval
[qr/\[error\]/, qr/read from its temp file/]
