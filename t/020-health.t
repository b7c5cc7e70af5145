# Active health checks (SPEC 6): classification, traffic only to routable
# endpoints, recovery, backoff, one probe per interval whatever the number
# of workers, TLS probes.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['mock-a', 'mock-b']);

my ($crt, $key) = OllaTest::tls_cert(OllaMock::state_dir());
$ENV{TEST_NGINX_TLS_CRT} = $crt;
$ENV{TEST_NGINX_TLS_KEY} = $key;

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

=== TEST 1: each answer is classified as SPEC 6 says
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18201 name=empty    check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18202 name=e500     check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18203 name=garbage  check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18204 name=e401     check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18205 name=e429     check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:1     name=refused  check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18206 name=nodata   check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18207 name=e403     check_interval=1s check_timeout=500ms;
    }
    server { listen 18201; location / { return 200 '{"object":"list","data":[]}\n'; } }
    server { listen 18202; location / { return 500 'oops'; } }
    server { listen 18203; location / { return 200 '<html>not json</html>'; } }
    server { listen 18204; location / { return 401 '{"error":"no key"}'; } }
    server { listen 18205; location / { add_header Retry-After 30 always; return 429 'slow down'; } }
    server { listen 18206; location / { return 200 '{"object":"list"}'; } }
    server { listen 18207; location / { return 403 'forbidden'; } }
--- config
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
--- request
GET /internal/status/endpoints
--- response_body_like eval
qr{"name":"empty".*?"status":"healthy".*?"consecutive_failures":0
   .*"name":"e500".*?"status":"unhealthy","reason":"HTTP\s500"
   .*"name":"garbage".*?"status":"unhealthy","reason":"HTTP\s200\sbut\smodel\slist\sis\snot\svalid\sJSON
   .*"name":"e401".*?"status":"config_error"
   .*"name":"e429".*?"status":"rate_limited","reason":"HTTP\s429:\srate\slimited,\sRetry-After:\s30"
   .*?"next_check_ms":(?:2\d\d\d\d|30000)
   .*"name":"refused".*?"status":"offline","reason":"connection\srefused"
   .*"name":"nodata".*?"status":"unhealthy","reason":"HTTP\s200\sbut\smodel\slist\shas\sno\s\\"data\\"\sarray"
   .*"name":"e403".*?"status":"config_error"}xs
--- no_error_log eval
$OllaTest::NoError
[alert]



=== TEST 2: only the routable endpoint gets traffic; an empty model list is healthy
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18201 name=empty  check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18202 name=e500   check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18203 name=garbage check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:1     name=refused check_interval=1s check_timeout=500ms;
    }
    server { listen 18201; location = /engines/v1/models { return 200 '{"object":"list","data":[]}\n'; }
                           location / { return 200 "empty\n"; } }
    server { listen 18202; location = /engines/v1/models { return 500; } location / { return 200 "e500\n"; } }
    server { listen 18203; location = /engines/v1/models { return 200 'xx'; } location / { return 200 "garbage\n"; } }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
# every endpoint has its verdict: until then they are all routable
OllaTest::wait_status_settled();
--- request eval
[ map { "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"ai/smollm2\",\"messages\":[]}" } 1..6 ]
--- response_body eval
[ ("empty\n") x 6 ]
--- no_error_log eval
$OllaTest::NoError



=== TEST 3: an endpoint that never answers times out as offline
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=hang check_interval=20s check_timeout=300ms;
    }
--- config
    location /internal/ { olla_status; }
    location /_mock/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1; }
--- mock_setup
OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1}, mode => 'hang');
--- init
OllaTest::wait_status_settled();
--- request eval
["GET /internal/status/endpoints", "GET /internal/health", "GET /_mock/reset"]
--- response_body_like eval
[qr{"name":"hang".*"status":"offline","reason":"timed out"}, qr{"status":"unhealthy"}, qr{.}]
--- error_code eval
[200, 503, 200]
--- no_error_log eval
$OllaTest::NoError



=== TEST 4: an unhealthy endpoint gets no traffic and comes back after it recovers
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=1s check_timeout=500ms;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /_mock/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1; }
    location /internal/ { olla_status; }
--- mock_setup
OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1}, models_status => 500);
--- request eval
[
 "GET /_mock/until?endpoint=a&status=unhealthy",
 "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"ai/smollm2\"}",
 "GET /_mock/set?port=$ENV{TEST_NGINX_MOCK_PORT_1}&models_status=200",
 "GET /_mock/until?endpoint=a&status=healthy",
 "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"ai/smollm2\"}",
 "GET /_mock/reset",
]
--- error_code eval
[200, 503, 200, 200, 200, 200]
--- response_body_like eval
[qr{.}, qr{"code":"no_healthy_endpoint"}, qr{.}, qr{.}, qr{"mock":"mock-a"}, qr{.}]
--- no_error_log
[error]
--- timeout: 12



=== TEST 5: health changes are logged once (a failure at warn, the recovery at notice), not per probe
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=1s check_timeout=500ms;
    }
--- config
    location /internal/ { olla_status; }
--- mock_setup
OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1}, models_status => 500);
--- init
my $p = $ENV{TEST_NGINX_MOCK_PORT_1};
# three failed probes (1 s, then 2 s apart), one change logged
OllaTest::wait_endpoint('a', sub { $_[0]{status} eq 'unhealthy' && $_[0]{consecutive_failures} >= 3 }, 10);
OllaMock::set($p, models_status => 200);
# back to healthy, and probed healthy once more after that
my $e = OllaTest::wait_endpoint('a', sub { $_[0]{status} eq 'healthy' }, 10);
my $n = $e ? $e->{probes} : 0;
OllaTest::wait_endpoint('a', sub { $_[0]{probes} > $n }, 5);
--- request
GET /internal/status/endpoints
--- response_body_like: "status":"healthy"
--- grep_error_log eval: qr/\[(?:warn|notice)\] .*olla: endpoint "a" \S+ is \w+, was \w+: [^,\n]+/
--- grep_error_log_out eval
qr{^\[warn\] .*olla: endpoint "a" \(http://127\.0\.0\.1:\d+\) is unhealthy, was (?:healthy|unknown): HTTP 500\n\[notice\] .*olla: endpoint "a" \(http://127\.0\.0\.1:\d+\) is healthy, was unhealthy: HTTP 200\n$}
--- no_error_log
[error]
--- timeout: 12



=== TEST 6: backoff: 1x, 2x, 4x the interval after consecutive failures
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18202 name=e500 check_interval=1s check_timeout=500ms;
    }
    server { listen 18202; location / { return 500; } }
--- config
    location /internal/ { olla_status; }
--- init
# the third probe (1 s, then 2 s after the first two): the next is 4 s away
OllaTest::wait_endpoint('e500', sub { $_[0]{probes} >= 3 }, 10);
--- request
GET /internal/status/endpoints
--- response_body_like eval
qr{"status":"unhealthy".*"consecutive_failures":3,.*"next_check_ms":(?:[2-4]\d\d\d),.*"probes":3\}}
--- no_error_log
[error]
--- timeout: 10



=== TEST 7: Retry-After holds the next probe back
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18205 name=e429 check_interval=1s check_timeout=500ms;
    }
    server { listen 18205; location / { add_header Retry-After 3 always; return 429; } }
--- config
    location /internal/ { olla_status; }
--- init
# from the first probe on, let one interval and a half pass: without the
# hold a second probe would have come after 1 s; with it, it comes after 3 s
OllaTest::wait_endpoint('e429', sub { $_[0]{probes} >= 1 }, 10);
Time::HiRes::sleep(1.5);
--- request
GET /internal/status/endpoints
--- response_body_like eval
qr{"status":"rate_limited".*"probes":1\}}
--- no_error_log
[error]



=== TEST 8: an https endpoint is probed over TLS and proxied to
--- skip_eval: 6: OllaTest::nginx_lacks(directive => 'ssl_session_timeout', server => 'ssl_session_timeout 5m;', module => 'nginx built without --with-http_ssl_module', block => 'TEST 8')
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint https://127.0.0.1:18443 name=tls check_interval=3s check_timeout=2s;
    }
    server {
        listen 18443 ssl;
        ssl_certificate $TEST_NGINX_TLS_CRT;
        ssl_certificate_key $TEST_NGINX_TLS_KEY;
        location = /engines/v1/models { return 200 '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model"}]}'; }
        location / { return 200 "tls $ssl_protocol\n"; }
    }
--- config
    location /olla/ { olla_route models; proxy_pass https://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
--- request eval
["GET /internal/status/endpoints", "POST /olla/dmr/engines/v1/chat/completions\n{\"model\":\"smollm2\"}"]
--- response_body_like eval
[qr{"name":"tls","url":"https://127\.0\.0\.1:18443".*"status":"healthy","reason":"HTTP 200, 1 model".*"models":\["ai/smollm2:latest"\]},
 qr{^tls TLSv1\.[23]$}]
--- no_error_log
[error]



=== TEST 9: each successful probe replaces the model list
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=1s check_timeout=500ms;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /_mock/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1; }
--- mock_setup
OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1}, models_body => '{"object":"list","data":[{"id":"ai/smollm2:latest"}]}');
--- init
OllaTest::wait_until(sub { OllaTest::http(GET => '/olla/dmr/engines/v1/models')->{body} =~ /smollm2/ }, 10);
--- request eval
[
 "GET /olla/dmr/engines/v1/models",
 "GET /_mock/set?port=$ENV{TEST_NGINX_MOCK_PORT_1}&models_body=%7B%22object%22%3A%22list%22%2C%22data%22%3A%5B%5D%7D",
 # until a probe brought the empty list
 "GET /_mock/until?url=/olla/dmr/engines/v1/models&match=" . OllaMock::uri_escape('"data":\[\]'),
 "GET /olla/dmr/engines/v1/models",
 "GET /_mock/reset",
]
--- response_body_like eval
[qr{^\{"object":"list","data":\[\{"id":"ai/smollm2:latest"\}\]\}$}, qr{.}, qr{.}, qr{^\{"object":"list","data":\[\]\}$}, qr{.}]
--- no_error_log
[error]
--- timeout: 8
