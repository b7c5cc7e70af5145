# The mock LLM backend (t/lib/OllaMock.pm) on its own: directly over
# sockets (timing, keep-alive, concurrency, refused connections, byte
# streams, replays) and through a plain nginx proxy_pass (no olla
# directives, no extra module).

use Test::Nginx::Socket 'no_plan';
use lib 't/lib';
use OllaMock;

use Digest::SHA qw(sha256_hex);
use File::Spec;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);

my ($P1, $P2, $P3) = OllaMock::start(names => ['dmr-a', 'dmr-b', 'ollama-1']);
our ($MP1, $MP2, $MP3) = ($P1, $P2, $P3);

# ------------------------------------------------------------ helpers

sub connect_to {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 3);
}

sub request_text {
    my ($method, $path, %o) = @_;
    my $body = defined $o{body} ? $o{body} : '';
    my $r = "$method $path HTTP/1.1\r\nHost: localhost\r\n";
    $r .= "Connection: close\r\n" unless $o{keep};
    for my $h (@{ $o{headers} || [] }) {
        $r .= "$h->[0]: $h->[1]\r\n";
    }
    $r .= "Content-Length: " . length($body) . "\r\n"
        if length $body && !$o{raw_body};
    return "$r\r\n$body";
}

# read one response from $sock; returns { status, headers, body,
# chunks => [[time, data], ...] (decoded chunks with arrival times),
# complete } -- the reads are timed so that streaming can be checked
sub read_response {
    my ($sock, $timeout) = @_;

    $timeout ||= 10;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my (%r, @reads);
    my $start = time;

    my $more = sub {
        return 0 unless $sel->can_read($timeout);
        my $n = sysread($sock, my $data, 1 << 20);
        return 0 unless $n;
        $buf .= $data;
        push @reads, [time - $start, length $buf];
        return 1;
    };

    while (index($buf, "\r\n\r\n") < 0) {
        return { status => 0 } unless $more->();
    }
    my $end = index($buf, "\r\n\r\n");
    my $head = substr($buf, 0, $end);
    $buf = substr($buf, $end + 4);
    my $consumed = $end + 4;
    ($r{status}) = $head =~ m{^HTTP/1\.\d (\d+)};
    for my $l (split /\r\n/, $head) {
        $r{headers}{ lc $1 } = $2 if $l =~ /^([^:]+):\s*(.*)$/;
    }

    $r{body} = '';
    $r{chunks} = [];
    if (($r{headers}{'transfer-encoding'} || '') =~ /chunked/) {
        while (1) {
            while ($buf !~ /^[0-9a-fA-F]+\r\n/) {
                return \%r unless $more->();
            }
            $buf =~ s/^([0-9a-fA-F]+)\r\n//;
            my $size = hex $1;
            while (length($buf) < $size + 2) {
                return \%r unless $more->();
            }
            if ($size == 0) {
                $r{complete} = 1;
                last;
            }
            push @{ $r{chunks} }, [time - $start, substr($buf, 0, $size)];
            $r{body} .= substr($buf, 0, $size);
            $buf = substr($buf, $size + 2);
        }
    }
    elsif (defined $r{headers}{'content-length'}) {
        while (length($buf) < $r{headers}{'content-length'}) {
            return \%r unless $more->();
        }
        $r{body} = substr($buf, 0, $r{headers}{'content-length'});
        $r{complete} = 1;
    }
    else {
        1 while $more->();
        $r{body} = $buf;
        $r{complete} = 1;
    }
    return \%r;
}

sub http {
    my ($port, $method, $path, %o) = @_;
    my $s = connect_to($port) or return { status => 0, error => "$!" };
    print $s request_text($method, $path, %o);
    my $r = read_response($s, $o{timeout});
    close $s;
    return $r;
}

sub json { JSON::PP->new->decode($_[0]) }

# ------------------------------------------------------------ direct

{
    my $r = http($P1, 'GET', '/engines/v1/models');
    is($r->{status}, 200, 'models: 200');
    is($r->{body}, '{"object":"list","data":[]}', 'models: empty list');
    is($r->{headers}{'content-type'}, 'application/json', 'models: json');
    is(http($P3, 'GET', '/api/tags')->{body}, '{"models":[]}',
       '/api/tags: Ollama shape');
}

{
    my $body = '{"model":"ai/smollm2","messages":[]}';
    my $r = http($P2, 'POST', '/engines/v1/chat/completions?a=b',
                 body => $body, headers => [['X-Custom', 'Value']]);
    my $e = json($r->{body});
    is_deeply([@$e{qw(mock port method uri body_length body_sha256 model)}],
              ['dmr-b', $P2, 'POST', '/engines/v1/chat/completions?a=b',
               length $body, sha256_hex($body), 'ai/smollm2'],
              'echo: name, port, method, uri, body length and hash, model');
    is($e->{headers}{'x-custom'}, 'Value', 'echo: lower-cased headers');
}

{
    # a chunked request body and keep-alive: two requests, one connection
    OllaMock::reset();
    my $s = connect_to($P1);
    print $s "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
           . "Transfer-Encoding: chunked\r\n\r\n"
           . "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    my $r1 = read_response($s);
    print $s request_text('GET', '/v1/models', keep => 1);
    my $r2 = read_response($s);
    close $s;
    my $e = json($r1->{body});
    is($e->{body_length}, 11, 'chunked request body decoded');
    is($e->{body_sha256}, sha256_hex('hello world'), 'chunked body intact');
    is($r2->{status}, 200, 'second request on the kept-alive connection');
    my $st = OllaMock::stats($P1);
    is($st->{connections}, 1, 'stats: connections accepted');
    is($st->{models_gets}, 1, 'stats: models GETs (probes)');
    is($st->{requests}, 2, 'stats: requests');
    is($st->{paths}{'/v1/models'}, 1, 'stats: requests per path');
}

{
    # SSE: events arrive one by one, X-Mock-Interval apart
    my $s = connect_to($P2);
    print $s request_text('POST', '/engines/v1/chat/completions',
                          body => '{"model":"m1","stream":true}',
                          headers => [['X-Mock-SSE', 3],
                                      ['X-Mock-Interval', 0.3]]);
    my $r = read_response($s);
    close $s;
    is($r->{headers}{'content-type'}, 'text/event-stream', 'SSE: type');
    my @c = @{ $r->{chunks} };
    is(scalar @c, 5, 'SSE: 3 events, the stop event and [DONE]');
    like($c[0][1], qr/^data: \{.*"object":"chat\.completion\.chunk".*"model":"m1".*"delta":\{"content":"tok0"\}.*\}\n\n\z/,
         'SSE: first event');
    like($c[3][1], qr/"finish_reason":"stop"/, 'SSE: stop event');
    is($c[4][1], "data: [DONE]\n\n", 'SSE: [DONE]');
    ok($r->{complete}, 'SSE: terminating chunk');
    my @gaps = map { $c[$_][0] - $c[$_ - 1][0] } 1 .. 2;
    ok($gaps[0] > 0.2 && $gaps[1] > 0.2,
       "SSE: events 0.3 s apart (gaps @gaps)");
    ok($c[2][0] - $c[0][0] < 1.5, 'SSE: not all at the end');
}

{
    # X-Mock-Cut: the connection closes without the terminating chunk
    my $s = connect_to($P2);
    print $s request_text('POST', '/v1/chat/completions', body => '{}',
                          headers => [['X-Mock-SSE', 5], ['X-Mock-Cut', 2]]);
    my $r = read_response($s);
    close $s;
    is(scalar @{ $r->{chunks} }, 2, 'cut: two events');
    ok(!$r->{complete}, 'cut: no terminating chunk');
}

{
    # concurrency: three delayed requests in flight at once
    OllaMock::reset();
    my @s = map { connect_to($P1) } 1 .. 3;
    my $t0 = time;
    print $_ request_text('POST', '/v1/chat/completions', body => '{}',
                          headers => [['X-Mock-Delay', 0.6]]) for @s;
    my @r = map { read_response($_) } @s;
    my $took = time - $t0;
    is(scalar(grep { $_->{status} == 200 } @r), 3, 'concurrent: all answered');
    ok($took < 1.5, sprintf('concurrent: served in parallel (%.2fs)', $took));
    is(OllaMock::stats($P1)->{max_in_flight}, 3, 'stats: max in flight');
    is(OllaMock::stats($P1)->{in_flight}, 0, 'stats: none in flight now');
}

{
    # down: refused; up: listening again on the same port
    OllaMock::set($P1, mode => 'down');
    ok(!connect_to($P1), 'down: connection refused');
    my $r = http($P3, 'GET', "/_mock/set?port=$P1&mode=up");
    is($r->{status}, 200, 'controls for one port work on another');
    is(http($P1, 'GET', '/v1/models')->{status}, 200, 'up: answering');
    is(http($P1, 'GET', '/_mock/set?port=$P1&bogus=1')->{status}, 404,
       'controls for an unknown port: 404');
    is(http($P1, 'GET', "/_mock/set?port=$P1&bogus=1")->{status}, 400,
       'unknown settings: 400');
}

{
    # hang, close, reset
    OllaMock::set($P1, mode => 'hang');
    my $r = http($P1, 'GET', '/v1/models', timeout => 0.5);
    is($r->{status}, 0, 'hang: no answer');
    OllaMock::set($P1, mode => 'close');
    $r = http($P1, 'GET', '/v1/models');
    ok(!$r->{status}, 'close: closed without an answer');
    OllaMock::set($P1, mode => 'reset');
    $r = http($P1, 'GET', '/v1/models');
    ok(!$r->{status}, 'reset: reset without an answer');
    OllaMock::reset($P1);
    is(http($P1, 'GET', '/v1/models')->{status}, 200, 'reset: normal again');
}

{
    # X-Mock-Stream-Bytes: a large stream, as fast as possible
    my $n = 5_000_000;
    my $t0 = time;
    my $r = http($P2, 'POST', '/v1/chat/completions', body => '{}',
                 headers => [['X-Mock-Stream-Bytes', $n]]);
    my $len = length $r->{body};
    ok($len >= $n && $len < $n + 10_000, "stream bytes: about $n ($len)");
    like(substr($r->{body}, -200), qr/"finish_reason":"stop".*\n\ndata: \[DONE\]\n\n\z/s,
         'stream bytes: stop and [DONE] at the end');
    ok(time - $t0 < 10, 'stream bytes: fast enough');
}

{
    # X-Mock-Replay: .sse event by event, other files as the body
    my $dir = OllaMock::state_dir();
    my $sse = File::Spec->catfile($dir, 'replay.sse');
    my $json = File::Spec->catfile($dir, 'replay.json');
    open my $fh, '>', $sse or die;
    print $fh "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n\ndata: [DONE]\n\n";
    close $fh;
    open $fh, '>', $json or die;
    print $fh '{"id":"x","choices":[]}';
    close $fh;

    my $r = http($P1, 'POST', '/v1/chat/completions', body => '{}',
                 headers => [['X-Mock-Replay', $sse],
                             ['X-Mock-Interval', 0.1]]);
    is_deeply([map { $_->[1] } @{ $r->{chunks} }],
              ["data: {\"a\":1}\n\n", "data: {\"b\":2}\n\n",
               "data: [DONE]\n\n"], 'replay .sse: one event per chunk');
    $r = http($P1, 'POST', '/v1/chat/completions', body => '{}',
              headers => [['X-Mock-Replay', $json],
                          ['X-Mock-Status', 201]]);
    is($r->{status}, 201, 'replay: X-Mock-Status');
    is($r->{body}, '{"id":"x","choices":[]}', 'replay: file as the body');
}

{
    # request log
    OllaMock::reset();
    http($P2, 'PUT', '/v1/x', body => 'abc',
         headers => [['X-Log-Me', 'yes']]);
    my $log = OllaMock::requests_log($P2, 5);
    is(scalar @$log, 1, 'log: control requests are not logged');
    is_deeply([@{ $log->[0] }{qw(method uri body_length body)}],
              ['PUT', '/v1/x', 3, 'abc'], 'log: request');
    is($log->[0]{headers}{'x-log-me'}, 'yes', 'log: headers');
}

{
    my ($crt, $key) = OllaMock::tls_cert();
    ok(-s $crt && -s $key, 'tls_cert: certificate and key');
    my $subject = `openssl x509 -in \Q$crt\E -noout -subject 2>/dev/null`;
    like($subject, qr/CN\s*=\s*localhost/, 'tls_cert: CN=localhost');
}

OllaMock::reset();

# ------------------------------------------------------------ via nginx

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_END_');
    upstream mock_a_keepalive {
        server 127.0.0.1:$TEST_NGINX_MOCK_PORT_1;
        keepalive 4;
    }
_END_
    }
    if (!defined $block->config) {
        $block->set_value('config', <<'_END_');
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
    location /a/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1/; }
    location /b/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2/; }
    location /ka/ { proxy_pass http://mock_a_keepalive/; }
    location /short/ {
        proxy_read_timeout 500ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1/;
    }
    location /stream/ {
        proxy_request_buffering off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1/;
    }
    location /_mock/ { proxy_pass http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3; }
_END_
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: echo through nginx
--- init
OllaMock::reset();
--- more_headers
Content-Type: application/json
X-Custom: Value
--- request
POST /a/v1/chat/completions?x=1
{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}
--- response_headers
Content-Type: application/json
--- response_body_like eval
my $b = '{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}';
my ($len, $sha) = (length $b, Digest::SHA::sha256_hex($b));
qr/^\{"mock":"dmr-a","port":$main::MP1,"method":"POST","uri":"\/v1\/chat\/completions\?x=1","headers":\{.*"x-custom":"Value".*\},"body_length":$len,"body_sha256":"$sha","model":"ai\/smollm2"\}$/
--- no_error_log
[error]



=== TEST 2: X-Mock-Status, -Body, -Content-Type and -Header
--- more_headers
X-Mock-Status: 429
X-Mock-Body: {"error":"slow down"}
X-Mock-Content-Type: application/problem+json
X-Mock-Header: Retry-After: 3
X-Mock-Header: X-Extra: yes
--- request
POST /b/v1/chat/completions
{}
--- error_code: 429
--- response_headers
Content-Type: application/problem+json
Retry-After: 3
X-Extra: yes
--- response_body: {"error":"slow down"}



=== TEST 3: models answers and per-port settings sent to another port
--- request eval
["GET /a/engines/v1/models",
 "GET /a/api/tags",
 "GET /_mock/set?port=$main::MP1&models_status=503&retry_after=2&models_body=%7B%22error%22%3A1%7D",
 "GET /a/engines/llama.cpp/v1/models",
 "GET /b/engines/v1/models",
 "GET /_mock/reset",
 "GET /a/v1/models"]
--- error_code eval
[200, 200, 200, 503, 200, 200, 200]
--- response_body_like eval
[qr/^\{"object":"list","data":\[\]\}$/,
 qr/^\{"models":\[\]\}$/,
 qr/"models_status":503\b/,
 qr/^\{"error":1\}$/,
 qr/^\{"object":"list","data":\[\]\}$/,
 qr/"reset"/,
 qr/^\{"object":"list","data":\[\]\}$/]



=== TEST 4: models_delay beyond the proxy timeout
--- init
OllaMock::set($main::MP1, models_delay => 1);
--- request
GET /short/v1/models
--- error_code: 504
--- error_log
upstream timed out



=== TEST 5: hang: requests read, never answered
--- init
OllaMock::set($main::MP1, mode => 'hang');
--- request
POST /short/v1/chat/completions
{"model":"m"}
--- error_code: 504
--- error_log
upstream timed out



=== TEST 6: close: closed without an answer
--- init
OllaMock::set($main::MP1, mode => 'close');
--- request
GET /a/v1/models
--- error_code: 502
--- error_log
upstream prematurely closed connection



=== TEST 7: reset: TCP reset
--- init
OllaMock::set($main::MP1, mode => 'reset');
--- request
GET /a/v1/models
--- error_code: 502
--- error_log
Connection reset by peer



=== TEST 8: down: connections refused
--- init
OllaMock::set($main::MP1, mode => 'down');
--- request
GET /a/v1/models
--- error_code: 502
--- error_log
Connection refused



=== TEST 9: down, then up again on the same port
--- init
OllaMock::set($main::MP1, mode => 'down');
--- request eval
["GET /a/v1/models",
 "GET /_mock/set?port=$main::MP1&mode=up",
 "GET /a/v1/models"]
--- error_code eval
[502, 200, 200]



=== TEST 10: SSE streams through nginx
--- init
OllaMock::reset();
--- more_headers
X-Mock-SSE: 3
X-Mock-Interval: 0.1
--- request
POST /b/engines/v1/chat/completions
{"model":"ai/smollm2","stream":true}
--- response_headers
Content-Type: text/event-stream
Transfer-Encoding: chunked
--- response_body_like: ^data: .*"tok0".*\n\ndata: .*"tok1".*\n\ndata: .*"tok2".*\n\ndata: .*"finish_reason":"stop".*\n\ndata: \[DONE\]\n\n$
--- no_error_log
[error]



=== TEST 11: the mock counts probes (models GETs), requests and paths
--- init
OllaMock::reset();
--- request eval
["GET /a/engines/v1/models", "GET /a/engines/v1/models", "GET /a/v1/models",
 "POST /a/v1/chat/completions\n{}",
 "GET /_mock/stats?port=$main::MP1"]
--- response_body_like eval
[qr/data/, qr/data/, qr/data/, qr/"mock":"dmr-a"/,
 qr/^(?=.*"models_gets":3\b)(?=.*"requests":4\b)(?=.*"paths":\{"\/engines\/v1\/models":2,"\/v1\/chat\/completions":1,"\/v1\/models":1\})/]



=== TEST 12: upstream keepalive: one connection for three requests
--- init
OllaMock::reset();
--- request eval
["POST /ka/v1/chat/completions\n{}", "POST /ka/v1/chat/completions\n{}",
 "POST /ka/v1/chat/completions\n{}", "GET /_mock/stats?port=$main::MP1"]
--- response_body_like eval
[qr/"mock":"dmr-a"/, qr/"mock":"dmr-a"/, qr/"mock":"dmr-a"/,
 qr/"connections":1\b.*"requests":3\b/]



=== TEST 13: a chunked request body passed through unbuffered
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /stream/v1/chat/completions
5\r
hello\r
6\r
 world\r
0\r
\r
"
--- response_body_like eval
my $sha = Digest::SHA::sha256_hex('hello world');
qr/"body_length":11,"body_sha256":"$sha"/



=== TEST 14: the request log through nginx
--- init
OllaMock::reset();
--- more_headers
X-Custom: Value
--- request eval
["PUT /b/v1/embeddings\n{\"input\":\"x\"}", "GET /_mock/log?port=$main::MP2&n=1"]
--- response_body_like eval
[qr/"mock":"dmr-b"/,
 qr/^\[\{"body":"\{\\"input\\":\\"x\\"\}","body_length":13,"body_sha256":"[0-9a-f]{64}","headers":\{.*"x-custom":"Value".*\},"method":"PUT","time":[\d.]+,"uri":"\/v1\/embeddings"\}\]$/]



=== TEST 15: /_mock/sleep waits between requests of a block
--- request eval
["GET /_mock/sleep?s=0.3", "GET /_mock/stats"]
--- response_body_like eval
[qr/"slept":0\.3/, qr/"name":"ollama-1"/]
