# Refusals found under pressure (issue 15, part 5): an empty POST body on
# an OpenAI route is refused by the gateway in OpenAI's shape (it never
# reaches the backend); a U+0000 inside "model" shows escaped in the
# error message, never a truncation; a 503 while an endpoint's circuit is
# open names the circuit instead of "no healthy endpoint".

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;
use JSON::PP;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

# the second port only answers the mock's controls while the first is down
OllaMock::start(names => ['dmr-a', 'control']);

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    # the endpoint lists ai/smollm2: another model is not found
    OllaMock::reset();
    OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1},
                  models_body => '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model"}]}');

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=a check_interval=60s check_timeout=1s; }
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
_EOC_
    }
});

# requests the mock answered (not its controls, not probes of /models)
sub mock_requests {
    my $log = OllaTest::http(GET => "http://127.0.0.1:$ENV{TEST_NGINX_MOCK_PORT_1}/_mock/log?n=100");
    my $list = eval { JSON::PP->new->decode($log->{body}) } || [];
    my @sent = grep { ($_->{uri} // '') !~ m{/models$|/ps$} } @$list;
    Test::More::diag(JSON::PP->new->encode(\@sent)) if @sent;
    return scalar @sent;
}

run_tests();

__DATA__

=== TEST 1: an empty POST body on the OpenAI routes: 400 in OpenAI's shape, the backend never sees it
--- init
OllaTest::wait_status_settled();
--- request eval
[ "POST /olla/proxy/v1/chat/completions\n",
  "POST /olla/dmr/engines/v1/chat/completions\n",
  "POST /olla/proxy/v1/embeddings\n",
  "POST /olla/proxy/v1/responses\n" ]
--- more_headers
Content-Type: application/json
--- error_code eval
[400, 400, 400, 400]
--- response_headers eval
[ ("Content-Type: application/json") x 4 ]
--- response_body_like eval
[ (qr{^\{"error":\{"message":"\\"model\\" is required and must be a non-empty string: the request body is empty","type":"invalid_request_error","param":null,"code":"invalid_model","request_id":"[0-9a-f]{32}"\}\}\n$}) x 4 ]
--- no_error_log
[error]



=== TEST 2: ... and chunked with no bytes; the Anthropic route keeps its own words; nothing reached the backend
--- init
OllaTest::wait_status_settled();
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => OllaTest::port(), Proto => 'tcp')
    or die "connect: $!";
print $s "POST /olla/proxy/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
       . "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n0\r\n\r\n";
my $res = '';
while (sysread($s, my $buf, 4096)) { $res .= $buf; }
Test::More::like($res, qr{^HTTP/1\.1 400 .*"message":"\\"model\\" is required and must be a non-empty string: the request body is empty"}s,
                 'chunked, empty: 400');
my $r = OllaTest::http(POST => '/olla/anthropic/v1/messages', headers => { 'Content-Type' => 'application/json' });
Test::More::is($r->{status}, 400, 'Anthropic: 400');
Test::More::like($r->{body}, qr/^\{"type":"error","error":\{"type":"invalid_request_error","message":"\\"model\\" is required/,
                 "Anthropic: its shape");
Test::More::is(main::mock_requests(), 0, 'no request reached the backend');
--- request
GET /internal/health
--- no_error_log
[error]



=== TEST 3: a U+0000 inside "model": the error message shows it escaped, in full
--- init
OllaTest::wait_status_settled();
--- request eval
[ qq{POST /olla/proxy/v1/chat/completions\n{"model":"ai/nosuch\\u0000tail","messages":[]}},
  qq{POST /olla/dmr/engines/v1/chat/completions\n{"model":"ai/nosuch\\u0001\\u001f\\"q\\\\tail","messages":[]}} ]
--- error_code eval
[404, 404]
--- response_body_like eval
[ qr{"message":"model \\"ai/nosuch\\\\u0000tail:latest\\" is not available on any healthy endpoint"},
  qr{"message":"model \\"ai/nosuch\\\\u0001\\\\u001f\\\\\\"q\\\\\\\\tail:latest\\" is not available on any healthy endpoint"} ]
--- no_error_log
[error]



=== TEST 4: a 503 while the endpoint's circuit is open names the circuit, with its next trial
--- init
OllaTest::wait_status_settled();
OllaMock::set($ENV{TEST_NGINX_MOCK_PORT_1}, mode => 'down');
OllaTest::http(POST => '/olla/dmr/engines/v1/chat/completions', body => '{"model":"ai/smollm2"}') for 1..5;
OllaTest::wait_endpoint('a', sub { $_[0]{circuit} eq 'open' && $_[0]{status} eq 'healthy' }, 10);
--- request
POST /olla/dmr/engines/v1/chat/completions
{"model":"ai/smollm2"}
--- error_code: 503
--- response_headers_like
Retry-After: (?:2\d|30)
--- response_body_like: ^\{"error":\{"message":"no docker-model-runner endpoint is available in upstream \\"models\\": endpoint \\"a\\"'s circuit is open after 5 consecutive connection failures; it gets a trial request at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in (?:2\d|30)s\)","type":"service_unavailable","param":null,"code":"no_healthy_endpoint"



=== TEST 5: JSON nested 128 levels deep is taken; 129 levels is a 400 saying so (README)
--- init
OllaTest::wait_status_settled();
--- request eval
[ "POST /olla/proxy/v1/chat/completions\n" . '{"model":"ai/smollm2","x":' . ('[' x 127) . (']' x 127) . '}',
  "POST /olla/proxy/v1/chat/completions\n" . '{"model":"ai/smollm2","x":' . ('[' x 128) . (']' x 128) . '}' ]
--- error_code eval
[200, 400]
--- response_body_like eval
[ qr{"mock":"dmr-a"},
  qr{^\{"error":\{"message":"JSON nested deeper than 128 levels \(at byte 153\)","type":"invalid_request_error","param":null,"code":"invalid_json"} ]
--- no_error_log
[error]
