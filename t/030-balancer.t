# The balancer (SPEC 4): priority tiers first under every method,
# least-connections across workers, round-robin order, retries that never
# return a tried peer, the passive circuit breaker, keepalive reuse.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr-a', 'dmr-b', 'dmr-c']);

our $P1 = $ENV{TEST_NGINX_MOCK_PORT_1};
our $P2 = $ENV{TEST_NGINX_MOCK_PORT_2};

sub chat { "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"ai/smollm2\",\"messages\":[]}" }
sub proxy_chat { "POST /olla/proxy/v1/chat/completions\n{\"model\":\"ai/smollm2\",\"messages\":[]}" }

# "--- mock_setup": Perl run before the block's nginx starts, so that its
# first health probes already see the mocks as the block wants them
add_block_preprocessor(sub {
    my $block = shift;
    OllaMock::reset();
    if (defined(my $code = $block->mock_setup)) {
        eval "package main; $code; 1" or die "mock_setup: $@";
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: priority fallback: DMR 95 first, Ollama 80 only while DMR is down, then back
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr type=docker-model-runner priority=95 check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18311 name=ollama type=ollama priority=80 check_interval=1s check_timeout=500ms;
    }
    server { listen 18311; location = /v1/models { return 200 '{"object":"list","data":[]}'; }
                           location / { return 200 "{\"mock\":\"ollama\",\"uri\":\"$request_uri\"}\n"; } }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /_mock/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
--- request eval
[
 main::proxy_chat(), main::proxy_chat(),
 "GET /_mock/set?port=$main::P1&models_status=500",
 "GET /_mock/until?endpoint=dmr&status=unhealthy",
 main::proxy_chat(), main::proxy_chat(),
 "GET /_mock/set?port=$main::P1&models_status=200",
 "GET /_mock/until?endpoint=dmr&status=healthy",
 main::proxy_chat(),
 "GET /_mock/reset",
]
--- response_body_like eval
[
 qr{"mock":"dmr-a".*"uri":"/engines/v1/chat/completions"}, qr{"mock":"dmr-a"},
 qr{.}, qr{.},
 qr{"mock":"ollama","uri":"/v1/chat/completions"}, qr{"mock":"ollama"},
 qr{.}, qr{.},
 qr{"mock":"dmr-a"},
 qr{.},
]
--- no_error_log
[error]
--- timeout: 12



=== TEST 2: priority tiers hold under least-connections (the default)
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=high priority=95;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=low priority=80;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
[ map { main::chat() } 1..6 ]
--- response_body_like eval
[ (qr{"mock":"dmr-a"}) x 6 ]
--- no_error_log
[error]



=== TEST 3: round-robin rotates in order within the tier
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_load_balancer round-robin;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3 name=c;
        olla_endpoint http://127.0.0.1:18399 name=low priority=10;
    }
    server { listen 18399; location / { return 200 '{"object":"list","data":[]}'; } }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- request eval
[ map { main::chat() } 1..6 ]
--- response_body_like eval
[ qr{"mock":"dmr-a"}, qr{"mock":"dmr-b"}, qr{"mock":"dmr-c"}, qr{"mock":"dmr-a"}, qr{"mock":"dmr-b"}, qr{"mock":"dmr-c"} ]
--- no_error_log
[error]



=== TEST 4: least-connections sends the next request away from a busy endpoint
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
# each background request is in flight at a mock before the next is sent
my @mocks = ($main::P1, $main::P2);
my $chat = '/engines/v1/chat/completions';
# two slow requests in flight: one on each endpoint
OllaTest::background(POST => "/olla/dmr/engines/v1/chat/completions", headers => {'X-Mock-Delay' => 2}, body => '{"model":"m"}');
OllaTest::wait_mock_requests(\@mocks, $chat, 1);
OllaTest::background(POST => "/olla/dmr/engines/v1/chat/completions", headers => {'X-Mock-Delay' => 2}, body => '{"model":"m"}');
OllaTest::wait_mock_requests(\@mocks, $chat, 2);
# a third slow one: either; then a fast one must go where one is in flight
OllaTest::background(POST => "/olla/dmr/engines/v1/chat/completions", headers => {'X-Mock-Delay' => 1}, body => '{"model":"m"}');
OllaTest::wait_mock_requests(\@mocks, $chat, 3);
--- request eval
["GET /internal/status/endpoints", "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"m\"}"]
--- response_body_like eval
[qr{"name":"a".*"in_flight":(1|2),.*"name":"b".*"in_flight":(?!\1)[12],}, qr{"mock":"dmr-[ab]"}]
--- no_error_log
[error]
--- timeout: 6



=== TEST 5: least-connections: the idle endpoint takes the request
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- init
OllaTest::background(POST => "/olla/dmr/engines/v1/chat/completions", headers => {'X-Mock-Delay' => 2}, body => '{"model":"m"}');
# in flight at a mock before the next requests are sent
OllaTest::wait_mock_requests([$main::P1, $main::P2], '/engines/v1/chat/completions', 1);
--- request eval
["POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"m\"}", "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"m\"}"]
--- response_body_like eval
[qr{"mock":"dmr-b"}, qr{"mock":"dmr-b"}]
--- no_error_log
[error]
--- timeout: 6



=== TEST 6: a refused peer is retried on another, never on one already tried
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_load_balancer round-robin;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=1s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b check_interval=30s check_timeout=1s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
    location /_mock/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3; }
--- init
OllaTest::wait_status_settled();
OllaTest::http(GET => "http://127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT_3}/_mock/set?port=$ENV{TEST_NGINX_MOCK_PORT_1}&mode=down");
--- request eval
[ map { main::chat() } 1..4 ]
--- response_body_like eval
[ (qr{"mock":"dmr-b"}) x 4 ]
--- grep_error_log eval: qr/connect\(\) failed \(111: Connection refused\) while connecting to upstream/
--- grep_error_log_out
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 7: the circuit opens after 5 transport failures
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_load_balancer round-robin;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=60s check_timeout=1s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b check_interval=60s check_timeout=1s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_next_upstream error timeout; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1}, mode => 'down');
--- request eval
[ (map { main::chat() } 1..10), "GET /internal/status/endpoints" ]
--- response_body_like eval
[ (qr{"mock":"dmr-b"}) x 10,
  qr{"name":"a".*"circuit":"open".*"requests":5,"failures":5,.*"name":"b".*"circuit":"closed"} ]



=== TEST 8: an open circuit is logged once, lets one request try after 30s, and closes on its success
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_load_balancer round-robin;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=60s check_timeout=1s;
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b check_interval=60s check_timeout=1s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_next_upstream error timeout; }
    location /internal/ { olla_status; }
--- init
my $body = '{"model":"ai/smollm2"}';
OllaTest::wait_status_settled();
OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1}, mode => 'down');
OllaTest::http(POST => '/olla/dmr/engines/v1/chat/completions', body => $body) for 1..7;
OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1}, mode => 'up');
# the circuit stays open 30 s, then lets one request try
OllaTest::wait_endpoint('a', sub { $_[0]{circuit} eq 'half-open' }, 40);
my @who = map { OllaTest::http(POST => '/olla/dmr/engines/v1/chat/completions', body => $body)->{body} =~ /"mock":"([^"]+)"/ } 1..2;
Test::More::is("@who", "dmr-a dmr-b", "after 30s one request tries the endpoint, then it is back in rotation");
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"a".*"circuit":"closed".*"failures":5,
--- grep_error_log eval: qr/olla: circuit of endpoint "a" \S+ (?:opened after \d+|closed)/
--- grep_error_log_out eval
qr{^olla: circuit of endpoint "a" \(http://127\.0\.0\.1:\d+\) opened after 5\nolla: circuit of endpoint "a" \(http://127\.0\.0\.1:\d+\) closed\n$}
--- timeout: 45



=== TEST 9: a backend's HTTP errors do not open the circuit
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- more_headers
X-Mock-Status: 503
X-Mock-Body: {"error":{"message":"Loading model","type":"unavailable_error","code":503}}
--- request eval
[ (map { main::chat() } 1..7), "GET /internal/status/endpoints" ]
--- error_code eval
[ (503) x 7, 200 ]
--- response_body_like eval
[ (qr{Loading model}) x 7, qr{"circuit":"closed".*"failures":0,} ]
--- no_error_log
[error]



=== TEST 10: keepalive after the olla directives reuses connections
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=60s check_timeout=1s;
        keepalive 4;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_http_version 1.1; proxy_set_header Connection ""; }
    location /_mock/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2; }
--- init
# the first (and, at 60 s, only) probe is answered before the counters are
# reset: its connection must not count
OllaTest::wait_probes($ENV{TEST_NGINX_MOCK_PORT_1}, 1);
OllaTest::http(GET => "http://127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT_2}/_mock/reset");
--- request eval
[ (map { main::chat() } 1..5), "GET /_mock/stats?port=$main::P1" ]
--- response_body_like eval
[ (qr{"mock":"dmr-a"}) x 5, qr{"connections":1\b} ]
--- no_error_log
[error]
