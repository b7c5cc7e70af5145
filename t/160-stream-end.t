# An interrupted stream always says so (issue 15, part 3): a stream passed
# through as it is (OpenAI SSE on the proxy and provider routes, the
# Anthropic Messages API and the Responses API passed through to DMR,
# Ollama's NDJSON) that the backend cuts (a close before its end marker,
# a clean end without it) or leaves silent past the stream idle timeout
# ends with an error event in the stream's own API, and $olla_stream_end
# says how it ended.  A complete stream passes byte for byte; a slow first
# byte (a cold load, a long prompt) is no idle stream.
#
# The backend is OllaMock: X-Mock-SSE events, X-Mock-Cut closes after K
# of them, X-Mock-Interval and X-Mock-First-Delay are its silences,
# X-Mock-Replay replays captured streams (t/data/stream-end).

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;
use Time::HiRes qw(time);

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr', 'oll', 'oai']);

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s; }
    upstream oll { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_2 name=oll type=ollama check_interval=30s check_timeout=2s; }
    upstream oai { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_3 name=oai type=openai-compatible check_interval=30s check_timeout=2s; }
    log_format end 'tag=$http_x_tag status=$status ep=$olla_endpoint end=$olla_stream_end';
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    access_log logs/end.log end;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /o/ { olla_route oll; proxy_pass http://oll; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /idle/ { olla_stream_idle_timeout 1s; olla_route dmr; proxy_pass http://dmr; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /tr/ { olla_stream_idle_timeout 1s; olla_route oai; proxy_pass http://oai; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location = /t { return 200 "ok\n"; }
_EOC_
    }

    if (!defined $block->request) {
        $block->set_value("request", "GET /t\n");
    }
});

our $CHAT = '{"model":"ai/smollm2","stream":true,"messages":[{"role":"user","content":"hi"}]}';
our $MSG = '{"model":"ai/smollm2","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}';
our $RESP = '{"model":"ai/smollm2","input":"hi","stream":true}';
our $OLL = '{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}';

# POST BODY to PATH tagged TAG, with mock headers
sub post {
    my ($path, $tag, $body, %mock) = @_;
    return OllaTest::http(POST => $path, timeout => 15,
                          headers => { 'Content-Type' => 'application/json',
                                       'X-Tag' => $tag, %mock },
                          body => $body);
}

# the access log line of TAG, once written
sub logged {
    my ($tag) = @_;
    my $file = server_root() . '/logs/end.log';
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

# the cut event on an OpenAI stream, for endpoint EP
sub openai_cut {
    my ($ep) = @_;
    return qr{data: \{"error":\{"message":"endpoint \\"\Q$ep\E\\" ended the stream before the response was complete","type":"server_error","param":null,"code":"stream_interrupted","request_id":"[0-9a-f]{32}"\}\}\n\n\z};
}

run_tests();

__DATA__

=== TEST 1: a complete stream passes byte for byte, with or without a stream idle timeout; end=complete
--- init
my $port = $ENV{TEST_NGINX_MOCK_PORT_1};
my $direct = OllaTest::http(POST => "http://127.0.0.1:$port/engines/v1/chat/completions",
                            headers => { 'X-Mock-SSE' => 4, 'Content-Type' => 'application/json' },
                            body => $main::CHAT);
Test::More::like($direct->{body}, qr/data: \[DONE\]\n\n\z/, 'the backend stream');
for my $path ('/olla/proxy/v1/chat/completions', '/olla/dmr/engines/v1/chat/completions',
              '/idle/proxy/v1/chat/completions') {
    my $tag = "ok$path";
    $tag =~ s{/}{-}g;
    my $r = main::post($path, $tag, $main::CHAT, 'X-Mock-SSE' => 4, 'X-Mock-Interval' => 0.1);
    Test::More::is($r->{status}, 200, "$path: status");
    Test::More::ok($r->{body} eq $direct->{body}, "$path: byte for byte")
        or Test::More::diag($r->{body});
    Test::More::like(main::logged($tag), qr/ end=complete$/, "$path: complete");
}
--- no_error_log
[error]
[warn]



=== TEST 2: OpenAI passthrough cut by the backend (proxy and provider routes): an error event ends it; end=backend_cut
--- init
for my $path ('/olla/proxy/v1/chat/completions', '/olla/dmr/engines/v1/chat/completions') {
    my $tag = "cut$path";
    $tag =~ s{/}{-}g;
    my $r = main::post($path, $tag, $main::CHAT, 'X-Mock-SSE' => 5, 'X-Mock-Cut' => 2);
    Test::More::is($r->{status}, 200, "$path: status");
    Test::More::like($r->{body}, qr/\A(?:data: \{"id":"chatcmpl-ollamock"[^\n]*\n\n){2}data: \{"error"/,
                     "$path: the two events, then the error");
    Test::More::like($r->{body}, main::openai_cut('dmr'), "$path: the error event ends it");
    Test::More::unlike($r->{body}, qr/\[DONE\]/, "$path: no [DONE]");
    Test::More::like(main::logged($tag), qr/ status=200 ep=dmr end=backend_cut$/, "$path: backend_cut");
}
# a connection reset (RST) instead of a close
my $r = main::post('/olla/proxy/v1/chat/completions', 'reset', $main::CHAT,
                   'X-Mock-SSE' => 5, 'X-Mock-Cut' => 2, 'X-Mock-Cut-Reset' => 1);
Test::More::like($r->{body}, main::openai_cut('dmr'), 'reset: the error event ends it');
Test::More::like(main::logged('reset'), qr/ end=backend_cut$/, 'reset: backend_cut');
--- error_log eval
[qr/upstream prematurely closed connection/, qr/recv\(\) failed \(104: Connection reset by peer\)/]



=== TEST 3: a stream that ends cleanly without [DONE] or finish_reason gets the error event before its end
--- init
my $r = main::post('/olla/proxy/v1/chat/completions', 'nodone', $main::CHAT,
                   'X-Mock-Replay' => 't/data/stream-end/no-done.sse');
Test::More::is($r->{status}, 200, 'status');
Test::More::like($r->{body}, qr/"content":"lo"[^\n]*\n+data: \{"error"/, 'after the last event');
Test::More::like($r->{body}, main::openai_cut('dmr'), 'the error event ends it');
Test::More::like(main::logged('nodone'), qr/ end=backend_cut$/, 'backend_cut');
--- error_log
ended a stream without its end marker
--- no_error_log
[error]



=== TEST 4: a cut within a line, or after one: the line and the event end first, so the error event is one of its own
--- init
# the first event is 181 bytes: cut within its JSON, after its first
# newline, and on the event's end
for my $case ([100, qr/\A[^\n]*"model":"ai\/sm\n\ndata: \{"error"/],
              [180, qr/\A[^\n]*\}\]\}\n\ndata: \{"error"/],
              [181, qr/\A[^\n]*\}\]\}\n\ndata: \{"error"/]) {
    my ($n, $re) = @$case;
    my $r = main::post('/olla/proxy/v1/chat/completions', "bytes$n", $main::CHAT,
                       'X-Mock-SSE' => 3, 'X-Mock-Cut-Bytes' => $n);
    Test::More::like($r->{body}, $re, "cut after $n bytes: a new event");
    Test::More::like($r->{body}, main::openai_cut('dmr'), "cut after $n bytes: the error event ends it");
}
my $r = main::post('/o/ollama/api/chat', 'ndbytes', $main::OLL,
                   'X-Mock-Replay' => 't/data/usage/ollama-chat.ndjson', 'X-Mock-Lines' => 1,
                   'X-Mock-Cut-Bytes' => 20);
Test::More::like($r->{body}, qr/\A\{"model":"llama3\.2:l\n\{"error":"[^\n]+"\}\n\z/, 'NDJSON: a line of its own');
--- error_log
upstream prematurely closed connection



=== TEST 5: the backend's own error event is not doubled
--- init
my $r = main::post('/olla/proxy/v1/chat/completions', 'ownerr', $main::CHAT,
                   'X-Mock-Replay' => 't/data/stream-end/backend-error.sse');
Test::More::like($r->{body}, qr/data: \{"error":\{"message":"the model crashed"[^\n]*\}\}\n+\z/,
                 "the backend's error ends the stream");
Test::More::is(scalar(() = $r->{body} =~ /"error"/g), 1, 'one error event');
Test::More::like(main::logged('ownerr'), qr/ end=backend_cut$/, 'not complete');
--- no_error_log
[error]
[warn]



=== TEST 6: silent past the stream idle timeout (1s) after the first event: the error event at 1s, end=idle_timeout
--- init
my $t0 = time;
my $r = main::post('/idle/proxy/v1/chat/completions', 'idle', $main::CHAT,
                   'X-Mock-SSE' => 3, 'X-Mock-Interval' => 4);
my $took = time - $t0;
Test::More::like($r->{body}, qr/\Adata: \{"id":"chatcmpl-ollamock"[^\n]*"tok0"[^\n]*\n\ndata: \{"error"/,
                 'the first event, then the error');
Test::More::like($r->{body},
    qr{data: \{"error":\{"message":"endpoint \\"dmr\\" sent nothing for 1s \(the stream idle timeout\): the response is incomplete","type":"server_error","param":null,"code":"stream_idle_timeout","request_id":"[0-9a-f]{32}"\}\}\n\n\z},
    'the idle event ends it');
Test::More::ok($took >= 0.9 && $took < 3.5, sprintf('ended by the idle timeout, not the backend (%.2fs)', $took));
Test::More::like(main::logged('idle'), qr/ status=200 ep=dmr end=idle_timeout$/, 'idle_timeout');
--- error_log
upstream timed out
--- timeout: 20



=== TEST 7: a slow first byte (2s, before or after the header) within the read timeout is no idle stream
--- init
my $r = main::post('/idle/proxy/v1/chat/completions', 'slowhead', $main::CHAT,
                   'X-Mock-SSE' => 2, 'X-Mock-Delay' => 2);
Test::More::like($r->{body}, qr/data: \[DONE\]\n\n\z/, 'slow header: complete');
Test::More::like(main::logged('slowhead'), qr/ end=complete$/, 'slow header: end=complete');
$r = main::post('/idle/proxy/v1/chat/completions', 'slowfirst', $main::CHAT,
                'X-Mock-SSE' => 2, 'X-Mock-First-Delay' => 2);
Test::More::like($r->{body}, qr/\Adata: [^\n]*"tok0".*data: \[DONE\]\n\n\z/s, 'slow first event: complete');
Test::More::unlike($r->{body}, qr/"error"/, 'no error event');
Test::More::like(main::logged('slowfirst'), qr/ end=complete$/, 'slow first event: end=complete');
--- no_error_log
[error]
[warn]
--- timeout: 20



=== TEST 8: Anthropic passthrough (DMR): complete byte for byte; cut: Anthropic's error event, never message_stop
--- init
my $port = $ENV{TEST_NGINX_MOCK_PORT_1};
my $file = 't/data/stream-end/anthropic.sse';
my $direct = OllaTest::http(POST => "http://127.0.0.1:$port/anthropic/v1/messages",
                            headers => { 'X-Mock-Replay' => $file }, body => $main::MSG);
my $r = main::post('/olla/anthropic/v1/messages', 'anth', $main::MSG, 'X-Mock-Replay' => $file);
Test::More::is($r->{headers}{'x-olla-mode'}, 'passthrough', 'passthrough');
Test::More::ok($r->{body} eq $direct->{body}, 'complete: byte for byte') or Test::More::diag($r->{body});
Test::More::like(main::logged('anth'), qr/ end=complete$/, 'complete');
$r = main::post('/olla/anthropic/v1/messages', 'anthcut', $main::MSG,
                'X-Mock-Replay' => $file, 'X-Mock-Cut' => 3);
Test::More::like($r->{body}, qr/"text":"Hello"\}\}\n\nevent: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"endpoint \\"dmr\\" ended the stream before the response was complete"\},"request_id":"[0-9a-f]{32}"\}\n\n\z/,
                 "cut: Anthropic's error event ends it");
Test::More::unlike($r->{body}, qr/message_stop/, 'cut: no message_stop');
Test::More::like(main::logged('anthcut'), qr/ end=backend_cut$/, 'backend_cut');
--- error_log
upstream prematurely closed connection



=== TEST 9: the Responses API passed through to DMR: response.failed with the response's id and the next sequence number; before response.created, the error event
--- init
my $file = 't/data/stream-end/responses.sse';
my $r = main::post('/olla/proxy/v1/responses', 'resp', $main::RESP, 'X-Mock-Replay' => $file);
Test::More::like($r->{body}, qr/event: response\.completed\n[^\n]*\n+\z/, 'complete');
Test::More::like(main::logged('resp'), qr/ end=complete$/, 'complete');
$r = main::post('/olla/proxy/v1/responses', 'respcut', $main::RESP,
                'X-Mock-Replay' => $file, 'X-Mock-Cut' => 4);
Test::More::like($r->{body}, qr/"delta":"lo"\}\n\nevent: response\.failed\ndata: \{"type":"response\.failed","sequence_number":4,"response":\{"id":"resp_0123abc","object":"response","created_at":\d+,"status":"failed","error":\{"code":"server_error","message":"endpoint \\"dmr\\" ended the stream before the response was complete"\},"incomplete_details":null,"model":"ai\/smollm2","output":\[\]\}\}\n\n\z/,
                 'cut: response.failed');
$r = main::post('/olla/dmr/engines/v1/responses', 'respcut0', $main::RESP,
                'X-Mock-Replay' => $file, 'X-Mock-Cut' => 0);
Test::More::like($r->{body}, qr/\Aevent: error\ndata: \{"type":"error","code":"stream_interrupted","message":"endpoint \\"dmr\\" ended the stream before the response was complete","param":null,"sequence_number":0,"error":\{"type":"server_error","code":"stream_interrupted","message":"(?:[^"\\]|\\.)+","param":null\}\}\n\n\z/,
                 'cut before any event: the error event');
Test::More::like(main::logged('respcut0'), qr/ end=backend_cut$/, 'backend_cut');
--- error_log
upstream prematurely closed connection



=== TEST 10: Ollama's NDJSON cut: an error line, as Ollama writes one
--- init
my $r = main::post('/o/ollama/api/chat', 'ndjson', $main::OLL,
                   'X-Mock-Replay' => 't/data/usage/ollama-chat.ndjson', 'X-Mock-Lines' => 1,
                   'X-Mock-Cut' => 2);
Test::More::like($r->{body}, qr/"content":"!"\},"done":false\}\n\{"error":"endpoint \\"oll\\" ended the stream before the response was complete"\}\n\z/,
                 'the error line ends it');
Test::More::like(main::logged('ndjson'), qr/ ep=oll end=backend_cut$/, 'backend_cut');
$r = main::post('/o/ollama/api/chat', 'ndjsonok', $main::OLL,
                'X-Mock-Replay' => 't/data/usage/ollama-chat.ndjson', 'X-Mock-Lines' => 1);
Test::More::like($r->{body}, qr/"done":true[^\n]*\n\z/, 'complete: untouched');
Test::More::like(main::logged('ndjsonok'), qr/ end=complete$/, 'complete');
--- error_log
upstream prematurely closed connection



=== TEST 11: a translated stream (Anthropic from an OpenAI backend) idle past the timeout: the translator's error event, end=idle_timeout
--- init
my $r = main::post('/tr/anthropic/v1/messages', 'tridle', $main::MSG,
                   'X-Mock-SSE' => 3, 'X-Mock-Interval' => 4);
Test::More::is($r->{headers}{'x-olla-mode'}, 'translation', 'translation');
Test::More::like($r->{body}, qr/event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"[^"]+"\}\}\n\n\z/,
                 "Anthropic's error event ends it");
Test::More::unlike($r->{body}, qr/message_stop/, 'no message_stop');
Test::More::like(main::logged('tridle'), qr/ ep=oai end=idle_timeout$/, 'idle_timeout');
--- error_log
upstream timed out
--- timeout: 20



=== TEST 12: olla_stream_idle_timeout off: the read timeout alone (the stream with 1.5s gaps completes)
--- config
    access_log logs/end.log end;
    olla_stream_idle_timeout 1s;
    location /olla/ { olla_stream_idle_timeout off; olla_route dmr; proxy_pass http://dmr; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
--- init
my $r = main::post('/olla/proxy/v1/chat/completions', 'off', $main::CHAT,
                   'X-Mock-SSE' => 2, 'X-Mock-Interval' => 1.5);
Test::More::like($r->{body}, qr/data: \[DONE\]\n\n\z/, 'complete');
Test::More::like(main::logged('off'), qr/ end=complete$/, 'complete');
--- request
GET /olla/proxy/v1/models
--- no_error_log
[error]
--- timeout: 20



=== TEST 13: olla_stream_idle_timeout: an invalid value
--- config
    location /olla/ { olla_stream_idle_timeout soon; olla_route dmr; proxy_pass http://dmr; }
--- must_die
--- error_log eval
qr/"olla_stream_idle_timeout": invalid value "soon": a time such as 30s or 2m, or off in .*nginx\.conf:\d+/



=== TEST 14: olla_stream_idle_timeout: out of range
--- config
    location /olla/ { olla_stream_idle_timeout 500ms; olla_route dmr; proxy_pass http://dmr; }
--- must_die
--- error_log eval
qr/"olla_stream_idle_timeout" must be between 1s and 24h \(or off\), not "500ms" in .*nginx\.conf:\d+/



=== TEST 15: olla_stream_idle_timeout: duplicate
--- config
    location /olla/ { olla_stream_idle_timeout 5s; olla_stream_idle_timeout 6s; olla_route dmr; proxy_pass http://dmr; }
--- must_die
--- error_log eval
qr/"olla_stream_idle_timeout" directive is duplicate in .*nginx\.conf:\d+/
