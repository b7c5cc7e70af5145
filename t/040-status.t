# olla_status (SPEC 7): health, status/endpoints, status/models, metrics;
# the shared state survives "nginx -s reload".

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaTest;
use JSON::PP;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: health: 200 while an endpoint is routable
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18401 name=up check_interval=1s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:1 name=down check_interval=1s check_timeout=500ms;
    }
    server { listen 18401; location / { return 200 '{"object":"list","data":[]}'; } }
--- config
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
--- request
GET /internal/health
--- response_body
{"status":"healthy","endpoints":2,"routable":1}
--- response_headers_like
Content-Type: application/json
X-Olla-Request-ID: ^[0-9a-f]{32}$
--- no_error_log eval
$OllaTest::NoError



=== TEST 2: health: 503 when nothing is routable
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:1 name=down check_interval=1s check_timeout=500ms;
    }
--- config
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
--- request
GET /internal/health
--- error_code: 503
--- response_body
{"status":"unhealthy","endpoints":1,"routable":0}
--- no_error_log eval
$OllaTest::NoError



=== TEST 3: status/endpoints carries every field, as JSON that parses
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18401 name=dmr-1 priority=90 check_interval=2s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:18402 name=ollama-1 type=ollama check_interval=2s check_timeout=500ms;
    }
    server { listen 18401; location / { return 200 '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model","dmr":{"size":"256MiB"}}]}'; } }
    server { listen 18402; location / { return 200 '{"object":"list","data":[{"id":"llama3.2:latest"}]}'; } }
--- config
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
--- request
GET /internal/status/endpoints
--- response_body_like eval
qr{^\{"endpoints":\[\{"name":"dmr-1","url":"http://127\.0\.0\.1:18401","type":"docker-model-runner","upstream":"models","priority":90,"status":"healthy","reason":"HTTP 200, 1 model","last_check":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","last_check_unix":\d+,"latency_ms":\d+,"consecutive_failures":0,"circuit":"closed","models":\["ai/smollm2:latest"\],"model_count":1,"next_check_ms":\d+,"in_flight":0,"requests":0,"failures":0,"residency":\{"state":"(?:known|unknown)",.*?\},"decisions":\{"resident":0,"affinity":0,"spill":0,"loading":0,"cold":0,"fallback":0\},"preloads":0,"usage":\{"requests":\{"2xx":0,"3xx":0,"4xx":0,"5xx":0\},"tokens":\{"prompt":0,"completion":0,"cached":0\},.*?"bytes":0,"last":0\},"failover":\{"retried":\{"429":0,"5xx":0,"model_not_found":0\},"retry_after_ms":0,"rests":0\},"models_state":"stored","models_reason":null,"models_listed":1,"models_bytes":\d+,"models_shared":1,"probes":1\},\{"name":"ollama-1","url":"http://127\.0\.0\.1:18402","type":"ollama","upstream":"models","priority":80,"status":"healthy".*"models":\["llama3\.2:latest"\].*"models_state":"stored".*\}\],"zone":\{"size":1048576,"used":\d+,"free":\d+,"needed":\d+,"lists_not_stored":0\},"total":2,"upstreams":\[\{"name":"models","balancer":"least-connections","queue":\{"enabled":true,"length":0,"limit":512,"timeout_ms":60000,"waiting_here":0,"peak":0,"queued":0,"served":0,"rejected":\{"full":0,"timeout":0\},"abandoned":0,"wait_ms_sum":0,"epoch":\d+\},"failover":\{"enabled":true,"tries":3,"fast_ms":5000\}\}\]\}\n$}s
--- no_error_log
[error]



=== TEST 4: status/endpoints is valid JSON (parsed)
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18401 name=dmr/1 check_interval=2s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:1 name=down check_interval=2s check_timeout=500ms;
    }
    server { listen 18401; location / { return 200 '{"object":"list","data":[{"id":"ai/smollm2:latest"}]}'; } }
--- config
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $r = OllaTest::http(GET => '/internal/status/endpoints');
my $j = eval { JSON::PP::decode_json($r->{body}) };
Test::More::ok($j && @{ $j->{endpoints} } == 2, "status/endpoints parses as JSON");
Test::More::is($j->{endpoints}[1]{status}, 'offline', "the refusing endpoint is offline");
Test::More::is($j->{endpoints}[0]{name}, 'dmr/1', "the name is kept");
--- request
GET /internal/status/models
--- response_body
{"models":[{"model":{"id":"ai/smollm2:latest"},"endpoints":["dmr/1"],"types":["docker-model-runner"],"resident_on":[],"loading_on":[]}],"total":1}
--- no_error_log eval
$OllaTest::NoError



=== TEST 5: metrics in Prometheus text format
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18401 name=dmr-1 check_interval=2s check_timeout=500ms;
        olla_endpoint http://127.0.0.1:1 name=down check_interval=2s check_timeout=500ms;
    }
    server { listen 18401; location = /engines/v1/models { return 200 '{"object":"list","data":[{"id":"a"},{"id":"b"}]}'; }
                           location / { return 200 ok; } }
--- config
    location /internal/ { olla_status; }
    location /olla/ { olla_route models; proxy_pass http://models; }
--- init
OllaTest::wait_status_settled();
OllaTest::http(POST => '/olla/dmr/engines/v1/chat/completions', body => '{"model":"a"}');
OllaTest::http(POST => '/olla/dmr/engines/v1/chat/completions', body => '{"model":"b"}');
# every line is a comment or "name{labels} value"
my $m = OllaTest::http(GET => '/internal/metrics')->{body};
my @bad = grep { !/^(?:# (?:HELP|TYPE) \w+ .+|[a-z_]+\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)+\} -?\d+(?:\.\d+)?)$/ } split /\n/, $m;
Test::More::is(scalar @bad, 0, "every metrics line parses") or Test::More::diag(join "\n", @bad);
--- request
GET /internal/metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like eval
qr{\Qolla_endpoint_up{endpoint="dmr-1",type="docker-model-runner",upstream="models"} 1\E\n
   \Qolla_endpoint_up{endpoint="down",type="docker-model-runner",upstream="models"} 0\E\n
   .*\Qolla_endpoint_health_status{endpoint="dmr-1",type="docker-model-runner",upstream="models",status="healthy"} 1\E\n
   .*\Qolla_endpoint_health_status{endpoint="down",type="docker-model-runner",upstream="models",status="offline"} 1\E\n
   .*[#]\sTYPE\solla_endpoint_requests_total\scounter\n
   \Qolla_endpoint_requests_total{endpoint="dmr-1",type="docker-model-runner",upstream="models"} 2\E\n
   .*\Qolla_endpoint_models{endpoint="dmr-1",type="docker-model-runner",upstream="models"} 2\E\n}xs
--- no_error_log eval
$OllaTest::NoError



=== TEST 6: an unknown status path is a JSON 404
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:1 name=x; }
--- config
    location /internal/ { olla_status; }
--- request
GET /internal/nope
--- error_code: 404
--- response_body_like: "code":"route_not_found"
--- no_error_log eval
$OllaTest::NoError
