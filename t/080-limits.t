# Timeouts and concurrency from the profile (SPEC 8).

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr-a']);

sub chat {
    my ($model) = @_;
    return "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"$model\"}";
}

# the mock's counters before the block's nginx starts: --- init waits for
# this nginx's first probe, and for its background requests to be in
# flight at the mock, with them
our ($Probes0, $Chats0) = (0, 0);
our $CHAT = '/engines/v1/chat/completions';
add_block_preprocessor(sub {
    $main::Probes0 = OllaTest::mock_probes($ENV{TEST_NGINX_MOCK_PORT_1});
    $main::Chats0 = OllaTest::mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the profile's timeout, not proxy_read_timeout, bounds the wait
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-timeout;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_read_timeout 1s; }
--- more_headers
X-Mock-Delay: 1.5
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- response_body_like: "mock":"dmr-a"
--- no_error_log
[error]
--- timeout: 6



=== TEST 2: past the profile's timeout: 504 as JSON
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-timeout;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_read_timeout 1s; }
--- more_headers
X-Mock-Delay: 3
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- error_code: 504
--- response_headers
Content-Type: application/json
X-Olla-Endpoint: a
--- response_body_like: ^\{"error":\{"message":"the endpoint did not answer in time","type":"upstream_error","param":null,"code":"upstream_timeout","request_id":"[0-9a-f]{32}"\}\}$
--- error_log
upstream timed out
--- timeout: 6



=== TEST 3: timeout scaling adds the model's load time (a 1b model: 1s + 10s)
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-scaling;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_read_timeout 1s; }
--- more_headers
X-Mock-Delay: 2
--- request eval
[main::chat("ai/llama3.2:1b"), main::chat("ai/llama3.2:1b-q4")]
--- response_body_like eval
[qr{"mock":"dmr-a"}, qr{"mock":"dmr-a"}]
--- no_error_log
[error]
--- timeout: 10



=== TEST 4: without a size class the profile's defaults apply (30s load time)
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-scaling;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_read_timeout 1s; }
--- more_headers
X-Mock-Delay: 2
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- response_body_like: "mock":"dmr-a"
--- no_error_log
[error]
--- timeout: 6



=== TEST 5: concurrency limits by the model's memory class
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-limits;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; olla_queue off; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_probes($ENV{TEST_NGINX_MOCK_PORT_1}, $main::Probes0 + 1);
# one 70b request in flight
OllaTest::background(POST => '/olla/dmr/engines/v1/chat/completions',
                     headers => {'X-Mock-Delay' => 2}, body => '{"model":"ai/llama3.1:70b"}');
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $main::Chats0 + 1);
--- request eval
[main::chat("ai/llama3.1:70b"), main::chat("ai/llama3.1:8b"), main::chat("ai/qwen2.5:0.5b"), "GET /internal/status/endpoints"]
--- error_code eval
[429, 200, 200, 200]
--- response_body_like eval
[qr{"code":"concurrency_limit"}, qr{"mock":"dmr-a"}, qr{"mock":"dmr-a"}, qr{"in_flight":1,}]
--- no_error_log
[error]
--- timeout: 6



=== TEST 6: with two 8b requests in flight the third waits (429 with olla_queue off); a small model still passes
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-limits;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; olla_queue off; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- init
OllaTest::wait_probes($ENV{TEST_NGINX_MOCK_PORT_1}, $main::Probes0 + 1);
for (1..2) {
    OllaTest::background(POST => '/olla/dmr/engines/v1/chat/completions',
                         headers => {'X-Mock-Delay' => 2}, body => '{"model":"ai/llama3.1:8b"}');
}
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $main::Chats0 + 2);
--- request eval
[main::chat("ai/llama3.1:8b"), main::chat("ai/qwen2.5:0.5b")]
--- error_code eval
[429, 200]
--- no_error_log
[error]
--- timeout: 6



=== TEST 7: max_concurrent= on the endpoint overrides the profile
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-limits;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a max_concurrent=5 check_interval=30s check_timeout=2s; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- init
OllaTest::wait_probes($ENV{TEST_NGINX_MOCK_PORT_1}, $main::Probes0 + 1);
OllaTest::background(POST => '/olla/dmr/engines/v1/chat/completions',
                     headers => {'X-Mock-Delay' => 2}, body => '{"model":"ai/llama3.1:70b"}');
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $main::Chats0 + 1);
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/llama3.1:70b"}
--- response_body_like: "mock":"dmr-a"
--- no_error_log
[error]
--- timeout: 6



=== TEST 8: without a model, characteristics.max_concurrent_requests applies
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-limits;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; olla_queue off; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- init
OllaTest::wait_probes($ENV{TEST_NGINX_MOCK_PORT_1}, $main::Probes0 + 1);
OllaTest::background(POST => '/olla/dmr/engines/v1/chat/completions',
                     headers => {'X-Mock-Delay' => 2}, body => '{"messages":[]}');
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $main::Chats0 + 1);
--- request
POST /olla/dmr/engines/v1/chat/completions
{"messages":[]}
--- error_code: 429
--- no_error_log
[error]
--- timeout: 6
