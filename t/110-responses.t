# The OpenAI Responses API (SPEC 11, issue 12): DMR's Responses paths,
# /olla/proxy/v1/responses over every type, a response's follow-ups and
# by-id requests pinned to the endpoint that made it (learned from the
# answer, kept in the zone), the errors when that cannot be, and the
# translation to chat completions for types without the API.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaTest;
use JSON::PP;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    location /olla/ {
        olla_route models;
        proxy_pass http://models;
        add_header X-Reason $olla_route_reason always;
    }
    location /internal/ { olla_status; }
_EOC_
    }
});

our $LIST = '{"object":"list","data":[{"id":"ai/smollm2:latest"}]}';

# a DMR-shaped endpoint whose POST .../responses answers a response whose
# id names the endpoint; any other path echoes the method and path
sub dmr {
    my ($port, $name, %o) = @_;
    my $stream = $o{stream}
        ? "event: response.created\\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_${name}_s\",\"object\":\"response\",\"status\":\"in_progress\"}}\\n\\nevent: response.completed\\ndata: {\"type\":\"response.completed\",\"sequence_number\":1,\"response\":{\"id\":\"resp_${name}_s\",\"status\":\"completed\"}}\\n\\n"
        : '';
    my $create = $o{stream}
        ? "default_type text/event-stream; return 200 '$stream';"
        : "default_type application/json; return 200 '{\"id\":\"resp_${name}_1\",\"object\":\"response\",\"status\":\"completed\",\"mock\":\"$name\",\"uri\":\"\$uri\"}';";
    return <<"_EOS_";
    server {
        listen $port;
        location = /engines/v1/models { return 200 '$main::LIST'; }
        location = /engines/ps { return 200 '[{"backend_name":"llama.cpp","model_name":"ai/smollm2","mode":"completion","last_used":"2026-12-07T10:00:00Z"}]'; }
        location = /engines/v1/responses { $create }
        location / {
            default_type application/json;
            return 200 '{"mock":"$name","method":"\$request_method","uri":"\$uri","body":"\$request_body"}';
        }
    }
_EOS_
}

sub post {
    my ($path, $body) = @_;
    my $r = OllaTest::http(POST => $path, body => ref $body ? encode_json($body) : $body);
    return $r;
}

sub mock_of { my ($r) = @_; my ($m) = ($r->{body} // '') =~ /"mock":"([^"]+)"/; return $m // '' }

run_tests();

__DATA__

=== TEST 1: a response's follow-ups and by-id requests go to the endpoint that made it
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18701 name=a check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18702 name=b check_interval=30s check_timeout=2s;
}
" . main::dmr(18701, 'a') . main::dmr(18702, 'b')
--- init
OllaTest::wait_status_settled() or die "no probes";
my %made;
for my $i (1 .. 4) {
    my $r = main::post('/olla/proxy/v1/responses', { model => 'ai/smollm2', input => "hello $i" });
    Test::More::is($r->{status}, 200, "create $i");
    Test::More::is($r->{headers}{'x-olla-mode'}, 'passthrough', 'native on DMR');
    $made{ main::mock_of($r) }++;
}
Test::More::is(join(',', sort keys %made), 'a,b', 'new responses are balanced');
for my $who ('a', 'b') {
    for my $turn (1 .. 3) {
        my $r = main::post('/olla/proxy/v1/responses',
            { model => 'ai/smollm2', input => "turn $turn", previous_response_id => "resp_${who}_1" });
        Test::More::is(main::mock_of($r), $who, "previous_response_id of $who, turn $turn: on $who");
    }
    my $g = OllaTest::http(GET => "/olla/proxy/v1/responses/resp_${who}_1");
    Test::More::like($g->{body}, qr{"mock":"$who","method":"GET","uri":"/engines/v1/responses/resp_${who}_1"}, "GET by id on $who");
    $g = OllaTest::http(GET => "/olla/proxy/v1/responses/resp_${who}_1/input_items");
    Test::More::like($g->{body}, qr{"mock":"$who","method":"GET","uri":"/engines/v1/responses/resp_${who}_1/input_items"}, "input_items on $who");
    $g = OllaTest::http(GET => "/olla/dmr/engines/v1/responses/resp_${who}_1");
    Test::More::like($g->{body}, qr{"mock":"$who"}, "the provider route pins too ($who)");
}
my $d = OllaTest::http(DELETE => '/olla/proxy/v1/responses/resp_a_1');
Test::More::like($d->{body}, qr{"mock":"a","method":"DELETE"}, 'DELETE on a');
my $g = OllaTest::http(GET => '/olla/proxy/v1/responses/resp_a_1');
Test::More::is($g->{status}, 404, 'a deleted response is forgotten');
--- request
GET /olla/proxy/v1/responses/resp_nobody_1
--- error_code: 404
--- response_body_like: ^\{"error":\{"message":"no response with id \\"resp_nobody_1\\" is known: a response is kept for an hour, by the endpoint that made it","type":"invalid_request_error","param":null,"code":"response_not_found","request_id":"[0-9a-f]{32}"\}\}$
--- no_error_log
[error]



=== TEST 2: a streamed response's id is learned from response.created
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18701 name=a check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18702 name=b check_interval=30s check_timeout=2s;
}
" . main::dmr(18701, 'a', stream => 1) . main::dmr(18702, 'b', stream => 1)
--- init
OllaTest::wait_status_settled() or die "no probes";
my $r = main::post('/olla/proxy/v1/responses', { model => 'ai/smollm2', input => 'hi', stream => JSON::PP::true });
my ($who) = $r->{body} =~ /"id":"resp_(\w)_s"/;
Test::More::ok($who, "a stream from $who");
for (1 .. 3) {
    my $f = main::post('/olla/proxy/v1/responses', { model => 'ai/smollm2', input => 'more', previous_response_id => "resp_${who}_s" });
    Test::More::like($f->{body}, qr/resp_${who}_s|"mock":"$who"/, "the follow-up on $who");
}
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"a"
--- no_error_log
[error]



=== TEST 3: ids nobody made, ids of a gone endpoint, bad paths: clear errors in OpenAI's shape
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18701 name=a check_interval=1s check_timeout=500ms;
    olla_endpoint http://127.0.0.1:18702 name=b check_interval=1s check_timeout=500ms;
}
" . main::dmr(18701, 'a') . "
server {
    listen 18702;
    location = /engines/v1/models { if (-f \$document_root/down) { return 500; } return 200 '$main::LIST'; }
    location = /engines/ps { return 200 '[{\"backend_name\":\"llama.cpp\",\"model_name\":\"ai/smollm2\",\"mode\":\"completion\",\"last_used\":\"2026-12-07T10:00:00Z\"}]'; }
    location = /engines/v1/responses { default_type application/json; return 200 '{\"id\":\"resp_b_1\",\"object\":\"response\"}'; }
    location / { return 200 '{\"mock\":\"b\"}'; }
}
"
--- init
OllaTest::wait_status_settled() or die "no probes";
my $made;
for my $i (1 .. 6) {
    my $r = main::post('/olla/proxy/v1/responses', { model => 'ai/smollm2', input => "x $i" });
    $made = 1 if $r->{body} =~ /resp_b_1/;
}
Test::More::ok($made, 'b made a response');
open my $fh, '>', ($ENV{TEST_NGINX_SERVROOT} || OllaTest::root() . '/t/servroot') . '/html/down' or die "down: $!"; close $fh;
OllaTest::wait_endpoint('b', sub { $_[0]{status} ne 'healthy' }, 10) or die "b still healthy";
my $r = main::post('/olla/proxy/v1/responses', { model => 'ai/smollm2', input => 'y', previous_response_id => 'resp_b_1' });
Test::More::is($r->{status}, 409, 'the endpoint holding it is down: 409');
Test::More::like($r->{body}, qr/"message":"response \\"resp_b_1\\" is held by endpoint \\"b\\", which is unavailable \(unhealthy, circuit closed\); retry when it is back","type":"invalid_request_error","param":null,"code":"response_unavailable"/, 'says which and why');
$r = main::post('/olla/proxy/v1/responses', { model => 'ai/smollm2', input => 'y', previous_response_id => 'resp_never' });
Test::More::is($r->{status}, 400, 'an unknown previous_response_id: 400');
Test::More::like($r->{body}, qr/"code":"previous_response_not_found"/, 'with its code');
$r = OllaTest::http(GET => '/olla/proxy/v1/responses/resp_a_1/other');
Test::More::is($r->{status}, 404, 'a path beyond the API');
Test::More::like($r->{body}, qr/"code":"path_not_found"/, 'path_not_found');
$r = OllaTest::http(GET => '/olla/proxy/v1/responses/');
Test::More::is($r->{status}, 404, 'no id');
$r = main::post('/olla/proxy/v1/responses', { model => 'ai/smollm2', input => 'y', previous_response_id => 'r' x 200 });
Test::More::is($r->{status}, 400, 'an overlong id');
$r = main::post('/olla/proxy/v1/responses', '{"model":"ai/smollm2","input":[');
Test::More::like($r->{body}, qr/"code":"invalid_json"/, 'bad JSON: 400 invalid_json');
$r = OllaTest::http(GET => '/olla/proxy/v1/responses');
Test::More::is($r->{status}, 405, 'GET on the create path');
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"b"
--- no_error_log
[error]
--- timeout: 20



=== TEST 4: a type without the Responses API gets it translated, and a follow-up there is refused
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18703 name=llama type=openai-compatible check_interval=30s check_timeout=2s;
}
server {
    listen 18703;
    location = /v1/models { return 200 '$main::LIST'; }
    location = /v1/chat/completions {
        default_type application/json;
        return 200 '{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"ai/smollm2\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}';
    }
}
"
--- init
OllaTest::wait_status_settled() or die "no probes";
--- request eval
["POST /olla/proxy/v1/responses\n{\"model\":\"ai/smollm2\",\"input\":\"hi\"}",
 "POST /olla/proxy/v1/responses\n{\"model\":\"ai/smollm2\",\"input\":\"hi\",\"previous_response_id\":\"resp_x\"}",
 "POST /olla/proxy/v1/responses\n{\"model\":\"ai/smollm2\",\"input\":[{\"type\":\"bogus\"}]}"]
--- error_code eval
[200, 400, 400]
--- response_headers eval
["X-Olla-Mode: translation", "", ""]
--- response_body_like eval
[qr/^\{"id":"resp_\w+","object":"response",.*"status":"completed".*"output":\[\{"id":"msg_\w+","type":"message".*"text":"Hello there".*"usage":\{"input_tokens":5/s,
 qr/"code":"previous_response_not_found"/,
 qr/"error":\{"message":"input\[0\]: items of type \\"bogus\\" are not supported by a chat-completions backend","type":"invalid_request_error"/]
--- no_error_log
[error]



=== TEST 5: Codex's "include" (and "service_tier"), which DMR's Responses layer refuses: translated for DMR, unless the request continues a stored response
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18704 name=d check_interval=30s check_timeout=2s;
}
server {
    listen 18704;
    location = /engines/v1/models { return 200 '$main::LIST'; }
    location = /engines/ps { return 200 '[]'; }
    location = /engines/v1/responses {
        default_type application/json;
        return 200 '{\"id\":\"resp_d_1\",\"object\":\"response\",\"status\":\"completed\",\"mock\":\"native\"}';
    }
    location = /engines/v1/chat/completions {
        default_type application/json;
        return 200 '{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"ai/smollm2\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello there\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}';
    }
}
"
--- init
OllaTest::wait_status_settled() or die "no probes";
--- request eval
["POST /olla/proxy/v1/responses\n{\"model\":\"ai/smollm2\",\"input\":\"hi\"}",
 "POST /olla/proxy/v1/responses\n{\"model\":\"ai/smollm2\",\"input\":\"hi\",\"include\":[\"reasoning.encrypted_content\"],\"store\":false}",
 "POST /olla/proxy/v1/responses\n{\"model\":\"ai/smollm2\",\"input\":\"hi\",\"service_tier\":\"auto\"}",
 "POST /olla/proxy/v1/responses\n{\"model\":\"ai/smollm2\",\"input\":\"hi\",\"include\":[]}",
 "POST /olla/proxy/v1/responses\n{\"model\":\"ai/smollm2\",\"input\":\"again\",\"include\":[\"reasoning.encrypted_content\"],\"previous_response_id\":\"resp_d_1\"}"]
--- response_headers eval
["X-Olla-Mode: passthrough", "X-Olla-Mode: translation", "X-Olla-Mode: translation", "X-Olla-Mode: passthrough", "X-Olla-Mode: passthrough"]
--- response_body_like eval
[qr/"mock":"native"/, qr/"text":"Hello there"/, qr/"text":"Hello there"/, qr/"mock":"native"/, qr/"mock":"native"/]
--- no_error_log
[error]
