# Configuration: the directives load and validate at "nginx -t" time, with
# file:line (nginx.conf) or file:line:col (profiles) in every message.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();
$ENV{TEST_NGINX_FIXTURES} = "$ENV{TEST_NGINX_OLLA_ROOT}/t/unit/fixtures/profiles";

# nginx's proxy sends HTTP/1.1 without "Connection: close" by default
# since 1.29.7 (before: HTTP/1.0 and "Connection: close")
our $NEW_PROXY = do {
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $v = `\Q$nginx\E -v 2>&1`;
    my ($a, $b, $c) = $v =~ m{nginx/(\d+)\.(\d+)\.(\d+)};
    defined $a && ($a * 1000000 + $b * 1000 + $c) >= 1029007 ? 1 : 0;
};

# olla_malloc_keep's line in each worker: glibc takes the sizes; the
# allocator of an AddressSanitizer build (make test-asan, its nginx is
# tools/asan-nginx) refuses them
our $KeepLine = sub {
    my ($keep, $block) = @_;
    return ($ENV{TEST_NGINX_BINARY} // '') =~ m{/asan-nginx$}
        ? qr{\[notice\] .*olla_malloc_keep $keep: the allocator refused it, its defaults stay}
        : qr{\[info\] .*olla_malloc_keep $keep: the heap keeps up to that much freed, blocks up to $block come from it};
};

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
    olla_cors_origins https://chat.example.com http://localhost:3000;
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
--- no_error_log eval
$OllaTest::NoError



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



=== TEST 40: olla_route without proxy_pass: the fix, at the olla_route's line
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
--- config
    location /olla/ { olla_route models; }
--- must_die
--- error_log eval
qr{\[emerg\] .*"olla_route models" needs "proxy_pass http://models;" in the same location: the route chooses the endpoint and the path, proxy_pass sends the request there; without it every request ends in 404 in \S+nginx\.conf:\d+}



=== TEST 41: proxy_pass to another upstream block
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
    upstream other { server 127.0.0.1:12435; }
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://other;
    }
--- must_die
--- error_log eval
qr{"proxy_pass http://other" \(\S+nginx\.conf:(\d+)\) sends to "other", but "olla_route" names upstream "models": the route reserves an endpoint of "models" that the proxy never uses \(502\); write "proxy_pass http://models;" in \S+nginx\.conf:(?!\1\b)\d+}



=== TEST 42: proxy_pass to a name no upstream has: the same message, not "host not found"
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
--- config
    location /olla/ { olla_route models; proxy_pass http://modles; }
--- must_die
--- error_log eval
qr{"proxy_pass http://modles" \(\S+nginx\.conf:\d+\) sends to "modles", but "olla_route" names upstream "models".* write "proxy_pass http://models;" in \S+nginx\.conf:\d+}



=== TEST 43: proxy_pass with a URI part
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models/v1/; }
--- must_die
--- error_log eval
qr{"proxy_pass http://models/v1/" \(\S+nginx\.conf:\d+\) has a URI part, "/v1/": olla_route sets the upstream path of each request, and nginx would put "/v1/" in place of the location's prefix \(the backend answers 404\); write "proxy_pass http://models;" without a URI in \S+nginx\.conf:\d+}



=== TEST 44: proxy_pass with variables
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint https://127.0.0.1:12434; }
--- config
    location /olla/ { olla_route models; proxy_pass https://models$request_uri; }
--- must_die
--- error_log eval
qr{"proxy_pass https://models\$request_uri" \(\S+nginx\.conf:\d+\) uses variables, but olla_route chooses the endpoint and the upstream path of each request itself: write "proxy_pass https://models;" in \S+nginx\.conf:\d+}



=== TEST 45: olla_route naming an upstream that does not exist: not "host not found"
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
    upstream gpu { olla_endpoint http://127.0.0.1:12435; }
--- config
    location /olla/ { olla_route modles; proxy_pass http://modles; }
--- must_die
--- error_log eval
qr{"olla_route modles" names no upstream block: add "upstream modles \{ olla_endpoint http://HOST:PORT; \}" to the http block, or name one that exists \(upstreams with olla_endpoint: "models", "gpu"\) in \S+nginx\.conf:\d+}



=== TEST 46: an "if" block's own proxy_pass is checked too
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        if ($http_x_other) { proxy_pass http://elsewhere; }
    }
--- must_die
--- error_log eval
qr{"proxy_pass http://elsewhere" \(\S+nginx\.conf:\d+\) sends to "elsewhere", but "olla_route" names upstream "models"}



=== TEST 47: right configurations pass: https, the name in other case, if and limit_except blocks, a nested location with its own proxy_pass, a named location
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
    upstream tls { olla_endpoint https://127.0.0.1:12443; }
    upstream plain { server 127.0.0.1:12436; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://MODELS;
        if ($http_x_a) { set $a 1; }
        limit_except GET POST { deny all; }
        location /olla/inner/ { proxy_pass http://plain/; }
    }
    location /tls/ { olla_route tls; proxy_pass https://tls; error_page 418 = @fallback; }
    location @fallback { proxy_pass http://plain; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[emerg]
cannot reuse connections



=== TEST 48: a route without pooling settings: a warning naming the include, at the olla_route's line (nginx before 1.29.7)
--- skip_eval: 2: $::NEW_PROXY
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; keepalive 4; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_log eval
qr{\[warn\] .*"olla_route models" in location "/olla/": requests go out as HTTP/1.0 with "Connection: close", so the upstream's "keepalive" cannot reuse connections to the endpoints; add "include olla_proxy_params;" to the location \(it sets "proxy_http_version 1\.1;" and "proxy_set_header Connection "";"\), after any other "proxy_set_header" there in \S+nginx\.conf:\d+}



=== TEST 49: the same since nginx 1.29.7: its proxy defaults pool, no warning
--- skip_eval: 2: !$::NEW_PROXY
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; keepalive 4; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- no_error_log
cannot reuse connections



=== TEST 49b: an upstream without keepalive pools nothing: no warning
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_http_version 1.0; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- no_error_log
cannot reuse connections



=== TEST 50: HTTP/1.0 said explicitly: a warning on any nginx
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; keepalive 4; }
    proxy_set_header Connection "";
--- config
    location /olla/ { olla_route models; proxy_pass http://models; proxy_http_version 1.0; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_log eval
qr{\[warn\] .*"olla_route models" in location "/olla/": requests go out as HTTP/1\.0, so the upstream's "keepalive" cannot reuse}



=== TEST 51: a proxy_set_header in the location drops the server's Connection "": warned
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; keepalive 4; }
--- config
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location /olla/ { olla_route models; proxy_pass http://models; proxy_set_header Connection close; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- error_log eval
qr{\[warn\] .*"olla_route models" in location "/olla/": requests go out with "Connection: close", so}



=== TEST 52: olla_proxy_params in the location, or its two lines at the http level: no warning
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:12434; keepalive 4; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    map $http_upgrade $conn_upgrade { default ""; websocket upgrade; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; proxy_set_header X-Extra 1; }
    location /b/ { olla_route models; proxy_pass http://models; }
    location /c/ { olla_route models; proxy_pass http://models; proxy_set_header Connection $conn_upgrade; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- no_error_log
cannot reuse connections



=== TEST 53: olla_cors_origins: an origin with a path
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    olla_cors_origins https://chat.example.com/;
--- must_die
--- error_log eval
qr{invalid origin "https://chat\.example\.com/" in "olla_cors_origins": an origin is SCHEME://HOST or SCHEME://HOST:PORT, as a browser sends it in "Origin" \(no path, no trailing slash, no wildcard\), e\.g\. "https://chat\.example\.com" in \S+nginx\.conf:\d+}



=== TEST 54: olla_cors_origins: "*" with origins
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    olla_cors_origins https://a.example.com *;
--- must_die
--- error_log eval
qr{"\*" stands alone in "olla_cors_origins": write "olla_cors_origins \*;" or list origins}



=== TEST 55: olla_cors_origins: a host without a scheme
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    olla_cors_origins chat.example.com;
--- must_die
--- error_log eval
qr{invalid origin "chat\.example\.com" in "olla_cors_origins"}



=== TEST 56: olla_malloc_keep: the default in each worker
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log eval
$main::KeepLine->(134217728, 33554432)
--- no_error_log eval
[$OllaTest::NoError, qr/\[warn\]/]



=== TEST 57: olla_malloc_keep: a size
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_malloc_keep 4m;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log eval
$main::KeepLine->(4194304, 1048576)
--- no_error_log eval
[$OllaTest::NoError, qr/\[warn\]/, qr/olla_malloc_keep 134217728/]



=== TEST 58: olla_malloc_keep off: glibc's defaults, nothing said
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_malloc_keep off;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log eval
[$OllaTest::NoError, qr/olla_malloc_keep/]



=== TEST 59: olla_malloc_keep: nothing set when the module is loaded and not used
--- http_config
    olla_malloc_keep 4m;
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log eval
[$OllaTest::NoError, qr/olla_malloc_keep/]



=== TEST 60: olla_malloc_keep: not a size
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_malloc_keep lots;
--- config
--- must_die
--- error_log eval
qr{invalid size "lots" in "olla_malloc_keep", a size such as 128m or "off" is expected in \S+nginx\.conf:\d+}



=== TEST 61: olla_malloc_keep: below the range
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_malloc_keep 256k;
--- config
--- must_die
--- error_log eval
qr{"olla_malloc_keep" size "256k" is out of range: from 512k to 1024m, or "off" in \S+nginx\.conf:\d+}



=== TEST 62: olla_malloc_keep: above the range
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_malloc_keep 1025m;
--- config
--- must_die
--- error_log eval
qr{"olla_malloc_keep" size "1025m" is out of range: from 512k to 1024m, or "off" in \S+nginx\.conf:\d+}



=== TEST 63: olla_malloc_keep: given twice
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_malloc_keep 4m;
    olla_malloc_keep off;
--- config
--- must_die
--- error_log eval
qr{"olla_malloc_keep" directive is duplicate in \S+nginx\.conf:\d+}



=== TEST 64: olla_malloc_keep: not in a server block
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    olla_malloc_keep 4m;
--- must_die
--- error_log eval
qr{"olla_malloc_keep" directive is not allowed here in \S+nginx\.conf:\d+}



=== TEST 65: olla_malloc_keep: blocks from the heap up to glibc's largest mmap threshold
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_malloc_keep 512m;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- error_log eval
$main::KeepLine->(536870912, 33554432)
--- no_error_log eval
[$OllaTest::NoError, qr/\[warn\]/]



=== TEST 66: olla_body_memory: a size or off, in http, server and location
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_body_memory 2m;
    upstream models { olla_endpoint http://127.0.0.1:1; }
--- config
    olla_body_memory off;
    location /olla/ { olla_body_memory 64K; olla_route models; proxy_pass http://models; }
    location /olla2/ { olla_route models; proxy_pass http://models; }
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log eval
[$OllaTest::NoError, qr/\[warn\]/]



=== TEST 67: olla_body_memory: not a size
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    location /olla/ { olla_body_memory lots; }
--- must_die
--- error_log eval
qr{invalid size "lots" in "olla_body_memory", a size such as 8m or "off" is expected in \S+nginx\.conf:\d+}



=== TEST 68: olla_body_memory: below the range
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    olla_body_memory 512;
--- config
--- must_die
--- error_log eval
qr{"olla_body_memory" size "512" is out of range: from 1k to 1024m, or "off" in \S+nginx\.conf:\d+}



=== TEST 69: olla_body_memory: above the range
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    olla_body_memory 1025m;
--- must_die
--- error_log eval
qr{"olla_body_memory" size "1025m" is out of range: from 1k to 1024m, or "off" in \S+nginx\.conf:\d+}



=== TEST 70: olla_body_memory: given twice in one block
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    location /olla/ { olla_body_memory 1m; olla_body_memory off; }
--- must_die
--- error_log eval
qr{"olla_body_memory" directive is duplicate in \S+nginx\.conf:\d+}



=== TEST 71: olla_body_memory: one value
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
--- config
    location /olla/ { olla_body_memory 1m 2m; }
--- must_die
--- error_log eval
qr{invalid number of arguments in "olla_body_memory" directive in \S+nginx\.conf:\d+}
