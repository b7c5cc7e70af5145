# What the gateway sees (SPEC 12, issue 13): tokens, time to the first
# token, tokens per second and how a stream ended, read from the answers
# as they pass; the variables in an access log, the counters in
# status/endpoints and in Prometheus (checked by promtool when it is
# installed), per endpoint and model, bounded.
#
# The backends are OllaMock ports replaying captured answers
# (t/data/usage): llama-server's stream with its usage chunk and timings,
# a whole chat completion, Ollama's NDJSON, and nonsense where the counts
# should be.  Every check waits for the access log line or the counter it
# reads (both are written when the request is logged).

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;
use JSON::PP;
use IO::Socket::INET;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr', 'oai', 'oll']);

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s; keepalive 4; }
    upstream oai { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=oai type=openai-compatible check_interval=30s check_timeout=2s; }
    upstream oll { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3 name=oll type=ollama check_interval=30s check_timeout=2s; }
    log_format usage 'tag=$http_x_tag status=$status ep=$olla_endpoint '
                     'prompt=$olla_prompt_tokens '
                     'completion=$olla_completion_tokens '
                     'cached=$olla_cached_tokens ttft=$olla_ttft '
                     'tps=$olla_tokens_per_second end=$olla_stream_end';
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    access_log logs/usage.log usage;
    location /d/ { olla_route dmr; proxy_pass http://dmr; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /t/ { olla_route oai; proxy_pass http://oai; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /o/ { olla_route oll; proxy_pass http://oll; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /internal/ { olla_status; }
_EOC_
    }
});

# the page's ETag, from the generated header
our $ETag = do {
    open my $fh, '<', "$ENV{TEST_NGINX_OLLA_ROOT}/src/ngx_olla_dmr_page.h" or die $!;
    local $/;
    my $h = <$fh>;
    $h =~ /NGX_OLLA_DMR_PAGE_ETAG\s+"\\"([0-9a-f]+)\\""/ or die 'no ETag';
    qq("$1");
};

our $CHAT = '{"model":"ai/smollm2","stream":true,"messages":[{"role":"user","content":"hi"}]}';
our $MSG = '{"model":"ai/smollm2","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}';

# POST BODY to PATH tagged TAG, with mock headers
sub post {
    my ($path, $tag, $body, %mock) = @_;
    return OllaTest::http(POST => $path, timeout => 10,
                          headers => { 'Content-Type' => 'application/json',
                                       'X-Tag' => $tag, %mock },
                          body => $body);
}

# the access log line of TAG, once written
sub logged {
    my ($tag) = @_;
    my $file = server_root() . '/logs/usage.log';
    my $line;

    OllaTest::wait_until(sub {
        open my $fh, '<', $file or return 0;
        ($line) = grep { /^tag=\Q$tag\E / } <$fh>;
        close $fh;
        return defined $line;
    }, 10);

    chomp $line if defined $line;
    return $line // "no log line for $tag";
}

sub endpoint_usage {
    my ($name) = @_;
    my $e = OllaTest::endpoint($name) or return {};
    return $e->{usage};
}

run_tests();

__DATA__

=== TEST 1: llama-server's stream: tokens from its usage chunk, cached from prompt_tokens_details, speed from timings, complete
--- init
my $r = main::post('/d/dmr/engines/v1/chat/completions', 'dmr-stream', $main::CHAT,
                   'X-Mock-Replay' => 't/data/usage/dmr-stream.sse');
Test::More::is($r->{status}, 200, 'streamed');
Test::More::like(main::logged('dmr-stream'),
    qr/^tag=dmr-stream status=200 ep=dmr prompt=40 completion=5 cached=28 ttft=\d+ tps=80\.00 end=complete$/,
    'the log line');
--- request
GET /internal/status/endpoints
--- response_body_like: "usage":\{"requests":\{"2xx":1,"3xx":0,"4xx":0,"5xx":0\},"tokens":\{"prompt":40,"completion":5,"cached":28\}.*"streams":1,"streams_cut":\{"backend_cut":0,"client_cut":0,"idle_timeout":0\}
--- no_error_log
[error]



=== TEST 2: a whole answer: its usage, ttft is the whole answer's time, no stream
--- init
my $r = main::post('/d/dmr/engines/v1/chat/completions', 'dmr-json',
                   '{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}',
                   'X-Mock-Replay' => 't/data/usage/dmr-completion.json');
Test::More::is($r->{status}, 200, 'answered');
Test::More::like(main::logged('dmr-json'),
    qr/^tag=dmr-json status=200 ep=dmr prompt=21 completion=7 cached=0 ttft=\d+ tps=70\.00 end=-$/,
    'the log line');
--- request
GET /internal/status/endpoints
--- response_body_like: "tokens":\{"prompt":21,"completion":7,"cached":0\}.*"streams":0
--- no_error_log
[error]



=== TEST 3: Ollama's NDJSON stream: prompt_eval_count, eval_count, eval_duration, "done": true
--- init
my $r = main::post('/o/ollama/api/chat', 'ollama',
                   '{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}',
                   'X-Mock-Replay' => 't/data/usage/ollama-chat.ndjson',
                   'X-Mock-Content-Type' => 'application/x-ndjson');
Test::More::is($r->{status}, 200, 'answered');
Test::More::like(main::logged('ollama'),
    qr/^tag=ollama status=200 ep=oll prompt=26 completion=40 cached=- ttft=\d+ tps=50\.00 end=complete$/,
    'the log line');
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"oll".*"tokens":\{"prompt":26,"completion":40,"cached":0\}
--- no_error_log
[error]



=== TEST 4: translated to the Messages API: the counts are the backend's, read before translation
--- init
my $r = main::post('/t/anthropic/v1/messages', 'anthropic', $main::MSG,
                   'X-Mock-Replay' => 't/data/usage/dmr-stream.sse');
Test::More::is($r->{status}, 200, 'streamed');
Test::More::like($r->{body}, qr/event: message_stop/, 'an Anthropic stream');
Test::More::like(main::logged('anthropic'),
    qr/^tag=anthropic status=200 ep=oai prompt=40 completion=5 cached=28 ttft=\d+ tps=80\.00 end=complete$/,
    'the log line');
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"oai".*"tokens":\{"prompt":40,"completion":5,"cached":28\}
--- no_error_log
[error]



=== TEST 5: a stream the backend cuts: backend_cut, no counts
--- init
my $r = main::post('/d/dmr/engines/v1/chat/completions', 'cut', $main::CHAT,
                   'X-Mock-SSE' => 5, 'X-Mock-Cut' => 2);
Test::More::like(main::logged('cut'),
    qr/^tag=cut status=200 ep=dmr prompt=- completion=- cached=- ttft=\d+ tps=- end=backend_cut$/,
    'the log line');
Test::More::ok(OllaTest::wait_until(sub { main::endpoint_usage('dmr')->{streams_cut}{backend_cut} == 1 }),
               'counted');
--- request
GET /internal/status/endpoints
--- response_body_like: "streams_cut":\{"backend_cut":1,"client_cut":0,"idle_timeout":0\}
--- error_log
upstream prematurely closed connection



=== TEST 6: a stream the backend goes quiet on past the read timeout (the profile's, 2s): idle_timeout
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/t/data/profiles-timeout;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s; }
    log_format usage 'tag=$http_x_tag status=$status ep=$olla_endpoint '
                     'prompt=$olla_prompt_tokens '
                     'completion=$olla_completion_tokens '
                     'cached=$olla_cached_tokens ttft=$olla_ttft '
                     'tps=$olla_tokens_per_second end=$olla_stream_end';
--- config
    access_log logs/usage.log usage;
    location /d/ { olla_route dmr; proxy_pass http://dmr; }
    location /internal/ { olla_status; }
--- init
my $r = main::post('/d/dmr/engines/v1/chat/completions', 'idle', $main::CHAT,
                   'X-Mock-SSE' => 3, 'X-Mock-Interval' => 4);
Test::More::like(main::logged('idle'),
    qr/^tag=idle status=200 ep=dmr prompt=- completion=- cached=- ttft=\d+ tps=- end=idle_timeout$/,
    'the log line');
--- request
GET /internal/status/endpoints
--- response_body_like: "streams_cut":\{"backend_cut":0,"client_cut":0,"idle_timeout":1\}
--- error_log
upstream timed out
--- timeout: 15



=== TEST 7: a client that leaves in the middle of a stream: client_cut
--- init
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => OllaTest::port(), Proto => 'tcp')
    or die "connect: $!";
print $s "POST /d/dmr/engines/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nX-Tag: client\r\n"
       . "X-Mock-SSE: 20\r\nX-Mock-Interval: 0.2\r\nContent-Type: application/json\r\n"
       . "Content-Length: " . length($main::CHAT) . "\r\n\r\n$main::CHAT";
my $got = '';
while ($got !~ /tok0/) { sysread($s, my $buf, 4096) or last; $got .= $buf; }
close $s;
Test::More::like($got, qr/tok0/, 'the stream began');
Test::More::like(main::logged('client'),
    qr/^tag=client status=(200|499) ep=dmr prompt=- completion=- cached=- ttft=\d+ tps=- end=client_cut$/,
    'the log line');
--- request
GET /internal/status/endpoints
--- response_body_like: "streams_cut":\{"backend_cut":0,"client_cut":1,"idle_timeout":0\}
--- timeout: 15



=== TEST 8: counts that are not numbers are not counted; an error answer has none; a local answer has no endpoint
--- init
my $r = main::post('/d/dmr/engines/v1/chat/completions', 'bad', $main::CHAT,
                   'X-Mock-Replay' => 't/data/usage/bad-usage.sse');
Test::More::like(main::logged('bad'),
    qr/^tag=bad status=200 ep=dmr prompt=- completion=- cached=- ttft=\d+ tps=- end=complete$/,
    'nonsense counts are no counts');
$r = main::post('/d/dmr/engines/v1/chat/completions', 'err', $main::CHAT,
                'X-Mock-Status' => 500, 'X-Mock-Body' => '{"error":{"message":"boom"}}');
Test::More::is($r->{status}, 500, 'the backend failed');
Test::More::like(main::logged('err'),
    qr/^tag=err status=500 ep=dmr prompt=- completion=- cached=- ttft=- tps=- end=-$/,
    'an error answer has no counts');
$r = main::post('/d/dmr/engines/v1/chat/completions', 'local', '{"model":');
Test::More::is($r->{status}, 400, 'refused by the gateway');
Test::More::like(main::logged('local'),
    qr/^tag=local status=400 ep=- prompt=- completion=- cached=- ttft=- tps=- end=-$/,
    'a refusal has no endpoint and no counts');
Test::More::ok(OllaTest::wait_until(sub { main::endpoint_usage('dmr')->{requests}{'5xx'} == 1 }),
               'the 5xx counted at the endpoint');
--- request
GET /internal/status/endpoints
--- response_body_like: "requests":\{"2xx":1,"3xx":0,"4xx":0,"5xx":1\},"tokens":\{"prompt":0,"completion":0,"cached":0\}
--- no_error_log
[error]



=== TEST 9: Prometheus: per endpoint and model, histograms, cardinality bounded; promtool agrees
--- init
main::post('/d/dmr/engines/v1/chat/completions', 'p0', $main::CHAT,
           'X-Mock-Replay' => 't/data/usage/dmr-stream.sse');
for my $i (1 .. 10) {
    main::post('/d/dmr/engines/v1/chat/completions', "m$i",
               qq({"model":"ai/model-$i","messages":[{"role":"user","content":"hi"}]}),
               'X-Mock-Replay' => 't/data/usage/dmr-completion.json');
}
main::logged('m10');
my $m;
OllaTest::wait_until(sub {
    $m = OllaTest::http(GET => '/internal/metrics')->{body};
    $m =~ /olla_requests_total\{endpoint="dmr",type="docker-model-runner",upstream="dmr",model="other",status_class="2xx"\} 3/;
});
Test::More::like($m, qr/^olla_tokens_total\{endpoint="dmr",type="docker-model-runner",upstream="dmr",model="ai\/smollm2:latest",kind="prompt"\} 40$/m, 'tokens by kind');
Test::More::like($m, qr/^olla_tokens_total\{[^}]*model="ai\/smollm2:latest",kind="cached"\} 28$/m, 'cached tokens');
Test::More::like($m, qr/^olla_time_to_first_token_seconds_bucket\{[^}]*model="ai\/smollm2:latest",le="\+Inf"\} 1$/m, 'ttft histogram');
Test::More::like($m, qr/^olla_time_to_first_token_seconds_count\{[^}]*model="ai\/smollm2:latest"\} 1$/m, 'ttft count');
Test::More::like($m, qr/^olla_request_duration_seconds_sum\{[^}]*model="ai\/smollm2:latest"\} \d+\.\d{3}$/m, 'duration sum in seconds');
Test::More::like($m, qr/^olla_streams_cut_total\{[^}]*model="ai\/smollm2:latest",reason="backend_cut"\} 0$/m, 'cuts');
Test::More::like($m, qr/^olla_routing_decisions_total\{[^}]*model="ai\/model-1:latest",reason="(fallback|cold|resident)"\} 1$/m, 'decisions by model');
my %models = map { $_ => 1 } $m =~ /^olla_requests_total\{[^}]*model="([^"]+)"/mg;
Test::More::is(scalar(keys %models), 9, 'eight models and "other"');
Test::More::ok($models{other}, 'the rest in "other"');
SKIP: {
    my $promtool = `command -v promtool 2>/dev/null`;
    chomp $promtool;
    # make test installs Debian's prometheus: in CI it must be there
    die "promtool is missing (make deps installs it)" if !$promtool && $ENV{CI};
    Test::More::skip('promtool is not installed', 1) unless $promtool;
    my $file = server_root() . '/metrics.txt';
    open my $fh, '>', $file or die $!;
    print $fh $m;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    Test::More::is($? >> 8, 0, 'promtool check metrics') or Test::More::diag($out);
}
--- request
GET /internal/metrics
--- response_body_like: # TYPE olla_time_to_first_token_seconds histogram
--- no_error_log
[error]



=== TEST 10: Olla's /internal/status: proxy, endpoints in Olla's fields, system verdict
--- init
main::post('/d/dmr/engines/v1/chat/completions', 'st1', $main::CHAT,
           'X-Mock-Replay' => 't/data/usage/dmr-stream.sse');
main::logged('st1');
my $s = OllaTest::status_json('/internal/status') or die 'no /internal/status';
my ($d) = grep { $_->{name} eq 'dmr' } @{ $s->{endpoints} };
Test::More::is($s->{proxy}{balancer}, 'least-connections', 'the balancer');
Test::More::is($d->{success_rate}, '100%', 'success rate, Olla style');
Test::More::like($d->{avg_latency}, qr/^\d+(ms|\.\d\ds)$/, 'average latency');
Test::More::like($d->{traffic}, qr/^\d+(\.\d)? (B|KB)$/, 'traffic');
Test::More::like($d->{id}, qr/^[0-9a-z]+$/, 'id in base 36');
Test::More::is($d->{models}{count}, 0, 'model count');
Test::More::like($s->{system}{endpoints_up}, qr/^\d\/3$/, 'endpoints up');
Test::More::is($s->{system}{has_traffic}, JSON::PP::true, 'has traffic');
Test::More::is($s->{system}{total_tokens}, 45, 'tokens');
Test::More::like($s->{system}{uptime}, qr/^\d+s$/, 'uptime');
Test::More::is($s->{security}{status}, 'normal', 'security');
--- request
GET /internal/status
--- response_body_like: ^\{"timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","proxy":\{"engine":"nginx"
--- no_error_log
[error]



=== TEST 11: Olla's /internal/stats/models: per model, most requested first, the breakdown and summary on request
--- init
for my $i (1 .. 3) {
    main::post('/d/dmr/engines/v1/chat/completions', "a$i",
               '{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}',
               'X-Mock-Replay' => 't/data/usage/dmr-completion.json');
}
main::post('/d/dmr/engines/v1/chat/completions', 'b1',
           '{"model":"ai/qwen3","messages":[{"role":"user","content":"hi"}]}',
           'X-Mock-Status' => 500);
main::logged('b1');
my $s = OllaTest::status_json('/internal/stats/models?include_endpoints=true&include_summary=true')
    or die 'no stats/models';
Test::More::is(join(',', map { $_->{name} } @{ $s->{models} }), 'ai/smollm2:latest,ai/qwen3:latest', 'most requested first');
my ($m, $q) = @{ $s->{models} };
Test::More::is($m->{total_requests}, 3, 'requests');
Test::More::is($m->{success_rate}, '100%', 'success');
Test::More::is($q->{failed_requests}, 1, 'failed');
Test::More::is($q->{success_rate}, '0%', 'no success');
Test::More::is($m->{tokens}{completion}, 21, 'tokens');
Test::More::is($m->{unique_clients}, 1, 'one client');
Test::More::is($m->{endpoint_breakdown}{dmr}{request_count}, 3, 'breakdown');
Test::More::is($s->{endpoints}{dmr}{request_count}, 4, 'endpoint summary');
Test::More::is($s->{summary}{most_popular_model}, 'ai/smollm2:latest', 'most popular');
Test::More::is($s->{summary}{total_models}, 2, 'two models');
Test::More::is($s->{summary}{overall_success_rate}, '75.0%', 'overall');
--- request
GET /internal/stats/models
--- response_body_like: "endpoints":\{\},"models":\[\{"name":"ai/smollm2:latest"
--- no_error_log
[error]



=== TEST 12: Olla's /internal/process and /version, here and at "location = /version"
--- config
    location /internal/ { olla_status; }
    location = /version { olla_status; }
--- request eval
["GET /internal/process", "GET /internal/version", "GET /version"]
--- response_body_like eval
[qr/^\{"timestamp":"[^"]+","memory":\{"rss":"[\d.]+ [KMG]?B","rss_bytes":\d+,"zone_size":"1.0 MB","zone_free":"[^"]+","memory_pressure":"low"\},"runtime":\{"uptime":"\d+s","nginx_version":"1\.\d+\.\d+","module_version":"[^"]+","num_cpu":\d+/,
 qr/"api":\{"endpoints":\{"health":"\/internal\/health","status":"\/internal\/status","process":"\/internal\/process","version":"\/internal\/version"\},"version":"v1"\}.*"name":"ngx_olla_dmr".*"supported_backends":\[[^\]]*"docker-model-runner"/,
 qr/"health":"\/internal\/health".*"platform":"linux\/[^"]+"/]
--- no_error_log
[error]



=== TEST 13: the status page: one HTML file, a strict CSP, an ETag that answers If-None-Match with 304
--- config
    location /internal/ { olla_status; }
--- request eval
["GET /internal/ui/", "GET /internal/ui"]
--- response_headers_like eval
["Content-Type: text/html; charset=utf-8
Content-Security-Policy: ^default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self'
X-Content-Type-Options: nosniff
ETag: ^\"[0-9a-f]+\"\$", "Content-Type: text/html; charset=utf-8"]
--- response_body_like eval
[qr/^<!DOCTYPE html>.*<\/html>\n?$/s, qr/^<!DOCTYPE html>/]
--- no_error_log
[error]



=== TEST 14: the page's ETag: If-None-Match gets 304 and no body
--- config
    location /internal/ { olla_status; }
--- request
GET /internal/ui/
--- more_headers eval
"If-None-Match: $main::ETag"
--- error_code: 304
--- response_body
--- no_error_log
[error]



=== TEST 15: an unknown status path names the ones there are; a POST is refused
--- config
    location /internal/ { olla_status; }
--- request eval
["GET /internal/nope", "POST /internal/status\n{}"]
--- error_code eval
[404, 405]
--- response_body_like eval
[qr/unknown status path \\"nope\\"; try health, status\/endpoints, status\/models, metrics, ui\/, status, stats\/models, process or version/, qr/.*/]
--- no_error_log
[error]
