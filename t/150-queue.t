# The wait queue (olla_queue, issue 15): a request that finds every endpoint
# it can use at its concurrency limit waits, in order of arrival across the
# workers, for a slot; it is refused (429 with Retry-After) only when the
# queue is full or its wait runs out; a client that goes away leaves the
# queue at once; a reload drops no queued request.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;
use JSON::PP ();
use File::Temp ();
use POSIX ();

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr-a']);

our $CHAT = '/engines/v1/chat/completions';
our $URL = '/olla/dmr/engines/v1/chat/completions';

# the upstream's record in status/endpoints
sub upstream {
    my $st = OllaTest::status_json();
    return undef unless ref $st eq 'HASH' && ref $st->{upstreams} eq 'ARRAY';
    return $st->{upstreams}[0];
}

sub queue_field {
    my ($field) = @_;
    my $u = upstream();
    return $u ? $u->{queue}{$field} : undef;
}

# until the queue's FIELD is N (or more, with at_least)
sub wait_queue {
    my ($field, $n, $limit, $at_least) = @_;
    my $got;
    my $ok = OllaTest::wait_until(sub {
        $got = queue_field($field);
        return defined $got && ($at_least ? $got >= $n : $got == $n);
    }, $limit // 10);
    Test::More::diag("timed out waiting for queue $field "
                     . ($at_least ? '>= ' : '== ') . "$n (got "
                     . ($got // 'nothing') . ")") unless $ok;
    return $ok;
}

# a request in a child process whose answer (status, then the body) is
# written to FILE when it is done
sub background_to {
    my ($file, @args) = @_;
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        my $r = OllaTest::http(@args);
        if (open my $fh, '>', "$file.tmp") {
            print $fh ($r->{status} // 0), "\n", ($r->{body} // '');
            close $fh;
            rename "$file.tmp", $file;
        }
        POSIX::_exit(0);
    }
    push @OllaTest::children, $pid;
    return $pid;
}

# the lines of the error log
sub log_lines {
    my $log = ($ENV{TEST_NGINX_SERVROOT} || OllaTest::root() . '/t/servroot')
              . '/logs/error.log';
    open my $fh, '<', $log or return ();
    my @l = <$fh>;
    close $fh;
    return @l;
}

# the "request queued" lines of the error log: [pid, ticket] each
sub queued_lines {
    return map { /\[info\] (\d+)#\d+: .*olla: request queued in upstream "models" \(ticket (\d+),/ ? [$1, $2] : () } log_lines();
}

master_on();
workers(2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: first come, first served across two workers: the queued requests reach the endpoint in the order they were queued
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a max_concurrent=1 check_interval=30s check_timeout=2s;
    }
    # reuseport: the kernel spreads the connections over both workers
    server {
        listen 127.0.0.1:18501 reuseport;
        location /olla/ { olla_route models; proxy_pass http://models; proxy_set_header X-Worker $pid; }
    }
--- config
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $port = $ENV{TEST_NGINX_MOCK_PORT_1};
my $c0 = OllaTest::mock_requests($port, $main::CHAT);
my $url = "http://127.0.0.1:18501$main::URL";
my $body = '{"model":"ai/smollm2"}';
my $q0 = () = main::queued_lines();
# the slot's holder, in flight at the endpoint
OllaTest::background(POST => $url, headers => {'X-Mock-Delay' => 6, 'X-Seq' => 0}, body => $body, timeout => 30);
OllaTest::wait_mock_requests($port, $main::CHAT, $c0 + 1);
# one at a time, each queued (its line in the log) before the next is
# sent, until both workers hold some
my ($n, %pids) = (0);
for my $i (1 .. 30) {
    OllaTest::background(POST => $url, headers => {'X-Mock-Delay' => 0.05, 'X-Seq' => $i}, body => $body, timeout => 30);
    OllaTest::wait_until(sub { my @q = main::queued_lines(); @q - $q0 >= $i }, 5)
        or Test::More::diag("request $i was not queued");
    my @q = main::queued_lines();
    %pids = map { $_->[0] => 1 } @q[$q0 .. $#q];
    $n = $i;
    last if $i >= 6 && keys %pids >= 2;
}
Test::More::cmp_ok(scalar(keys %pids), '>=', 2, "requests queued in both workers ($n queued)");
# every one served, then the order they reached the endpoint in
OllaTest::wait_mock_requests($port, $main::CHAT, $c0 + 1 + $n, 20);
main::wait_queue('length', 0);
my $log = OllaMock::requests_log($port, 200);
my @seq = map { $_->{headers}{'x-seq'} }
          grep { $_->{uri} eq $main::CHAT && ($_->{headers}{'x-seq'} // 0) > 0 } @$log;
my @want = 1 .. $n;
Test::More::is("@seq[-$n .. -1]", "@want", "served in the order queued");
my %served_by = map { $_->{headers}{'x-worker'} => 1 }
                grep { $_->{uri} eq $main::CHAT && ($_->{headers}{'x-seq'} // 0) > 0 } @$log;
Test::More::cmp_ok(scalar(keys %served_by), '>=', 2, "proxied by both workers");
my $u = main::upstream();
Test::More::is($u->{queue}{served}, $n, "served $n from the queue");
Test::More::is($u->{queue}{queued}, $n, "queued $n");
--- request
GET /internal/status/endpoints
--- response_body_like: "upstreams":\[\{"name":"models","balancer":"least-connections","queue":\{"enabled":true,"length":0,"limit":512,"timeout_ms":60000,
--- no_error_log
[error]
--- timeout: 40



=== TEST 2: the wait runs out: 429 queue_timeout with Retry-After, and the queue is empty again
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a max_concurrent=1 check_interval=30s check_timeout=2s;
        olla_queue 4 timeout=500ms;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $c0 = OllaTest::mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT);
OllaTest::background(POST => $main::URL, headers => {'X-Mock-Delay' => 3}, body => '{"model":"ai/smollm2"}', timeout => 10);
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $c0 + 1);
--- request eval
["POST $main::URL\n{\"model\":\"ai/smollm2\"}", "GET /internal/metrics", "GET /internal/status/endpoints"]
--- error_code eval
[429, 200, 200]
--- response_headers_like eval
["Retry-After: [1-9][0-9]*\nContent-Type: application/json", "", ""]
--- response_body_like eval
[qr{^\{"error":\{"message":"the request waited 0\.[5-9]\d\ds in the queue of upstream \\"models\\" for a free docker-model-runner endpoint and its wait ran out \(olla_queue timeout=500ms\); retry later","type":"rate_limit_error","param":null,"code":"queue_timeout","request_id":"[0-9a-f]{32}"\}\}$},
 qr{olla_queue_length\{upstream="models"\} 0\n(?s:.*)olla_queue_limit\{upstream="models"\} 4\n(?s:.*)olla_queue_requests_total\{upstream="models"\} 1\n(?s:.*)olla_queue_rejected_total\{upstream="models",reason="full"\} 0\nolla_queue_rejected_total\{upstream="models",reason="timeout"\} 1\n},
 qr{"queue":\{"enabled":true,"length":0,"limit":4,"timeout_ms":500,"waiting_here":0,"peak":1,"queued":1,"served":0,"rejected":\{"full":0,"timeout":1\},"abandoned":0,}]
--- no_error_log
[error]
--- timeout: 10



=== TEST 3: the queue is full: 429 queue_full at once, with Retry-After
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a max_concurrent=1 check_interval=30s check_timeout=2s;
        olla_queue 1 timeout=20s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $c0 = OllaTest::mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT);
OllaTest::background(POST => $main::URL, headers => {'X-Mock-Delay' => 2}, body => '{"model":"ai/smollm2"}', timeout => 10);
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $c0 + 1);
OllaTest::background(POST => $main::URL, body => '{"model":"ai/smollm2"}', timeout => 10);
main::wait_queue('length', 1);
--- request eval
["POST $main::URL\n{\"model\":\"ai/smollm2\"}", "GET /internal/status/endpoints"]
--- error_code eval
[429, 200]
--- response_headers_like eval
["Retry-After: [1-9][0-9]*", ""]
--- response_body_like eval
[qr{^\{"error":\{"message":"every docker-model-runner endpoint that can serve this request is at its concurrency limit and the queue of upstream \\"models\\" is full \(olla_queue 1\); retry later","type":"rate_limit_error","param":null,"code":"queue_full"},
 qr{"queue":\{"enabled":true,"length":1,"limit":1,.*"rejected":\{"full":1,"timeout":0\}}]
--- no_error_log
[error]
--- timeout: 10



=== TEST 4: a client that goes away leaves the queue at once; its request never reaches the endpoint
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a max_concurrent=1 check_interval=30s check_timeout=2s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $port = $ENV{TEST_NGINX_MOCK_PORT_1};
my $c0 = OllaTest::mock_requests($port, $main::CHAT);
OllaTest::background(POST => $main::URL, headers => {'X-Mock-Delay' => 4}, body => '{"model":"ai/smollm2"}', timeout => 10);
OllaTest::wait_mock_requests($port, $main::CHAT, $c0 + 1);
# this client gives up after 0.3 s
OllaTest::background(POST => $main::URL, body => '{"model":"ai/smollm2","stream":true}', timeout => 0.3);
main::wait_queue('length', 1);
main::wait_queue('abandoned', 1);
Test::More::is(main::queue_field('length'), 0, "the queue is empty again");
Test::More::is(OllaTest::endpoint('a')->{in_flight}, 1, "while the holder is still in flight");
# the holder done: the endpoint saw only it
OllaTest::wait_until(sub { my $st = OllaMock::stats($port); $st->{in_flight} == 0 }, 10);
Test::More::is(OllaTest::mock_requests($port, $main::CHAT), $c0 + 1, "the abandoned request was never proxied");
Test::More::ok(scalar(grep { /\[info\] .*olla: the client closed the connection while its request waited in the queue/ } main::log_lines()), "the client's leaving is logged (info)");
--- request eval
["GET /internal/metrics", "POST $main::URL\n{\"model\":\"ai/smollm2\"}"]
--- response_body_like eval
[qr{olla_queue_length\{upstream="models"\} 0\n(?s:.*)olla_queue_abandoned_total\{upstream="models"\} 1\n}, qr{"mock":"dmr-a"}]
--- no_error_log
[error]
--- timeout: 15



=== TEST 5: a reload drops no queued request: the old workers serve their waiters, then exit
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a max_concurrent=1 check_interval=30s check_timeout=2s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $port = $ENV{TEST_NGINX_MOCK_PORT_1};
my $c0 = OllaTest::mock_requests($port, $main::CHAT);
my $dir = File::Temp::tempdir('olla-reload-XXXXXX', TMPDIR => 1, CLEANUP => 1);
OllaTest::background(POST => $main::URL, headers => {'X-Mock-Delay' => 2}, body => '{"model":"ai/smollm2"}', timeout => 20);
OllaTest::wait_mock_requests($port, $main::CHAT, $c0 + 1);
for my $i (1 .. 3) {
    main::background_to("$dir/$i", POST => $main::URL, headers => {'X-Mock-Delay' => 0.2, 'X-Seq' => $i}, body => '{"model":"ai/smollm2"}', timeout => 20);
    main::wait_queue('length', $i);
}
my $master = OllaTest::nginx_pid();
my %old = map { $_ => 1 } OllaTest::children_of($master);
kill 'HUP', $master;
# the old workers exit once their waiters are served
Test::More::ok(OllaTest::wait_until(sub {
    my @now = OllaTest::children_of($master);
    return @now && !grep { $old{$_} } @now;
}, 15), "the old workers are gone after the reload");
Test::More::ok(OllaTest::wait_until(sub { 3 == grep { -e "$dir/$_" } 1 .. 3 }, 10), "every queued request answered");
for my $i (1 .. 3) {
    open my $fh, '<', "$dir/$i" or next;
    my $status = <$fh>;
    chomp $status;
    local $/;
    my $body = <$fh> // '';
    Test::More::is($status, 200, "queued request $i: 200");
    Test::More::like($body, qr/"mock":"dmr-a"/, "queued request $i: the endpoint's answer");
}
--- request
GET /internal/status/endpoints
--- response_body_like: "queue":\{"enabled":true,"length":0,.*"served":3,"rejected":\{"full":0,"timeout":0\},"abandoned":0,
--- no_error_log
[error]
[alert]
--- timeout: 30



=== TEST 6: a request for a model whose endpoints have room passes a waiter whose endpoints are full
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-limits;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=30s check_timeout=2s; }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $c0 = OllaTest::mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT);
# a 70b model may run once at a time, a 0.5b one three times
OllaTest::background(POST => $main::URL, headers => {'X-Mock-Delay' => 3}, body => '{"model":"ai/llama3.1:70b"}', timeout => 10);
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $c0 + 1);
OllaTest::background(POST => $main::URL, body => '{"model":"ai/llama3.1:70b"}', timeout => 10);
main::wait_queue('length', 1);
--- request eval
["POST $main::URL\n{\"model\":\"ai/qwen2.5:0.5b\"}", "GET /internal/status/endpoints"]
--- response_body_like eval
[qr{"mock":"dmr-a".*"model":"ai/qwen2.5:0.5b"}, qr{"queue":\{"enabled":true,"length":1,}]
--- no_error_log
[error]
--- timeout: 10



=== TEST 7: nothing routable is a 503 at once, not a wait
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18502 name=down check_interval=30s check_timeout=1s;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_endpoint('down', sub { $_[0]{status} eq 'offline' }, 10);
--- request eval
["POST $main::URL\n{\"model\":\"ai/smollm2\"}", "GET /internal/status/endpoints"]
--- error_code eval
[503, 200]
--- response_body_like eval
[qr{"code":"no_healthy_endpoint"}, qr{"queue":\{"enabled":true,"length":0,"limit":512,"timeout_ms":60000,"waiting_here":0,"peak":0,"queued":0,}]
--- no_error_log eval
$OllaTest::NoError



=== TEST 8: olla_queue off: every endpoint full is a 429 concurrency_limit at once
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a max_concurrent=1 check_interval=30s check_timeout=2s;
        olla_queue off;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $c0 = OllaTest::mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT);
OllaTest::background(POST => $main::URL, headers => {'X-Mock-Delay' => 1.5}, body => '{"model":"ai/smollm2"}', timeout => 10);
OllaTest::wait_mock_requests($ENV{TEST_NGINX_MOCK_PORT_1}, $main::CHAT, $c0 + 1);
--- request eval
["POST $main::URL\n{\"model\":\"ai/smollm2\"}", "GET /internal/status/endpoints"]
--- error_code eval
[429, 200]
--- response_body_like eval
[qr{"code":"concurrency_limit"}, qr{"queue":\{"enabled":false,"length":0,"limit":0,}]
--- no_error_log
[error]
--- timeout: 6



=== TEST 9: olla_queue: a length that is not a number
--- http_config
    upstream models { olla_endpoint http://127.0.0.1:1; olla_queue many; }
--- config
--- must_die
--- error_log eval
qr{invalid queue length "many": a number of requests from 1 to 65536, or "off", is expected in \S+nginx\.conf:\d+}



=== TEST 10: olla_queue: a zero timeout
--- http_config
    upstream models { olla_endpoint http://127.0.0.1:1; olla_queue 10 timeout=0; }
--- config
--- must_die
--- error_log eval
qr{invalid "timeout=0": a time from 1ms to 1h such as "60s" is expected in \S+nginx\.conf:\d+}



=== TEST 11: olla_queue: an unknown parameter, and twice
--- http_config
    upstream models { olla_endpoint http://127.0.0.1:1; olla_queue 10 size=3; }
--- config
--- must_die
--- error_log eval
qr{invalid parameter "size=3"; olla_queue takes LENGTH \[timeout=TIME\] or "off" in \S+nginx\.conf:\d+}



=== TEST 12: olla_queue twice
--- http_config
    upstream models { olla_endpoint http://127.0.0.1:1; olla_queue 10; olla_queue off; }
--- config
--- must_die
--- error_log eval
qr{"olla_queue" directive is duplicate in \S+nginx\.conf:\d+}
