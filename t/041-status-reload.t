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
OllaTest::wait_endpoint('keep', sub { $_[0]{probes} >= 2 }, 10);
my $before = OllaTest::http(GET => '/internal/status/endpoints')->{body};
my ($n) = $before =~ /"probes":(\d+)/;
my $master = OllaTest::nginx_pid();
my %old = map { $_ => 1 } OllaTest::children_of($master);
kill 'HUP', $master;
# the reload is done when none of the old workers is left: the answers
# come from the new ones
OllaTest::wait_until(sub {
    my @now = OllaTest::children_of($master);
    return @now && !grep { $old{$_} } @now;
}, 10) or Test::More::diag("the old workers are still there after the reload");
# then a probe by the new workers: the count moves on from where it was
# (had the state been lost, it would start again from 0)
my $p = OllaTest::endpoint('keep');
$p = $p ? $p->{probes} : -1;
OllaTest::wait_endpoint('keep', sub { $_[0]{probes} != $p }, 5);
my $after = OllaTest::http(GET => '/internal/status/endpoints')->{body};
my ($m) = $after =~ /"probes":(\d+)/;
Test::More::ok($n >= 2 && $m > $n, "probes counted on across the reload ($n then $m)");
--- request
GET /internal/status/endpoints
--- response_body_like: "status":"healthy".*"models":\["ai/smollm2:latest"\]
--- no_error_log
[error]
--- timeout: 8
