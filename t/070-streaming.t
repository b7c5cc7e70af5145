# Streaming (SPEC 1, 3): SSE reaches the client one event at a time, as the
# backend produces it, with olla_proxy_params and even in a location that
# forgot "proxy_buffering off".  Arrival times are measured, not only the
# final body.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr-a']);

# streams N events 200 ms apart through PATH; returns the arrival times
# (seconds after the request) of the reads that carried a "tokI" event
sub stream_times {
    my ($path, $n) = @_;

    my $r = OllaTest::http(POST => $path, timeout => 10,
                           headers => { 'X-Mock-SSE' => $n,
                                        'X-Mock-Interval' => 0.2,
                                        'Content-Type' => 'application/json' },
                           body => '{"model":"ai/smollm2","stream":true}');

    my @t;
    for my $ev (@{ $r->{events} || [] }) {
        my ($t, $bytes) = @$ev;
        push @t, ($t) x (() = $bytes =~ /"content":"tok\d+"/g);
    }

    return ($r, @t);
}

# each event arrived on its own, about 200 ms after the one before
sub check_incremental {
    my ($name, $n, @t) = @_;

    Test::More::is(scalar @t, $n, "$name: $n events");

    my @gaps = map { $t[$_] - $t[$_ - 1] } 1 .. $#t;
    my $ok = !grep { $_ < 0.12 || $_ > 0.6 } @gaps;

    Test::More::ok($ok, "$name: events arrived one at a time ("
                   . join(' ', map { sprintf '%.2f', $_ } @t) . ")");
}

# the mock's probe count before the block's nginx starts: --- init waits
# for this nginx's first probe with it
our $Probes0 = 0;
add_block_preprocessor(sub {
    $main::Probes0 = OllaTest::mock_probes($ENV{TEST_NGINX_MOCK_PORT_1});
});

repeat_each(2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: SSE events arrive as produced, with olla_proxy_params
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s;
        keepalive 4;
    }
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
    }
--- init
OllaTest::wait_probes($ENV{TEST_NGINX_MOCK_PORT_1}, $main::Probes0 + 1);
my ($r, @t) = main::stream_times('/olla/dmr/engines/v1/chat/completions', 5);
main::check_incremental('olla_proxy_params', 5, @t);
Test::More::like($r->{headers}{'x-olla-endpoint'} // '', qr/^a$/, "routed through the module");
--- more_headers
X-Mock-SSE: 5
X-Mock-Interval: 0.05
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2","stream":true}
--- response_headers
Content-Type: text/event-stream
X-Olla-Endpoint: a
--- response_body_like: ^data: .*"tok0".*"tok4".*"finish_reason":"stop".*data: \[DONE\]\n\n$
--- no_error_log
[error]
--- timeout: 10



=== TEST 2: the module turns buffering off for SSE where the location forgot
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s;
    }
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        proxy_buffering on;
    }
--- init
OllaTest::wait_probes($ENV{TEST_NGINX_MOCK_PORT_1}, $main::Probes0 + 1);
my ($r, @t) = main::stream_times('/olla/dmr/engines/v1/chat/completions', 5);
main::check_incremental('proxy_buffering on', 5, @t);
--- request
GET /olla/dmr/engines/v1/models
--- response_body_like: "object":"list"
--- no_error_log
[error]
--- timeout: 10



=== TEST 3: the check can fail: plain proxy_pass with buffering on delivers the stream at once
--- config
    location /plain/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1/;
        proxy_http_version 1.0;
        proxy_buffering on;
    }
--- init
my ($r, @t) = main::stream_times('/plain/engines/v1/chat/completions', 4);
Test::More::is(scalar @t, 4, "4 events");
Test::More::cmp_ok($t[-1] - $t[0], '<', 0.1, "buffered: all events in one go");
--- request
GET /plain/engines/v1/models
--- response_body_like: "object":"list"
--- no_error_log
[error]
--- timeout: 10



=== TEST 4: a long stream through the proxy route, JSON events intact
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s;
    }
--- config
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
    }
--- more_headers
X-Mock-SSE: 300
--- request
POST /olla/proxy/v1/chat/completions
{"model":"ai/smollm2","stream":true}
--- response_body_like eval
qr{^(data: \{[^\n]*"tok\d+"[^\n]*\}\n\n){300}data: \{[^\n]*"finish_reason":"stop"[^\n]*\}\n\ndata: \[DONE\]\n\n$}s
--- no_error_log
[error]
