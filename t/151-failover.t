# Failover on fast failures (olla_failover, issue 15): an answer seen
# before anything went to the client - a 429, a 5xx, or DMR's "model not
# found" from an endpoint that lists the model - that came within the
# bound is tried on another endpoint of the type; a slow failure is not run
# twice; a backend's Retry-After keeps its endpoint out of the candidates
# until then; the tries are bounded and every one is in $upstream_addr and
# $upstream_status.
#
# Endpoint "a" (priority 95, tried first) is an nginx server block whose
# answer the request's X-A header chooses; endpoint "b" (priority 80) is
# the mock, which answers 200 (or streams with X-Mock-SSE).

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr-b', 'dmr-c']);

our $CHAT = '/engines/v1/chat/completions';
our $URL = '/olla/dmr/engines/v1/chat/completions';
our $BODY = '{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}';

# endpoint "a": lists ai/smollm2, answers as X-A says
our $A = <<'_EOC_';
    server {
        listen 127.0.0.1:18511;
        location = /engines/v1/models { return 200 '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model"}]}'; }
        location = /v1/models { return 200 '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model"}]}'; }
        location = /engines/ps { return 200 '[]'; }
        location / {
            default_type application/json;
            if ($http_x_a = "429") { add_header Retry-After 30 always; return 429 '{"error":{"message":"slow down"}}'; }
            if ($http_x_a = "500") { return 500 '{"error":{"message":"boom","type":"server_error"}}'; }
            if ($http_x_a = "503") { return 503 '{"error":{"message":"Loading model","type":"unavailable_error","code":503}}'; }
            if ($http_x_a = "404") { return 404 "error while getting model: get model '\"ai/smollm2\"': model not found\n"; }
            if ($http_x_a = "404-other") { return 404 "404 page not found\n"; }
            return 200 '{"from":"a"}';
        }
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (defined $block->http_config && $block->http_config =~ /__A__/) {
        (my $hc = $block->http_config) =~ s/__A__/$main::A/;
        $block->set_value("http_config", $hc);
    }

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<"_EOC_");
    olla_profiles \$TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18511 name=a priority=95 check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:\$TEST_NGINX_MOCK_PORT_1 name=b priority=80 check_interval=30s check_timeout=2s;
    }
$main::A
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        add_header X-Up-Addr $upstream_addr always;
        add_header X-Up-Status $upstream_status always;
    }
    location /internal/ { olla_status; }
_EOC_
    }

    if (!defined $block->init) {
        $block->set_value("init", "OllaTest::wait_status_settled();");
    }
});

master_on();
workers(2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a fast 429 with Retry-After: tried on b; a rests until then, the next request goes to b alone
--- request eval
["POST $main::URL\n$main::BODY", "POST $main::URL\n$main::BODY", "GET /internal/status/endpoints", "GET /internal/metrics"]
--- more_headers
X-A: 429
--- error_code eval
[200, 200, 200, 200]
--- response_headers_like eval
["X-Olla-Endpoint: b\nX-Up-Status: ^429, 200\$\nX-Up-Addr: ^127\\.0\\.0\\.1:18511, 127\\.0\\.0\\.1:$ENV{TEST_NGINX_MOCK_PORT_1}\$",
 "X-Olla-Endpoint: b\nX-Up-Status: ^200\$\nX-Up-Addr: ^127\\.0\\.0\\.1:$ENV{TEST_NGINX_MOCK_PORT_1}\$",
 "", ""]
--- response_body_like eval
[qr{"mock":"dmr-b"}, qr{"mock":"dmr-b"},
 qr{"name":"a",.*"requests":1,.*"failover":\{"retried":\{"429":1,"5xx":0,"model_not_found":0\},"retry_after_ms":(?:29\d\d\d|30000),"rests":1\}.*"name":"b",.*"requests":2,},
 qr{olla_failover_total\{endpoint="a",type="docker-model-runner",upstream="models",reason="429"\} 1\n(?s:.*)olla_endpoint_retry_after_seconds\{endpoint="a",type="docker-model-runner",upstream="models"\} (?:29|30)\.\d{3}\n}]
--- no_error_log
[error]



=== TEST 2: the retry and the rest are logged (info)
--- more_headers
X-A: 429
--- request eval
"POST $main::URL\n$main::BODY"
--- response_headers_like
X-Up-Status: ^429, 200$
--- error_log eval
[qr{\[info\] .*olla: endpoint "a" answered 429 with Retry-After: 30; it takes no request for 30s}, qr{\[info\] .*olla: endpoint "a" answered 429 after \d+ms \(429\): trying endpoint "b"}]
--- no_error_log
[error]



=== TEST 3: a fast 500 is tried on b
--- more_headers
X-A: 500
--- request eval
"POST $main::URL\n$main::BODY"
--- response_headers_like
X-Olla-Endpoint: b
X-Up-Status: ^500, 200$
--- response_body_like: "mock":"dmr-b"
--- no_error_log
[error]



=== TEST 4: a fast 503 is tried on b
--- more_headers
X-A: 503
--- request eval
"POST $main::URL\n$main::BODY"
--- response_headers_like
X-Olla-Endpoint: b
X-Up-Status: ^503, 200$
--- response_body_like: "mock":"dmr-b"
--- no_error_log
[error]



=== TEST 5: DMR's "model not found" from an endpoint that lists the model is tried on b
--- more_headers
X-A: 404
--- request eval
["POST $main::URL\n$main::BODY", "GET /internal/status/endpoints"]
--- response_headers_like eval
["X-Olla-Endpoint: b\nX-Up-Status: ^404, 200\$", ""]
--- response_body_like eval
[qr{"mock":"dmr-b"}, qr{"name":"a",.*"models":\["ai/smollm2:latest"\],.*"failover":\{"retried":\{"429":0,"5xx":0,"model_not_found":1\}}]
--- no_error_log
[error]



=== TEST 6: another 404 is the answer: not tried elsewhere
--- more_headers
X-A: 404-other
--- request eval
"POST $main::URL\n$main::BODY"
--- error_code: 404
--- response_headers_like
X-Olla-Endpoint: a
X-Up-Status: ^404$
--- response_body
404 page not found
--- no_error_log
[error]



=== TEST 7: a failure slower than the bound is not run twice
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=c priority=95 check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=b priority=80 check_interval=30s check_timeout=2s;
        olla_failover tries=3 fast=300ms;
    }
--- more_headers
X-Mock-Status: 500
X-Mock-Delay: 0.8
--- request eval
"POST $main::URL\n$main::BODY"
--- error_code: 500
--- response_headers_like
X-Olla-Endpoint: c
X-Up-Status: ^500$
--- response_body_like: "mock":"dmr-c"
--- error_log eval
qr{\[info\] .*olla: endpoint "c" answered 500 after \d+ms, not tried elsewhere: slower than olla_failover fast=}
--- no_error_log
[error]
--- timeout: 6



=== TEST 8: fast failures everywhere: the tries are bounded, the last answer is the client's
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=b check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=c check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:18511 name=a check_interval=30s check_timeout=2s;
        olla_failover tries=2;
    }
    __A__
--- more_headers
X-Mock-Status: 500
X-A: 500
--- request eval
"POST $main::URL\n$main::BODY"
--- error_code: 500
--- response_headers_like
X-Up-Status: ^500, 500$
X-Up-Addr: ^127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+$
--- no_error_log
[error]



=== TEST 9: a stream: a fast 503 before the first byte, the whole stream from b
--- more_headers
X-A: 503
X-Mock-SSE: 3
--- request eval
"POST $main::URL\n{\"model\":\"ai/smollm2\",\"stream\":true,\"messages\":[]}"
--- response_headers_like
Content-Type: text/event-stream
X-Olla-Endpoint: b
X-Up-Status: ^503, 200$
--- response_body_like: ^data: .*"content":"tok0".*"content":"tok2".*"finish_reason":"stop".*data: \[DONE\]\n\n$
--- no_error_log
[error]



=== TEST 10: a translated route (Anthropic to OpenAI): a fast 500, the stream translated from b
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18511 name=a type=openai-compatible priority=95 check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=b type=openai-compatible priority=80 check_interval=30s check_timeout=2s;
    }
    __A__
--- more_headers
X-A: 500
X-Mock-SSE: 3
--- request eval
"POST /olla/anthropic/v1/messages\n{\"model\":\"ai/smollm2\",\"max_tokens\":16,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
--- response_headers_like
X-Olla-Mode: translation
X-Olla-Endpoint: b
X-Up-Status: ^500, 200$
--- response_body_like: (?s)^event: message_start\n.*tok2.*event: message_stop\n
--- no_error_log
[error]



=== TEST 11: olla_failover off: the backend's 429 is the answer
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18511 name=a priority=95 check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=b priority=80 check_interval=30s check_timeout=2s;
        olla_failover off;
    }
    __A__
--- more_headers
X-A: 429
--- request eval
["POST $main::URL\n$main::BODY", "GET /internal/status/endpoints"]
--- error_code eval
[429, 200]
--- response_headers_like eval
["X-Olla-Endpoint: a\nX-Up-Status: ^429\$\nRetry-After: 30", ""]
--- response_body_like eval
[qr{slow down}, qr{"failover":\{"enabled":false,"tries":0,}]
--- no_error_log
[error]



=== TEST 12: no other endpoint can take the request now: the backend's own answer, not nginx's 502
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18511 name=a priority=95 check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=b priority=80 max_concurrent=1 check_interval=30s check_timeout=2s;
    }
    __A__
--- init
OllaTest::wait_status_settled();
my $n = OllaTest::mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT);
# b's one slot taken: a request that a failed and b holds for 2 s
OllaTest::background(POST => $main::URL, headers => {'X-A' => '500', 'X-Mock-Delay' => 2}, body => $main::BODY, timeout => 10);
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $n + 1);
--- more_headers
X-A: 500
--- request eval
"POST $main::URL\n$main::BODY"
--- error_code: 500
--- response_headers_like
X-Olla-Endpoint: a
X-Up-Status: ^500$
--- response_body_like: "message":"boom"
--- error_log
no other endpoint can take the request now
--- no_error_log
[error]
--- timeout: 6



=== TEST 13: olla_failover: tries below 2
--- http_config
    upstream models { olla_endpoint http://127.0.0.1:1; olla_failover tries=1; }
--- config
--- init
--- must_die
--- error_log eval
qr{invalid "tries=1": the endpoints a request may try, the first included, from 2 to 16 in \S+nginx\.conf:\d+}



=== TEST 14: olla_failover: a bad time, an unknown parameter
--- http_config
    upstream models { olla_endpoint http://127.0.0.1:1; olla_failover fast=soon; }
--- config
--- init
--- must_die
--- error_log eval
qr{invalid "fast=soon": a time up to 10m such as "5s" is expected in \S+nginx\.conf:\d+}



=== TEST 15: olla_failover: an unknown parameter
--- http_config
    upstream models { olla_endpoint http://127.0.0.1:1; olla_failover on retries=2; }
--- config
--- init
--- must_die
--- error_log eval
qr{invalid parameter "retries=2"; olla_failover takes \[on\] \[tries=N\] \[fast=TIME\] or "off" in \S+nginx\.conf:\d+}
