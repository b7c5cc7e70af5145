# Configuration: the directives load and validate at "nginx -t" time, with
# file:line (nginx.conf) or file:line:col (profiles) in every message.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();
$ENV{TEST_NGINX_FIXTURES} = "$ENV{TEST_NGINX_OLLA_ROOT}/t/unit/fixtures/profiles";

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every directive in one configuration loads and serves
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_zone 2m;
    upstream models {
        olla_load_balancer priority;
        olla_endpoint http://127.0.0.1:1 name=dmr-1 type=docker-model-runner priority=95 model_url=/engines/v1/models health_check_url=/engines/v1/models check_interval=10s check_timeout=5s max_concurrent=4;
        olla_endpoint http://127.0.0.1:2 name=ollama type=ollama priority=80;
        keepalive 16;
    }
--- config
    olla_passthrough on;
    olla_translation off;
    olla_max_message_size 1m;
    olla_forward_credentials off;
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log eval
$OllaTest::NoError
[emerg]



=== TEST 2: a missing profiles directory is named with its directive
--- http_config
    olla_profiles /nonexistent/olla/profiles;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
--- must_die
--- error_log eval
qr{olla_profiles: /nonexistent/olla/profiles: cannot open profiles directory: No such file or directory in \S+nginx\.conf:\d+}



=== TEST 3: malformed YAML: file, line and column
--- http_config
    olla_profiles $TEST_NGINX_FIXTURES/bad-indent;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
--- must_die
--- error_log eval
qr{olla_profiles: \S+/bad-indent/dmr\.yaml:5:2: did not find expected key}



=== TEST 4: a string where a list belongs: file, line and column
--- http_config
    olla_profiles $TEST_NGINX_FIXTURES/prefix-string;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
--- must_die
--- error_log eval
qr{\S+/prefix-string/dmr\.yaml:3:13: routing\.prefixes must be a list of strings, not a string}



=== TEST 5: an error in NAME-custom.yaml names the custom file
--- http_config
    olla_profiles $TEST_NGINX_FIXTURES/custom-error;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
--- must_die
--- error_log eval
qr{\S+/custom-error/dmr-custom\.yaml:6:28: characteristics\.max_concurrent_requests must be an integer}



=== TEST 6: an unclosed quote
--- http_config
    olla_profiles $TEST_NGINX_FIXTURES/unclosed-quote;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
--- must_die
--- error_log eval
qr{\S+/unclosed-quote/dmr\.yaml:\d+:\d+: found unexpected end of stream}



=== TEST 7: a scheme other than http or https
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint ftp://127.0.0.1:12434; }
--- config
--- must_die
--- error_log eval
qr{invalid endpoint URL "ftp://127\.0\.0\.1:12434": it must start with "http://" or "https://" in \S+nginx\.conf:\d+}



=== TEST 8: credentials in the URL
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://user:secret@127.0.0.1:12434; }
--- config
--- must_die
--- error_log eval
qr{endpoint URL "http://user:secret\@127\.0\.0\.1:12434" must not carry credentials}



=== TEST 9: a path in the URL
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434/engines/v1; }
--- config
--- must_die
--- error_log eval
qr{endpoint URL "http://127\.0\.0\.1:12434/engines/v1" must not have a path}



=== TEST 10: http and https mixed in one upstream
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:12434 name=a;
        olla_endpoint https://127.0.0.1:12444 name=b;
    }
--- config
--- must_die
--- error_log eval
qr{"https://127\.0\.0\.1:12444" mixes http and https endpoints in one upstream}



=== TEST 11: a duplicate name in one upstream
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:12434 name=gpu;
        olla_endpoint http://127.0.0.1:12435 name=gpu;
    }
--- config
--- must_die
--- error_log eval
qr{duplicate endpoint name "gpu" in \S+nginx\.conf:\d+}



=== TEST 12: a duplicate name across upstreams
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream a { olla_endpoint http://127.0.0.1:12434 name=gpu; }
    upstream b { olla_endpoint http://127.0.0.1:12435 name=gpu; }
--- config
--- must_die
--- error_log eval
qr{duplicate endpoint name "gpu" \(also used in upstream "a"\) in \S+nginx\.conf:\d+}



=== TEST 13: a type with no profile; a routing prefix gets a hint
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 type=dmr; }
--- config
--- must_die
--- error_log eval
qr{unknown endpoint type "dmr": no profile of that name in "\S+" or "\S+/conf/olla" \(known types: [^)]*docker-model-runner[^)]*\); "dmr" is a routing prefix of type "docker-model-runner" in \S+nginx\.conf:\d+}



=== TEST 14: priority outside 0..1000
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 priority=1001; }
--- config
--- must_die
--- error_log eval
qr{invalid "priority=1001": priority must be an integer from 0 to 1000}



=== TEST 15: a negative priority
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 priority=-1; }
--- config
--- must_die
--- error_log eval
qr{invalid "priority=-1": priority must be an integer from 0 to 1000}



=== TEST 16: check_interval under 1s
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 check_interval=500ms check_timeout=100ms; }
--- config
--- must_die
--- error_log eval
qr{check_interval=500ms is too short, the minimum is 1s}



=== TEST 17: check_timeout not below check_interval
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 check_interval=5s check_timeout=5s; }
--- config
--- must_die
--- error_log eval
qr{check_timeout \(5000ms\) must be less than check_interval \(5000ms\)}



=== TEST 18: check_timeout over 30s
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 check_interval=60s check_timeout=31s; }
--- config
--- must_die
--- error_log eval
qr{check_timeout=31000ms is too long, the maximum is 30s}



=== TEST 19: an unknown parameter
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 weight=5; }
--- config
--- must_die
--- error_log eval
qr{invalid parameter "weight=5"; olla_endpoint takes URL \[name=\]}



=== TEST 20: a bad time
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 check_interval=soon; }
--- config
--- must_die
--- error_log eval
qr{invalid "check_interval=soon": a time such as "10s" is expected}



=== TEST 21: olla_endpoint after keepalive
--- skip_nginx: 2: >= 1.29.7
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        keepalive 8;
        olla_endpoint http://127.0.0.1:12434;
    }
--- config
--- must_die
--- error_log eval
qr{"olla_endpoint" must come before "keepalive" and is not combined with another balancing method}



=== TEST 22: olla_load_balancer after keepalive
--- skip_nginx: 2: >= 1.29.7
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        keepalive 8;
        olla_load_balancer priority;
    }
--- config
--- must_die
--- error_log eval
qr{"olla_load_balancer" must come before "keepalive"}



=== TEST 23: since nginx 1.29.7 keepalive wraps any balancer: its place does not matter
--- skip_nginx: 3: < 1.29.7
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        keepalive 8;
        olla_load_balancer priority;
        olla_endpoint http://127.0.0.1:1 name=a;
    }
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]



=== TEST 24: least_conn beside olla_endpoint
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:12434;
        least_conn;
    }
--- config
--- must_die
--- error_log eval
qr{upstream "models" uses "olla_endpoint", which cannot be combined with another balancing method \(least_conn, hash, ip_hash, random\) in \S+nginx\.conf:\d+}



=== TEST 25: hash before olla_endpoint
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        hash $request_uri;
        olla_endpoint http://127.0.0.1:12434;
    }
--- config
--- must_die
--- error_log eval
qr{"olla_endpoint" must come before "keepalive" and is not combined with another balancing method}



=== TEST 26: server lines mixed with olla_endpoint
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:12434;
        server 127.0.0.1:12435;
    }
--- config
--- must_die
--- error_log eval
qr{upstream "models" mixes "server" lines with "olla_endpoint"}



=== TEST 27: a server line first
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        server 127.0.0.1:12435;
        olla_endpoint http://127.0.0.1:12434;
    }
--- config
--- must_die
--- error_log eval
qr{"olla_endpoint" cannot be mixed with "server" lines in one upstream}



=== TEST 28: a zone in an Olla upstream
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        zone models 64k;
        olla_endpoint http://127.0.0.1:12434;
    }
--- config
--- must_die
--- error_log eval
qr{upstream "models" has a "zone": Olla upstreams keep their shared state in "olla_zone"}



=== TEST 29: an unknown balancer
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_load_balancer fastest;
        olla_endpoint http://127.0.0.1:12434;
    }
--- config
--- must_die
--- error_log eval
qr{invalid balancer "fastest", expected "least-connections", "round-robin" or "priority"}



=== TEST 30: olla_load_balancer twice
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_load_balancer priority;
        olla_load_balancer round-robin;
        olla_endpoint http://127.0.0.1:12434;
    }
--- config
--- must_die
--- error_log eval
qr{"olla_load_balancer" directive is duplicate}



=== TEST 31: olla_route to an upstream without olla_endpoint
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream plain { server 127.0.0.1:12434; }
--- config
    location /olla/ { olla_route plain; proxy_pass http://plain; }
--- must_die
--- error_log eval
qr{"olla_route" needs an upstream block with "olla_endpoint" lines, "plain" has none in \S+nginx\.conf:\d+}



=== TEST 32: olla_route in a regex location
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
--- config
    location ~ ^/olla/ { olla_route models; proxy_pass http://models; }
--- must_die
--- error_log eval
qr{"olla_route" directive is only allowed in a prefix location such as "location /olla/"}



=== TEST 33: olla_zone too small
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_zone 16k;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
--- config
--- must_die
--- error_log eval
qr{"olla_zone" size 16384 is too small, at least 64k is needed}



=== TEST 34: olla_max_message_size 0
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    olla_max_message_size 0;
--- must_die
--- error_log eval
qr{"olla_max_message_size" directive must be between 1 and 100m in \S+nginx\.conf:\d+}



=== TEST 35: olla_profiles twice
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
--- must_die
--- error_log eval
qr{"olla_profiles" directive is duplicate}



=== TEST 36: olla_profiles after an Olla upstream
--- http_config
    upstream models { olla_endpoint http://127.0.0.1:12434; }
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
--- must_die
--- error_log eval
qr{"olla_profiles" directive must come before the upstream blocks that use "olla_endpoint"}



=== TEST 37: a host that does not resolve
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://no-such-host.invalid:12434; }
--- config
--- must_die
--- error_log eval
qr{host not found in endpoint URL "http://no-such-host\.invalid:12434"}



=== TEST 38: a name with a quote
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434 'name=a"b'; }
--- config
--- must_die
--- error_log eval
qr{endpoint name "a"b" must be visible ASCII without quotes}



=== TEST 39: the module loaded but not used costs nothing and starts
--- config
    location = /t { return 200 "plain\n"; }
--- request
GET /t
--- response_body
plain
--- no_error_log
[error]
