# olla_route (SPEC 3, 4): the route table, the path allow-list and
# traversal attempts, model-aware choice, error shapes, request headers.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr-a', 'dmr-b', 'dmr-c']);

repeat_each(2);
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    # three DMR endpoints: a lists ai/smollm2, b lists ai/llama3.2, c none;
    # the lists come from nginx mocks, the traffic goes to OllaMock echoes
    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a model_url=/a/models health_check_url=/a/models check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b model_url=/b/models health_check_url=/b/models check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3 name=c check_interval=30s check_timeout=2s;
    }
_EOC_
    }

    # a status location for the waits (the blocks' own are left as they
    # are), and by default: wait until every endpoint had its first probe,
    # so the model lists are there
    $block->set_value("config", ($block->config // '')
        . "\n    location /_olla_test/ { olla_status; }\n");

    if (!defined $block->init) {
        $block->set_value("init", "OllaTest::wait_status_settled('/_olla_test/status/endpoints');");
    }
});

# model lists for a and b, by path, from the mock's per-port settings
sub setup_lists {
    require OllaTest;
    my ($p1, $p2) = ($ENV{TEST_NGINX_MOCK_PORT_1}, $ENV{TEST_NGINX_MOCK_PORT_2});
    my $a = '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model","created":1734000000,"owned_by":"docker","dmr":{"parameters":"361.82M"}}]}';
    my $b = '{"object":"list","data":[{"id":"ai/llama3.2:latest","object":"model","created":1734000001,"owned_by":"docker"}]}';
    for ([$p1, $a], [$p2, $b]) {
        my ($port, $body) = @$_;
        (my $enc = $body) =~ s/([^A-Za-z0-9_.~-])/sprintf("%%%02X", ord $1)/ge;
        OllaTest::http(GET => "http://127.0.0.1:$port/_mock/set?port=$port&models_body=$enc");
    }
}

setup_lists();

# a chat body of N runs of escapes and quotes (15 bytes each: 61 + 15 N + 4
# in all), and the echo backend's account of receiving it byte for byte
sub big_body {
    my $n = shift;
    return '{"model":"ai/smollm2","messages":[{"role":"user","content":"'
           . ("x\\u00e9y \\\"q\\\" " x $n) . '"}]}';
}

sub echoed {
    require Digest::SHA;
    my $body = shift;
    my ($sha, $len) = (Digest::SHA::sha256_hex($body), length $body);
    return qr{(?=.*"body_length":$len\b)(?=.*"body_sha256":"$sha")(?=.*"mock":"dmr-a")}s;
}

# the three endpoints and an HTTP/2 server (h2c, port 1 of the random ports)
# that routes /olla/ with BUFFER as client_body_buffer_size; the blocks'
# nginx on the test port passes its /olla/ there with grpc_pass, nginx's
# HTTP/2 client: the body reaches the module in HTTP/2 DATA frames
sub h2_http_config {
    my $buffer = shift;
    return <<'_EOC_' =~ s/BUFFER/$buffer/r;
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a model_url=/a/models health_check_url=/a/models check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b model_url=/b/models health_check_url=/b/models check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3 name=c check_interval=30s check_timeout=2s;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 http2;
        client_body_buffer_size BUFFER;
        location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    }
_EOC_
}

our $h2_config = <<'_EOC_';
    client_body_buffer_size 1m;
    location /olla/ { grpc_pass grpc://127.0.0.1:$TEST_NGINX_RAND_PORT_1; }
_EOC_

# a chat completion request with BODY sent chunked, SIZE bytes a chunk
sub chunked {
    my ($body, $size) = @_;
    require OllaTest;
    return "POST /olla/dmr/engines/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           . "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n" . OllaTest::chunks($body, $size);
}

run_tests();

__DATA__

=== TEST 1: the nine DMR inference paths reach a DMR endpoint unchanged
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
[ map { "POST /olla/dmr$_\n{\"model\":\"ai/smollm2\"}" }
  map { my $e = $_; map { "$e/$_" } qw(chat/completions completions embeddings) }
  qw(/engines/v1 /engines/llama.cpp/v1 /engines/vllm/v1) ]
--- response_body_like eval
[ map { qr{"uri":"\Q$_\E"} }
  map { my $e = $_; map { "$e/$_" } qw(chat/completions completions embeddings) }
  qw(/engines/v1 /engines/llama.cpp/v1 /engines/vllm/v1) ]
--- no_error_log
[error]



=== TEST 2: the three DMR models paths are answered by the gateway
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
["GET /olla/dmr/engines/v1/models", "GET /olla/dmr/engines/llama.cpp/v1/models", "GET /olla/dmr/engines/vllm/v1/models"]
--- response_body eval
[ ('{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model","created":1734000000,"owned_by":"docker","dmr":{"parameters":"361.82M"}},{"id":"ai/llama3.2:latest","object":"model","created":1734000001,"owned_by":"docker"}]}' . "\n") x 3 ]
--- response_headers eval
[ ("Content-Type: application/json") x 3 ]
--- no_error_log
[error]



=== TEST 3: the query string is forwarded
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions?beta=true&x=%20y
{"model":"ai/smollm2"}
--- response_body_like: "uri":"/engines/v1/chat/completions\?beta=true&x=%20y"
--- no_error_log
[error]



=== TEST 4: a path the profile does not list is a 404 naming it
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/audio/speech
{"model":"ai/smollm2"}
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":\{"message":"\\"/engines/v1/audio/speech\\" is not an API path of endpoint type \\"docker-model-runner\\"","type":"not_found_error","param":null,"code":"path_not_found","request_id":"[0-9a-f]{32}"\}\}$
--- no_error_log
[error]



=== TEST 5: an unknown prefix is a 404
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
GET /olla/nonexistent/v1/models
--- error_code: 404
--- response_body_like: "code":"route_not_found"
--- no_error_log
[error]



=== TEST 6: traversal attempts are refused: ".."
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- raw_request eval
"GET /olla/dmr/engines/v1/../v1/models HTTP/1.0\r\n\r\n"
--- error_code: 400
--- response_body_like: "code":"invalid_path"
--- no_error_log
[error]



=== TEST 7: traversal attempts are refused: an encoded slash
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- raw_request eval
"GET /olla/dmr/engines%2Fv1/models HTTP/1.0\r\n\r\n"
--- error_code: 400
--- response_body_like: "code":"invalid_path"
--- no_error_log
[error]



=== TEST 8: traversal attempts are refused: a doubled slash
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- raw_request eval
"GET /olla/dmr//engines/v1/models HTTP/1.0\r\n\r\n"
--- error_code: 400
--- response_body_like: "code":"invalid_path"
--- no_error_log
[error]



=== TEST 9: traversal attempts are refused: an encoded dot segment
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- raw_request eval
"GET /olla/dmr/engines/%2e%2e/engines/v1/models HTTP/1.0\r\n\r\n"
--- error_code: 400
--- response_body_like: "code":"invalid_path"
--- no_error_log
[error]



=== TEST 10: model-aware choice: the endpoint that lists the model
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
[ map { "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"$_\",\"messages\":[]}" }
  ("ai/smollm2", "AI/SmolLM2", "ai/smollm2:latest", "smollm2", "llama3.2", "ai/llama3.2:latest") ]
--- response_body_like eval
[ (qr{"mock":"dmr-a"}) x 4, (qr{"mock":"dmr-b"}) x 2 ]
--- no_error_log
[error]



=== TEST 11: a model nobody lists goes to the endpoint with an empty list (lazy loading)
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/qwen3","messages":[]}
--- response_body_like: "mock":"dmr-c"
--- response_headers_like
X-Olla-Endpoint: c
X-Olla-Model: ai/qwen3
--- no_error_log
[error]



=== TEST 12: when every endpoint lists models and none this one: 404 model_not_found
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a model_url=/a/models health_check_url=/a/models check_interval=30s check_timeout=2s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b model_url=/b/models health_check_url=/b/models check_interval=30s check_timeout=2s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/qwen3","messages":[]}
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":\{"message":"model \\"ai/qwen3:latest\\" is not available on any healthy endpoint","type":"invalid_request_error","param":null,"code":"model_not_found","request_id":"[0-9a-f]{32}"\}\}$
--- no_error_log
[error]



=== TEST 13: no routable endpoint: 503 with Retry-After
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:1 name=gone check_interval=5s check_timeout=1s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- error_code: 503
--- response_headers_like
Retry-After: [1-5]
Content-Type: application/json
--- response_body_like: "type":"service_unavailable","param":null,"code":"no_healthy_endpoint"
--- no_error_log eval
$OllaTest::NoError



=== TEST 14: at the concurrency limit without a queue: 429 with Retry-After
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a max_concurrent=1 check_interval=30s check_timeout=2s;
        olla_queue off;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- init
OllaTest::wait_status_settled('/_olla_test/status/endpoints');
# the slow request is in flight at the mock before the block's request
my $n = OllaTest::mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, '/engines/v1/chat/completions');
OllaTest::background(POST => "/olla/dmr/engines/v1/chat/completions", headers => {'X-Mock-Delay' => 1.5}, body => '{"model":"ai/smollm2"}');
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, '/engines/v1/chat/completions', $n + 1);
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- error_code: 429
--- response_headers
Retry-After: 1
--- response_body_like: "type":"rate_limit_error","param":null,"code":"concurrency_limit"
--- no_error_log
[error]
--- timeout: 5



=== TEST 15: invalid JSON is a 400 with the offset
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model": "ai/smollm2", "messages": [}
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"request body is not valid JSON: [^"]+ \(at byte 37\)","type":"invalid_request_error","param":null,"code":"invalid_json"
--- no_error_log
[error]



=== TEST 16: a model that is not a string is a 400
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model": {"name": "ai/smollm2"}}
--- error_code: 400
--- response_body_like: "message":"\\"model\\" must be a string","type":"invalid_request_error","param":null,"code":"invalid_model"
--- no_error_log
[error]



=== TEST 17: an empty model is a 400
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model": ""}
--- error_code: 400
--- response_body_like: "message":"\\"model\\" must not be empty","type":"invalid_request_error","param":null,"code":"invalid_model"
--- no_error_log
[error]



=== TEST 18: deeply nested JSON is a 400
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"m\",\"x\":" . ("[" x 5000) . ("]" x 5000) . "}"
--- error_code: 400
--- response_body_like: "code":"invalid_json"
--- no_error_log
[error]



=== TEST 19: a body that is not an object is a 400
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions
["model"]
--- error_code: 400
--- response_body_like: "code":"invalid_json"
--- no_error_log
[error]



=== TEST 20: a body over client_max_body_size is a 413 in JSON
--- config
    location /olla/ { client_max_body_size 1k; olla_route models; proxy_pass http://models; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"m\",\"x\":\"" . ("a" x 4000) . "\"}"
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"error":\{"message":"the request body is larger than client_max_body_size","type":"invalid_request_error","param":null,"code":"request_too_large","request_id":"[0-9a-f]{32}"\}\}$



=== TEST 21: a body larger than client_body_buffer_size reaches the backend byte for byte
--- config
    client_body_buffer_size 1k;
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . '{"model":"ai/smollm2","messages":[{"role":"user","content":"' . ("x\\u00e9y " x 20000) . '"}]}'
--- response_body_like eval
use Digest::SHA qw(sha256_hex);
my $body = '{"model":"ai/smollm2","messages":[{"role":"user","content":"' . ("x\\u00e9y " x 20000) . '"}]}';
my $sha = sha256_hex($body);
my $len = length $body;
qr{(?=.*"body_length":$len\b)(?=.*"body_sha256":"$sha")(?=.*"mock":"dmr-a")}s
--- no_error_log
[error]



=== TEST 22: Origin and credentials stay at the gateway; X-Request-ID goes upstream
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- more_headers
Origin: http://evil.example
Authorization: Bearer sk-client
X-Api-Key: client-key
Cookie: session=1
Proxy-Authorization: Basic eA==
X-Request-ID: my-trace-42
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- response_body_like eval
qr{(?!.*"origin")(?!.*"authorization")(?!.*"x-api-key")(?!.*"cookie")(?!.*"proxy-authorization")(?=.*"x-request-id":"my-trace-42")}s
--- response_headers
X-Olla-Request-ID: my-trace-42
--- no_error_log
[error]



=== TEST 23: olla_forward_credentials on passes them through
--- config
    olla_forward_credentials on;
    location /olla/ { olla_route models; proxy_pass http://models; }
--- more_headers
Origin: http://evil.example
Authorization: Bearer sk-client
X-Api-Key: client-key
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- response_body_like eval
qr{(?!.*"origin")(?=.*"authorization":"Bearer sk-client")(?=.*"x-api-key":"client-key")}s
--- no_error_log
[error]



=== TEST 24: an invalid inbound X-Request-ID is replaced
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- more_headers eval
"X-Request-ID: " . ("x" x 200)
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- response_headers_like
X-Olla-Request-ID: ^[0-9a-f]{32}$
--- response_body_like: "x-request-id":"[0-9a-f]{32}"
--- no_error_log
[error]



=== TEST 25: the X-Olla-* response headers, and a backend's own dropped
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- more_headers
X-Mock-Header: X-Olla-Endpoint: spoofed
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"AI/SmolLM2"}
--- response_headers_like
X-Olla-Request-ID: ^[0-9a-f]{32}$
X-Olla-Endpoint: ^a$
X-Olla-Backend-Type: ^docker-model-runner$
X-Olla-Model: ^AI/SmolLM2$
X-Olla-Response-Time: ^\d+ms$
--- raw_response_headers_unlike: spoofed
--- no_error_log
[error]



=== TEST 26: a model name with CR/LF is sanitised in X-Olla-Model
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/evil\r\nX-Injected: yes"}
--- response_headers
X-Olla-Model: ai/evilX-Injected: yes
X-Injected:
--- no_error_log
[error]



=== TEST 27: a 10 KB model name is bounded in X-Olla-Model
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"" . ("m" x 10240) . "\"}"
--- response_headers_like eval
"X-Olla-Model: ^m{255}\$"
--- response_body_like: "mock":"dmr-c"
--- no_error_log
[error]



=== TEST 28: the variables, for log_format and add_header
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        add_header X-Vars "route=$olla_route endpoint=$olla_endpoint type=$olla_backend_type model=$olla_model mode=$olla_mode id=$olla_request_id";
    }
--- more_headers
X-Request-ID: abc-1
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- response_headers
X-Vars: route=dmr endpoint=a type=docker-model-runner model=ai/smollm2 mode= id=abc-1
--- no_error_log
[error]



=== TEST 29: /olla/proxy/v1/... rewrites the path per type
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
    upstream ollama { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=o type=ollama check_interval=30s check_timeout=2s; }
--- config
    location /dmr/ { olla_route dmr; proxy_pass http://dmr; }
    location /ollama/ { olla_route ollama; proxy_pass http://ollama; }
--- request eval
["POST /dmr/proxy/v1/chat/completions\n{\"model\":\"ai/smollm2\"}",
 "POST /dmr/proxy/v1/embeddings\n{\"model\":\"ai/smollm2\"}",
 "POST /ollama/proxy/v1/chat/completions\n{\"model\":\"llama3.2\"}"]
--- response_body_like eval
[qr{"uri":"/engines/v1/chat/completions"}, qr{"uri":"/engines/v1/embeddings"}, qr{"uri":"/v1/chat/completions"}]
--- no_error_log
[error]



=== TEST 30: /olla/proxy/v1/models and /olla/models list every type
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
["GET /olla/proxy/v1/models", "GET /olla/models"]
--- response_body eval
['{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model","created":1734000000,"owned_by":"ai"},{"id":"ai/llama3.2:latest","object":"model","created":1734000001,"owned_by":"ai"}]}' . "\n",
 '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model","created":1734000000,"owned_by":"docker","dmr":{"parameters":"361.82M"},"olla":{"endpoints":["a"],"types":["docker-model-runner"]}},{"id":"ai/llama3.2:latest","object":"model","created":1734000001,"owned_by":"docker","olla":{"endpoints":["b"],"types":["docker-model-runner"]}}]}' . "\n"]
--- no_error_log
[error]



=== TEST 31: POST to a models path is refused with 405
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
POST /olla/dmr/engines/v1/models
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body_like: "code":"method_not_allowed"
--- no_error_log
[error]



=== TEST 32: a GET without a body is routed too
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request
GET /olla/dmr/engines/v1/chat/completions
--- response_body_like: "method":"GET"
--- no_error_log
[error]



=== TEST 33: a profile's custom prefix works with no nginx change
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/unit/fixtures/profiles/seed;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3 name=c check_interval=30s check_timeout=2s; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
["POST /olla/docker/engines/v1/chat/completions\n{\"model\":\"ai/smollm2\"}", "POST /olla/dmr/engines/v1/completions\n{\"model\":\"ai/smollm2\"}"]
--- response_body_like eval
[qr{"uri":"/engines/v1/chat/completions"}, qr{"uri":"/engines/v1/completions"}]
--- no_error_log
[error]



=== TEST 34: a body in a temp file within olla_body_memory (8m by default) is read into memory once and sent from there, byte for byte
--- config
    client_body_buffer_size 1k;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(5000)
--- response_body_like eval
main::echoed(main::big_body(5000))
--- error_log eval
qr{\[info\] .*olla: the request body \(75064 bytes, over client_body_buffer_size\) was read from its temp file into memory and is sent from there \(olla_body_memory\)}
--- no_error_log
[error]



=== TEST 35: olla_body_memory off (here in the server, for its locations): the body is sent from its temp file, byte for byte
--- config
    client_body_buffer_size 1k;
    olla_body_memory off;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(5000)
--- response_body_like eval
main::echoed(main::big_body(5000))
--- no_error_log eval
[qr/\[error\]/, qr/read from its temp file into memory/]



=== TEST 36: a body in a temp file longer than olla_body_memory is sent from the file, byte for byte
--- config
    client_body_buffer_size 1k;
    location /olla/ { olla_body_memory 64k; olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(5000)
--- response_body_like eval
main::echoed(main::big_body(5000))
--- no_error_log eval
[qr/\[error\]/, qr/read from its temp file into memory/]



=== TEST 37: a body in a temp file no longer than olla_body_memory (64k here) is read into memory, byte for byte
--- config
    client_body_buffer_size 1k;
    location /olla/ { olla_body_memory 64k; olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(4000)
--- response_body_like eval
main::echoed(main::big_body(4000))
--- error_log eval
qr{olla: the request body \(60064 bytes, over client_body_buffer_size\) was read from its temp file into memory}
--- no_error_log
[error]



=== TEST 38: invalid JSON in a body read from its temp file into memory: the same 400 as from memory, with the byte
--- config
    client_body_buffer_size 1k;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . '{"model":"ai/smollm2","messages":[{"role":"user","content":"' . ("x" x 5000) . '"}],}'
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"request body is not valid JSON: [^"]+ \(at byte 5064\)","type":"invalid_request_error"
--- error_log
read from its temp file into memory
--- no_error_log
[error]



=== TEST 39: a chunked body that went to a temp file is read into memory too: byte for byte, with its length
--- config
    client_body_buffer_size 1k;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
main::chunked(main::big_body(5000), 10000)
--- response_body_like eval
main::echoed(main::big_body(5000))
--- error_log eval
qr{olla: the request body \(75064 bytes, over client_body_buffer_size\) was read from its temp file into memory}
--- no_error_log
[error]



=== TEST 40: a long body is scanned as nginx reads it (here in pieces that cut its tokens): routed by its model, byte for byte
--- config
    client_body_buffer_size 1m;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
my $body = main::big_body(5000);
[ "POST /olla/dmr/engines/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
  . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n" . substr($body, 0, 7),
  map { substr($body, 7 + $_ * 20003, 20003) } 0 .. 3 ]
--- raw_request_middle_delay: 0.01
--- response_body_like eval
main::echoed(main::big_body(5000))
--- no_error_log eval
[qr/\[error\]/, qr/read from its temp file into memory/]



=== TEST 41: invalid JSON at the end of a long body read in pieces: 400 with the byte, as for a short one
--- config
    client_body_buffer_size 1m;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
my $body = '{"model":"ai/smollm2","messages":[{"role":"user","content":"' . ("x" x 30000) . '"}],}';
[ "POST /olla/dmr/engines/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
  . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n" . substr($body, 0, 10000),
  substr($body, 10000) ]
--- raw_request_middle_delay: 0.01
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"request body is not valid JSON: [^"]+ \(at byte 30064\)","type":"invalid_request_error"
--- no_error_log
[error]



=== TEST 42: invalid JSON at the start of a long body, the rest still to come (in a temp file): 400 with the byte once the body is in, not read back
--- config
    client_body_buffer_size 1k;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
my $body = '{"model":"ai/smollm2","messages":[{"role":"user","content":"' . "\x01" . ("x" x 30000) . '"}]}';
[ "POST /olla/dmr/engines/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
  . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n" . substr($body, 0, 100),
  substr($body, 100) ]
--- raw_request_middle_delay: 0.01
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"request body is not valid JSON: [^"]+ \(at byte 60\)","type":"invalid_request_error"
--- no_error_log eval
[qr/\[error\]/, qr/read from its temp file into memory/]



=== TEST 43: a long body with a model name longer than the scan keeps (600 bytes): read again for it, routed, byte for byte
--- config
    client_body_buffer_size 1m;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"" . ("m" x 600) . "\",\"messages\":[{\"role\":\"user\",\"content\":\"" . ("x" x 20000) . "\"}]}"
--- response_headers_like eval
"X-Olla-Model: ^m{255}\$"
--- response_body_like eval
qr{(?=.*"body_length":20654\b)(?=.*"mock":"dmr-c")}s
--- no_error_log
[error]



=== TEST 44: a long chunked body in 100-byte chunks (every piece a few tokens, cut anywhere): scanned as it comes, byte for byte
--- config
    client_body_buffer_size 1m;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
main::chunked(main::big_body(2000), 100)
--- response_body_like eval
main::echoed(main::big_body(2000))
--- no_error_log
[error]



=== TEST 45: HTTP/2: a long body in DATA frames is scanned as nginx reads it: routed by its model, byte for byte
--- http_config eval
main::h2_http_config('1m')
--- config eval
$main::h2_config
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(5000)
--- response_body_like eval
main::echoed(main::big_body(5000))
--- no_error_log eval
[qr/\[error\]/, qr/read from its temp file into memory/]



=== TEST 46: HTTP/2: invalid JSON at the end of a long body: 400 with the byte, as over HTTP/1.1
--- http_config eval
main::h2_http_config('1m')
--- config eval
$main::h2_config
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . '{"model":"ai/smollm2","messages":[{"role":"user","content":"' . ("x" x 30000) . '"}],}'
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"request body is not valid JSON: [^"]+ \(at byte 30064\)","type":"invalid_request_error"
--- no_error_log
[error]



=== TEST 47: HTTP/2: a body that came chunked, in 100-byte chunks, sent on in DATA frames: scanned as it comes, byte for byte
--- http_config eval
main::h2_http_config('1m')
--- config eval
$main::h2_config
--- raw_request eval
main::chunked(main::big_body(2000), 100)
--- response_body_like eval
main::echoed(main::big_body(2000))
--- no_error_log
[error]



=== TEST 48: HTTP/2: invalid JSON at the start of a long body that goes to a temp file: 400 with the byte, the file not read back (the scan ran as the frames came)
--- http_config eval
main::h2_http_config('1k')
--- config eval
$main::h2_config
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . '{"model":"ai/smollm2","messages":[{"role":"user","content":"' . "\x01" . ("x" x 30000) . '"}]}'
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"request body is not valid JSON: [^"]+ \(at byte 60\)","type":"invalid_request_error"
--- no_error_log eval
[qr/\[error\]/, qr/read from its temp file into memory/]



=== TEST 49: HTTP/2: a long body in a temp file, valid: routed, byte for byte (read into memory once, to be sent from there)
--- http_config eval
main::h2_http_config('1k')
--- config eval
$main::h2_config
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(3000)
--- response_body_like eval
main::echoed(main::big_body(3000))
--- error_log
read from its temp file into memory
--- no_error_log
[error]



=== TEST 50: a body that came chunked in small chunks (200 bytes: a buffer each in memory; nginx packs chunks of 128 bytes or less itself) is joined into one buffer before it is sent: byte for byte, with its length
--- config
    client_body_buffer_size 1m;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
main::chunked(main::big_body(2000), 200)
--- response_body_like eval
main::echoed(main::big_body(2000))
--- error_log eval
qr{\[info\] .*olla: the request body \(30064 bytes in \d{3} pieces\) was joined into one buffer and is sent from there \(olla_body_memory\)}
--- no_error_log
[error]



=== TEST 51: a body that came chunked in a few chunks is sent as nginx holds it, not joined: byte for byte
--- config
    client_body_buffer_size 1m;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
main::chunked(main::big_body(2000), 4096)
--- response_body_like eval
main::echoed(main::big_body(2000))
--- no_error_log eval
[qr/\[error\]/, qr/joined into one buffer/]



=== TEST 52: olla_body_memory off: a body in small chunks is sent in its pieces, byte for byte
--- config
    client_body_buffer_size 1m;
    olla_body_memory off;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
main::chunked(main::big_body(2000), 200)
--- response_body_like eval
main::echoed(main::big_body(2000))
--- no_error_log eval
[qr/\[error\]/, qr/joined into one buffer/]



=== TEST 53: a body in small chunks longer than olla_body_memory (16k here) is sent in its pieces, byte for byte
--- config
    client_body_buffer_size 1m;
    location /olla/ { olla_body_memory 16k; olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
main::chunked(main::big_body(2000), 200)
--- response_body_like eval
main::echoed(main::big_body(2000))
--- no_error_log eval
[qr/\[error\]/, qr/joined into one buffer/]



=== TEST 54: invalid JSON in a body that came in small chunks: the same 400 with the byte, nothing joined or sent
--- config
    client_body_buffer_size 1m;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- raw_request eval
main::chunked('{"model":"ai/smollm2","messages":[{"role":"user","content":"' . ("x" x 30000) . '"}],}', 200)
--- error_code: 400
--- response_body_like: ^\{"error":\{"message":"request body is not valid JSON: [^"]+ \(at byte 30064\)","type":"invalid_request_error"
--- no_error_log eval
[qr/\[error\]/, qr/joined into one buffer/]




=== TEST 55: a body sent from its temp file (olla_body_memory off) goes on an upstream connection with TCP_NODELAY (nginx sets it upstream only for unbuffered bodies), byte for byte
--- config
    client_body_buffer_size 1k;
    olla_body_memory off;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(2000)
--- response_body_like eval
main::echoed(main::big_body(2000))
--- error_log
olla: tcp_nodelay on the upstream connection
--- no_error_log
[error]



=== TEST 56: tcp_nodelay off in the location: the upstream connection is left as nginx has it, byte for byte
--- config
    client_body_buffer_size 1k;
    olla_body_memory off;
    location /olla/ { tcp_nodelay off; olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(2000)
--- response_body_like eval
main::echoed(main::big_body(2000))
--- no_error_log eval
[qr/\[error\]/, qr/tcp_nodelay on the upstream connection/]



=== TEST 57: a kept-alive upstream connection has TCP_NODELAY set once: two requests on one connection (keepalive_requests 2 closes it after them), one line, a body in memory
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a model_url=/a/models health_check_url=/a/models check_interval=30s check_timeout=2s;
        keepalive 4;
        keepalive_requests 2;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- pipelined_requests eval
["POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(20),
 "POST /olla/dmr/engines/v1/chat/completions\n" . main::big_body(30)]
--- response_body_like eval
[main::echoed(main::big_body(20)), main::echoed(main::big_body(30))]
--- grep_error_log: olla: tcp_nodelay on the upstream connection
--- grep_error_log_out
olla: tcp_nodelay on the upstream connection
--- no_error_log
[error]



=== TEST 58: a plain proxy_pass to an Olla upstream (no olla_route: the balancer alone) also sets TCP_NODELAY, a body from its temp file, byte for byte
--- config
    client_body_buffer_size 1k;
    location /v1/ { proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
"POST /v1/chat/completions\n" . main::big_body(2000)
--- response_body_like eval
my $b = main::big_body(2000);
require Digest::SHA;
qr{"body_length":@{[length $b]},"body_sha256":"@{[Digest::SHA::sha256_hex($b)]}"}
--- error_log
olla: tcp_nodelay on the upstream connection
--- no_error_log
[error]
