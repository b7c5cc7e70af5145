# Every refusal on an olla_route location in the route's API shape: nginx's
# own (return, deny, auth_request, limit_req, limit_conn, a URI or headers
# too large, a server-level return) as JSON with the type of its status
# (401 authentication_error, 403 permission_error, 429 rate_limit_error),
# OpenAI's shape on OpenAI routes, Anthropic's on /anthropic/; limit_req's
# Retry-After from its zone's rate; CORS (olla_cors_origins): preflights
# allowed and refused, Access-Control-Allow-Origin on answers and errors,
# and OPTIONS without the directive.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr-a']);

our $OAI = '/olla/dmr/engines/v1/chat/completions';
our $ANT = '/olla/anthropic/v1/messages';
our $ID = '"request_id":"[0-9a-f]{32}"';

# the bodies, exactly
sub oai {
    my ($msg, $type, $code) = @_;
    return qr/^\{"error":\{"message":"\Q$msg\E","type":"$type","param":null,"code":"$code",$ID\}\}$/;
}

sub ant {
    my ($msg, $type) = @_;
    return qr/^\{"type":"error","error":\{"type":"$type","message":"\Q$msg\E"\},$ID\}$/;
}

our $AUTH = 'authentication is required to use this API';
our $DENY = 'access to this API is forbidden';

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s;
        keepalive 4;
    }
_EOC_
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: return 401 on the OpenAI route: authentication_error, OpenAI shape
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; return 401; }
--- request eval
"POST $::OAI\n{\"model\":\"ai/smollm2\"}"
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body_like eval
main::oai($::AUTH, 'authentication_error', 'unauthorized')



=== TEST 2: return 401 on the Anthropic route: Anthropic shape
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; return 401; }
--- request eval
"POST $::ANT\n{\"model\":\"ai/smollm2\"}"
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body_like eval
main::ant($::AUTH, 'authentication_error')



=== TEST 3: return 401 in an "if" block of the location: JSON too (was HTML)
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
        if ($http_authorization = "") { return 401; }
    }
--- request eval
["POST $::OAI\n{\"model\":\"ai/smollm2\"}", "POST $::ANT\n{\"model\":\"ai/smollm2\"}"]
--- error_code eval
[401, 401]
--- response_body_like eval
[main::oai($::AUTH, 'authentication_error', 'unauthorized'),
 main::ant($::AUTH, 'authentication_error')]



=== TEST 4: a request that takes an "if" block is routed all the same
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
        if ($http_authorization = "") { return 401; }
        if ($http_x_tag) { set $tag $http_x_tag; }
    }
--- more_headers
Authorization: Bearer k
X-Tag: t1
--- request eval
"POST $::OAI\n{\"model\":\"ai/smollm2\"}"
--- error_code: 200
--- response_headers
X-Olla-Endpoint: a
--- response_body_like: "mock":"dmr-a".*"uri":"/engines/v1/chat/completions"
--- no_error_log
[error]
[warn]



=== TEST 5: deny: 403 permission_error in both shapes
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; deny all; }
--- request eval
["POST $::OAI\n{\"model\":\"ai/smollm2\"}", "POST $::ANT\n{\"model\":\"ai/smollm2\"}"]
--- error_code eval
[403, 403]
--- response_body_like eval
[main::oai($::DENY, 'permission_error', 'forbidden'),
 main::ant($::DENY, 'permission_error')]



=== TEST 6: allow lets the request through to the endpoint
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; allow 127.0.0.1; deny all; }
--- request eval
"POST $::OAI\n{\"model\":\"ai/smollm2\"}"
--- error_code: 200
--- response_body_like: "mock":"dmr-a"
--- no_error_log
[error]



=== TEST 7: auth_request refuses with 401: authentication_error in both shapes
--- skip_eval: 3: OllaTest::nginx_lacks(directive => 'auth_request', location => 'auth_request /a;', module => 'nginx built without --with-http_auth_request_module', block => 'TEST 7')
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; auth_request /_auth; }
    location = /_auth { internal; return 401; }
--- request eval
["POST $::OAI\n{\"model\":\"ai/smollm2\"}", "POST $::ANT\n{\"model\":\"ai/smollm2\"}"]
--- error_code eval
[401, 401]
--- response_body_like eval
[main::oai($::AUTH, 'authentication_error', 'unauthorized'),
 main::ant($::AUTH, 'authentication_error')]



=== TEST 8: auth_request refuses with 403: permission_error in both shapes
--- skip_eval: 3: OllaTest::nginx_lacks(directive => 'auth_request', location => 'auth_request /a;', module => 'nginx built without --with-http_auth_request_module', block => 'TEST 8')
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; auth_request /_auth; }
    location = /_auth { internal; return 403; }
--- request eval
["POST $::OAI\n{\"model\":\"ai/smollm2\"}", "POST $::ANT\n{\"model\":\"ai/smollm2\"}"]
--- error_code eval
[403, 403]
--- response_body_like eval
[main::oai($::DENY, 'permission_error', 'forbidden'),
 main::ant($::DENY, 'permission_error')]



=== TEST 9: auth_request that allows: the request is routed
--- skip_eval: 3: OllaTest::nginx_lacks(directive => 'auth_request', location => 'auth_request /a;', module => 'nginx built without --with-http_auth_request_module', block => 'TEST 9')
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; auth_request /_auth; }
    location = /_auth { internal; return 204; }
--- request eval
"POST $::OAI\n{\"model\":\"ai/smollm2\"}"
--- error_code: 200
--- response_body_like: "mock":"dmr-a"
--- no_error_log
[error]



=== TEST 10: limit_req with limit_req_status 429: rate_limit_error and Retry-After from the rate (6r/m: 10 s)
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
    limit_req_zone $binary_remote_addr zone=t10:1m rate=6r/m;
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
        limit_req zone=t10;
        limit_req_status 429;
    }
--- request eval
["POST $::OAI\n{\"model\":\"ai/smollm2\"}", "POST $::OAI\n{\"model\":\"ai/smollm2\"}", "POST $::ANT\n{\"model\":\"ai/smollm2\"}"]
--- error_code eval
[200, 429, 429]
--- response_headers eval
["!Retry-After", "Retry-After: 10\nContent-Type: application/json", "Retry-After: 10\nContent-Type: application/json"]
--- response_body_like eval
[qr/"mock":"dmr-a"/,
 main::oai("too many requests: over the gateway's request rate limit; retry after 10 s", 'rate_limit_error', 'rate_limit_exceeded'),
 main::ant("too many requests: over the gateway's request rate limit; retry after 10 s", 'rate_limit_error')]



=== TEST 11: limit_req inherited from the server, with its default 503: still a rate_limit_error, Retry-After 60 for 1r/m
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
    limit_req_zone $binary_remote_addr zone=t11:1m rate=1r/m;
--- config
    limit_req zone=t11 burst=1 nodelay;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
["POST $::OAI\n{\"model\":\"ai/smollm2\"}", "POST $::OAI\n{\"model\":\"ai/smollm2\"}", "POST $::OAI\n{\"model\":\"ai/smollm2\"}"]
--- error_code eval
[200, 200, 503]
--- response_headers eval
["", "", "Retry-After: 60"]
--- response_body_like eval
[qr/"mock":"dmr-a"/, qr/"mock":"dmr-a"/,
 main::oai("too many requests: over the gateway's request rate limit; retry after 60 s", 'rate_limit_error', 'rate_limit_exceeded')]



=== TEST 12: limit_conn: rate_limit_error, no Retry-After (nobody knows when a slot frees)
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
    limit_conn_zone $binary_remote_addr zone=t12:1m;
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
        limit_conn t12 1;
        limit_conn_status 429;
    }
--- init
OllaMock::reset($ENV{TEST_NGINX_MOCK_PORT_1});
OllaTest::background(POST => $main::OAI, headers => { 'X-Mock-Delay' => 3 }, body => '{"model":"ai/smollm2"}');
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, '/engines/v1/chat/completions', 1);
--- request eval
"POST $::ANT\n{\"model\":\"ai/smollm2\"}"
--- error_code: 429
--- response_headers
!Retry-After
Content-Type: application/json
--- response_body_like eval
main::ant("too many requests at once: over the gateway's limit of concurrent requests; retry when one has finished", 'rate_limit_error')
--- timeout: 8



=== TEST 13: a URI too long for the header buffers: 414 in the shape of the route its prefix names
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
    large_client_header_buffers 2 1k;
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- request eval
["GET /olla/anthropic/v1/models?" . ("a" x 1500), "GET /olla/dmr/engines/v1/models?" . ("a" x 1500)]
--- error_code eval
[414, 414]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body_like eval
[qr/^\{"type":"error","error":\{"type":"invalid_request_error","message":"the request URI is too long"\},$::ID\}$/,
 main::oai('the request URI is too long', 'invalid_request_error', 'uri_too_long')]



=== TEST 14: headers too large: 400 as JSON; outside the route nginx's page stays
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
    large_client_header_buffers 2 1k;
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /other/ { return 200 "other\n"; }
--- more_headers eval
"X-Big: " . ("b" x 1500)
--- request eval
["GET $::ANT", "GET /other/x"]
--- error_code eval
[400, 400]
--- response_body_like eval
[qr/^\{"type":"error","error":\{"type":"invalid_request_error","message":"bad request"\},$::ID\}$/,
 qr/<html>/]



=== TEST 15: a server-level return, before any location: JSON by the URI's route
--- config
    if ($http_x_blocked) { return 403; }
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- more_headers
X-Blocked: 1
--- request eval
["POST $::ANT\n{}", "GET /elsewhere"]
--- error_code eval
[403, 403]
--- response_body_like eval
[main::ant($::DENY, 'permission_error'), qr/<html>/]



=== TEST 16: return 404 and 500: not_found_error, server_error
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
        if ($http_x_r = "404") { return 404; }
        if ($http_x_r = "500") { return 500; }
    }
--- request eval
["POST $::OAI\n{}", "POST $::ANT\n{}", "POST $::OAI\n{}"]
--- more_headers eval
["X-R: 404", "X-R: 404", "X-R: 500"]
--- error_code eval
[404, 404, 500]
--- response_body_like eval
[main::oai('not found', 'not_found_error', 'not_found'),
 main::ant('not found', 'not_found_error'),
 qr/^\{"error":\{"message":"the gateway failed to handle the request","type":"server_error","param":null,"code":null,$::ID\}\}$/]



=== TEST 17: a return with a text is the operator's answer, kept as written
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; return 401 '{"error":"mine"}'; }
--- request eval
"POST $::OAI\n{}"
--- error_code: 401
--- response_body: {"error":"mine"}



=== TEST 18: a location without olla_route keeps nginx's pages
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /plain/ { return 401; }
--- request
GET /plain/x
--- error_code: 401
--- response_headers
Content-Type: text/html
--- response_body_like: <title>401 Authorization Required</title>



=== TEST 19: without olla_cors_origins, OPTIONS is what it was: 405 on the Anthropic route, the endpoint's answer on a provider route
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- more_headers
Origin: https://app.example.com
Access-Control-Request-Method: POST
--- request eval
["OPTIONS $::ANT", "OPTIONS $::OAI"]
--- error_code eval
[405, 200]
--- response_headers eval
["!Access-Control-Allow-Origin", "!Access-Control-Allow-Origin"]
--- response_body_like eval
[qr/^\{"type":"error","error":\{"type":"invalid_request_error","message":"use POST for \/v1\/messages"\}/,
 qr/"mock":"dmr-a","port":\d+,"method":"OPTIONS","uri":"\/engines\/v1\/chat\/completions"/]



=== TEST 20: a preflight from an allowed origin: 204 with the CORS headers, before return and deny
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
        olla_cors_origins https://app.example.com http://localhost:3000;
        deny all;
    }
--- more_headers
Origin: https://app.example.com
Access-Control-Request-Method: POST
Access-Control-Request-Headers: authorization, content-type, x-stainless-os, anthropic-version
--- request eval
"OPTIONS $::ANT"
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: https://app.example.com
Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS
Access-Control-Allow-Headers: authorization, content-type, x-stainless-os, anthropic-version
Access-Control-Max-Age: 7200
Vary: Origin, Access-Control-Request-Headers
--- response_body eval
""
--- no_error_log
[error]



=== TEST 21: a preflight that names no headers gets the SDKs' list
--- config
    olla_cors_origins http://localhost:3000;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- more_headers
Origin: http://localhost:3000
Access-Control-Request-Method: POST
--- request eval
"OPTIONS $::OAI"
--- error_code: 204
--- response_headers_like
Access-Control-Allow-Origin: ^http://localhost:3000$
Access-Control-Allow-Headers: ^authorization, content-type, x-api-key, anthropic-version, anthropic-beta, .*openai-organization.*x-stainless-retry-count
--- no_error_log
[error]



=== TEST 22: a preflight from another origin: 403 permission_error in the route's shape
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; olla_cors_origins https://app.example.com; }
--- more_headers
Origin: https://evil.example.com
Access-Control-Request-Method: POST
--- request eval
["OPTIONS $::ANT", "OPTIONS $::OAI"]
--- error_code eval
[403, 403]
--- response_headers eval
["!Access-Control-Allow-Origin\nContent-Type: application/json\nVary: Origin",
 "!Access-Control-Allow-Origin\nContent-Type: application/json\nVary: Origin"]
--- response_body_like eval
[main::ant('the origin \"https://evil.example.com\" is not allowed to call this API from a browser', 'permission_error'),
 main::oai('the origin \"https://evil.example.com\" is not allowed to call this API from a browser', 'permission_error', 'origin_not_allowed')]



=== TEST 23: answers to an allowed origin carry Access-Control-Allow-Origin; the backend's own CORS headers are dropped
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; olla_cors_origins https://app.example.com; }
--- more_headers
Origin: https://app.example.com
X-Mock-Header: Access-Control-Allow-Origin: https://backend.example
--- request eval
"POST $::OAI\n{\"model\":\"ai/smollm2\"}"
--- error_code: 200
--- response_headers
Access-Control-Allow-Origin: https://app.example.com
Access-Control-Expose-Headers: Retry-After, X-Olla-Request-ID, X-Olla-Endpoint, X-Olla-Backend-Type, X-Olla-Model, X-Olla-Mode, X-Olla-Response-Time
Vary: Origin
--- raw_response_headers_unlike: backend\.example
--- response_body_like: "mock":"dmr-a"
--- no_error_log
[error]



=== TEST 24: error answers carry it too (a 401, a 429 with Retry-After readable by the page)
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
    limit_req_zone $binary_remote_addr zone=t24:1m rate=1r/m;
--- config
    olla_cors_origins https://app.example.com;
    location /auth/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; return 401; }
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
        limit_req zone=t24;
        limit_req_status 429;
    }
--- more_headers
Origin: https://app.example.com
--- request eval
["POST /auth/anthropic/v1/messages\n{}", "POST $::ANT\n{\"model\":\"ai/smollm2\",\"max_tokens\":8,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "POST $::ANT\n{}"]
--- error_code eval
[401, 200, 429]
--- response_headers eval
["Access-Control-Allow-Origin: https://app.example.com\nContent-Type: application/json",
 "Access-Control-Allow-Origin: https://app.example.com",
 "Access-Control-Allow-Origin: https://app.example.com\nRetry-After: 60\nContent-Type: application/json"]
--- response_body_like eval
[main::ant($::AUTH, 'authentication_error'),
 qr/./,
 main::ant("too many requests: over the gateway's request rate limit; retry after 60 s", 'rate_limit_error')]



=== TEST 25: "*" allows any origin: Access-Control-Allow-Origin "*", no Vary
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; olla_cors_origins *; }
--- more_headers
Origin: https://any.example.org
Access-Control-Request-Method: POST
--- request eval
["OPTIONS $::ANT", "POST $::OAI\n{\"model\":\"ai/smollm2\"}"]
--- error_code eval
[204, 200]
--- response_headers eval
["Access-Control-Allow-Origin: *", "Access-Control-Allow-Origin: *\n!Vary"]
--- no_error_log
[error]



=== TEST 26: an inner "olla_cors_origins off" turns it off; OPTIONS without Access-Control-Request-Method is no preflight
--- config
    olla_cors_origins https://app.example.com;
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /off/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; olla_cors_origins off; }
--- more_headers
Origin: https://app.example.com
--- request eval
["OPTIONS /off/anthropic/v1/messages", "OPTIONS $::ANT"]
--- error_code eval
[405, 405]
--- response_headers eval
["!Access-Control-Allow-Origin", "Access-Control-Allow-Origin: https://app.example.com"]



=== TEST 27: the README's limit_req recipe, as pasted: 1 + burst 10 pass, then 429 with Retry-After 2
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream olla_dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; keepalive 16; }

    # per client address: 30 requests a minute, bursts of 10
    limit_req_zone $binary_remote_addr zone=olla_per_client:10m rate=30r/m;
--- config
    location /olla/ {
        olla_route olla_dmr;
        proxy_pass http://olla_dmr;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;

        limit_req zone=olla_per_client burst=10 nodelay;
        limit_req_status 429;
    }
--- request eval
[("GET /olla/models") x 12]
--- error_code eval
[(200) x 11, 429]
--- response_headers eval
[("!Retry-After") x 11, "Retry-After: 2\nContent-Type: application/json"]
--- response_body_like eval
[(qr/"object":"list"/) x 11,
 main::oai("too many requests: over the gateway's request rate limit; retry after 2 s", 'rate_limit_error', 'rate_limit_exceeded')]
