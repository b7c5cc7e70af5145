# The shared zone keeps endpoint state across "nginx -s reload" (SPEC 6).

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaTest;
use JSON::PP;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

master_on();
workers(2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the state survives nginx -s reload
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18401 name=keep check_interval=1s check_timeout=500ms;
    }
    server { listen 18401; location / { return 200 '{"object":"list","data":[{"id":"ai/smollm2:latest"}]}'; } }
--- config
    location /internal/ { olla_status; }
--- init
Time::HiRes::sleep(2.5);
my $before = OllaTest::http(GET => '/internal/status/endpoints')->{body};
my ($n) = $before =~ /"probes":(\d+)/;
kill 'HUP', OllaTest::nginx_pid();
Time::HiRes::sleep(1.2);
my $after = OllaTest::http(GET => '/internal/status/endpoints')->{body};
my ($m) = $after =~ /"probes":(\d+)/;
Test::More::ok($n >= 2 && $m > $n, "probes counted on across the reload ($n then $m)");
--- request
GET /internal/status/endpoints
--- response_body_like: "status":"healthy".*"models":\["ai/smollm2:latest"\]
--- no_error_log
[error]
--- timeout: 8
