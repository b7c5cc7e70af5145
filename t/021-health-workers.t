# One probe per endpoint per interval for the whole nginx, whatever
# worker_processes is (SPEC 6): the probe lease in the shared zone.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['mock-a', 'mock-b']);

master_on();
workers(4);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: one probe per endpoint per interval with 4 workers
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=b check_interval=1s check_timeout=500ms;
    }
--- config
    location /internal/ { olla_status; }
    location /_mock/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2; }
--- init
# The mock counts from nginx's start (nothing else talks to mock-b), like
# nginx's own "probes".  From the first probe on, wait for the third, and
# no sooner than 1.9 s: one prober needs two intervals for it (and makes at
# most one more meanwhile); four workers probing on their own would have
# made about a dozen by then.
OllaTest::wait_endpoint('b', sub { $_[0]{probes} >= 1 }, 10);
my $t0 = Time::HiRes::time();
OllaTest::wait_endpoint('b', sub { $_[0]{probes} >= 3 && Time::HiRes::time() - $t0 >= 1.9 }, 10);
--- request eval
["GET /_mock/stats?port=$ENV{TEST_NGINX_MOCK_PORT_2}", "GET /internal/status/endpoints"]
--- response_body_like eval
[qr{"models_gets":[3-4]\b}, qr{"probes":[3-4]\}}]
--- no_error_log
[error]
--- timeout: 8
