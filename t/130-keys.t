# Client keys (issue 14): "olla_api_keys FILE | off" on the olla_route
# locations.  The right key, as "Authorization: Bearer" or as
# "x-api-key", is let in and named in $olla_key_name; a missing, unknown
# or malformed one is a 401 in the route's dialect (OpenAI on /olla/proxy,
# Anthropic on /olla/anthropic) with WWW-Authenticate, and never reaches
# the backend; the backend never sees the client's key (the OllaMock echo
# and its request log show what it got); olla_status locations are not
# covered; "off" and inheritance; "satisfy any"; every mistake in the file
# stops "nginx -t" with the file and line; a reload reads the file again.
#
# Every check of a log line waits for the request's access log line.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaMock;
use OllaTest;
use JSON::PP;
use Digest::SHA qw(sha256_hex);

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

OllaMock::start(names => ['dmr']);

master_on();
workers(1);
no_shuffle();

our %KEY = (
    alice => 'sk-olla-alice-5f2c9e0d41',
    bob   => 'bob.key.77Zq',
    carol => 'carol-after-reload-8812',
);

our $KEYFILE = "# the team\n"
             . "alice " . sha256_hex($KEY{alice}) . "\n"
             . "\n"
             . "bob\t" . uc(sha256_hex($KEY{bob})) . "   # upper-case hex\r\n";

our $CHAT = '{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}';
our $MSG = '{"model":"ai/smollm2","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}';

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s; }
    log_format keys 'tag=$http_x_tag status=$status key=$olla_key_name';
_EOC_
    }

    if (!defined $block->config) {
        $block->set_value("config", <<'_EOC_');
    access_log logs/keys.log keys;
    olla_api_keys ../html/keys;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params; }
    location /internal/ { olla_status; }
_EOC_
    }

    if (!defined $block->user_files && !defined $block->must_die) {
        $block->set_value("user_files", ">>> keys\n$main::KEYFILE");
    }
});

# the model the mock lists
{
    my $port = $ENV{TEST_NGINX_MOCK_PORT_1};
    OllaMock::set($port, models_body => '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model","created":1734000000,"owned_by":"docker"}]}');
}

# METHOD PATH tagged TAG with headers
sub req {
    my ($method, $path, $tag, $body, %h) = @_;
    return OllaTest::http($method => $path, timeout => 10,
                          headers => { 'Content-Type' => 'application/json',
                                       'X-Tag' => $tag, %h },
                          defined $body ? (body => $body) : ());
}

# the access log line of TAG, once written
sub logged {
    my ($tag) = @_;
    my $file = server_root() . '/logs/keys.log';
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

# what the backend received: its request log, decoded
sub backend_log {
    return OllaMock::requests_log($ENV{TEST_NGINX_MOCK_PORT_1}, 1000);
}

sub backend_saw {
    my ($tag) = @_;
    return grep { ($_->{headers}{'x-tag'} // '') eq $tag } @{ backend_log() };
}

# error.log lines holding S, but for nginx's own debug dump of the
# client's request headers ("http header: ..."), which the module cannot
# change
sub leaks {
    my ($s) = @_;
    open my $fh, '<', server_root() . '/logs/error.log' or return ();
    my @l = grep { index($_, $s) >= 0 && !/ http header: "/ } <$fh>;
    close $fh;
    return @l;
}

sub settled {
    OllaTest::wait_status_settled('/internal/status/endpoints')
        or die "the endpoint was not probed";
}

run_tests();

__DATA__

=== TEST 1: the right key as Authorization: Bearer: in, named in $olla_key_name, and the backend never sees it
--- init
main::settled();
my $r = main::req(POST => '/olla/proxy/v1/chat/completions', 'bearer-ok', $main::CHAT,
                  'Authorization' => "Bearer $main::KEY{alice}", 'Cookie' => 'c=1');
Test::More::is($r->{status}, 200, 'let in');
my $echo = JSON::PP::decode_json($r->{body});
Test::More::is($echo->{mock}, 'dmr', 'answered by the backend');
Test::More::ok(!exists $echo->{headers}{authorization}, 'no Authorization upstream');
Test::More::ok(!exists $echo->{headers}{cookie}, 'no Cookie upstream (olla_forward_credentials off)');
Test::More::is(main::logged('bearer-ok'), 'tag=bearer-ok status=200 key=alice', 'the log line');
my ($seen) = main::backend_saw('bearer-ok');
Test::More::ok($seen && !grep({ /authorization|x-api-key/i } keys %{ $seen->{headers} }),
               'the backend got the request without the key');
Test::More::ok(!grep({ index(JSON::PP::encode_json($_), $main::KEY{alice}) >= 0 } @{ main::backend_log() }),
               'the key is nowhere in what the backend got');
Test::More::is(join('', main::leaks($main::KEY{alice})), '', 'the key is in no log line of the module or the proxy');
--- request
GET /internal/status/endpoints
--- error_code: 200
--- no_error_log
[error]
[warn]



=== TEST 1b: the key's requests and tokens in Prometheus (olla_key_requests_total, olla_key_tokens_total)
--- init
main::settled();
for my $i (1 .. 2) {
    my $r = main::req(POST => '/olla/proxy/v1/chat/completions', "metrics-$i", $main::CHAT,
                      'Authorization' => "Bearer $main::KEY{alice}",
                      'X-Mock-Replay' => 't/data/usage/dmr-completion.json');
    Test::More::is($r->{status}, 200, "request $i");
}
my $r = main::req(POST => '/olla/proxy/v1/chat/completions', 'metrics-bob', $main::CHAT,
                  'x-api-key' => $main::KEY{bob}, 'X-Mock-Status' => 500);
main::logged('metrics-bob');
my $m;
OllaTest::wait_until(sub {
    $m = OllaTest::http(GET => '/internal/metrics')->{body};
    $m =~ /^olla_key_requests_total\{key="bob",status_class="5xx"\} 1$/m;
}) or Test::More::diag($m);
Test::More::like($m, qr/^olla_key_requests_total\{key="alice",status_class="2xx"\} 2$/m, "alice's requests");
Test::More::like($m, qr/^olla_key_tokens_total\{key="alice",kind="prompt"\} 42$/m, "alice's prompt tokens");
Test::More::like($m, qr/^olla_key_tokens_total\{key="alice",kind="completion"\} 14$/m, "alice's completion tokens");
Test::More::like($m, qr/^olla_key_requests_total\{key="bob",status_class="5xx"\} 1$/m, "bob's failure");
Test::More::unlike($m, qr/\Q$main::KEY{alice}\E|\Q$main::KEY{bob}\E/, 'no key in the metrics');
--- request
GET /internal/metrics
--- response_body_like: # TYPE olla_key_tokens_total counter
--- no_error_log
[error]



=== TEST 2: the right key as x-api-key, on both routes
--- init
main::settled();
my $r = main::req(POST => '/olla/proxy/v1/chat/completions', 'xkey-ok', $main::CHAT,
                  'x-api-key' => $main::KEY{bob});
Test::More::is($r->{status}, 200, 'let in');
my $echo = JSON::PP::decode_json($r->{body});
Test::More::ok(!exists $echo->{headers}{'x-api-key'}, 'no x-api-key upstream');
Test::More::is(main::logged('xkey-ok'), 'tag=xkey-ok status=200 key=bob', 'the log line');
$r = main::req(GET => '/olla/anthropic/v1/models', 'anth-ok', undef,
               'x-api-key' => $main::KEY{alice}, 'anthropic-version' => '2023-06-01');
Test::More::is($r->{status}, 200, 'Anthropic route: let in');
Test::More::like($r->{body}, qr/smollm2/, 'the model list');
Test::More::is(main::logged('anth-ok'), 'tag=anth-ok status=200 key=alice', 'the log line');
$r = main::req(POST => '/olla/proxy/v1/chat/completions', 'both', $main::CHAT,
               'Authorization' => "bearer   $main::KEY{bob}  ", 'x-api-key' => 'not-a-key');
Test::More::is($r->{status}, 200, 'Bearer (any case, blanks) is taken before x-api-key');
Test::More::is(main::logged('both'), 'tag=both status=200 key=bob', 'the log line');
Test::More::is(join('', main::leaks($main::KEY{bob}), main::leaks('not-a-key')), '', 'no key in the logs');
--- request
GET /internal/status/endpoints
--- error_code: 200
--- no_error_log
[error]



=== TEST 3: an unknown key on the OpenAI route: 401 invalid_api_key, WWW-Authenticate, nothing upstream
--- init
main::settled();
--- request
POST /olla/proxy/v1/chat/completions
{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}
--- more_headers
Authorization: Bearer sk-wrong-key-123
X-Tag: wrong-openai
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer error="invalid_token"
--- response_body_like: ^\{"error":\{"message":"invalid API key","type":"invalid_request_error","param":null,"code":"invalid_api_key","request_id":"[0-9a-f]{32}"\}\}$
--- no_error_log
[error]



=== TEST 4: no key: 401 with OpenAI's code null and a bare WWW-Authenticate: Bearer
--- init
main::settled();
--- request
POST /olla/proxy/v1/chat/completions
{"model":"ai/smollm2","messages":[{"role":"user","content":"hi"}]}
--- more_headers
X-Tag: none-openai
--- error_code: 401
--- response_headers
Content-Type: application/json
WWW-Authenticate: Bearer
--- response_body_like: ^\{"error":\{"message":"no API key: send \\"Authorization: Bearer KEY\\" or \\"x-api-key: KEY\\"","type":"invalid_request_error","param":null,"code":null,"request_id":"[0-9a-f]{32}"\}\}$
--- error_log
olla: no client key, refused
--- no_error_log
[error]



=== TEST 5: a malformed Authorization (another scheme, an empty Bearer): 401 saying how to send a key
--- init
main::settled();
--- request eval
["POST /olla/proxy/v1/chat/completions\n$main::CHAT", "POST /olla/proxy/v1/chat/completions\n$main::CHAT", "GET /olla/proxy/v1/models"]
--- more_headers eval
["Authorization: Basic YWxpY2U6c2VjcmV0\nX-Tag: basic", "Authorization: Bearer \nX-Tag: empty-bearer", "x-api-key: two words\nX-Tag: spaced"]
--- error_code eval
[401, 401, 401]
--- response_headers eval
[("WWW-Authenticate: Bearer error=\"invalid_request\"") x 3]
--- response_body_like eval
[(qr/^\{"error":\{"message":"no API key in the Authorization or x-api-key header: send \\"Authorization: Bearer KEY\\" or \\"x-api-key: KEY\\"","type":"invalid_request_error","param":null,"code":"invalid_api_key","request_id":"[0-9a-f]{32}"\}\}$/) x 3]
--- no_error_log
[error]



=== TEST 6: the Anthropic route refuses in Anthropic's shape: authentication_error
--- init
main::settled();
--- request eval
["POST /olla/anthropic/v1/messages\n$main::MSG", "POST /olla/anthropic/v1/messages\n$main::MSG", "GET /olla/anthropic/v1/models"]
--- more_headers eval
["x-api-key: sk-ant-wrong\nanthropic-version: 2023-06-01\nX-Tag: anth-wrong", "anthropic-version: 2023-06-01\nX-Tag: anth-none", "Authorization: Bearer sk-ant-wrong-2\nX-Tag: anth-wrong-bearer"]
--- error_code eval
[401, 401, 401]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json", "Content-Type: application/json"]
--- response_body_like eval
[qr/^\{"type":"error","error":\{"type":"authentication_error","message":"invalid API key"\},"request_id":"[0-9a-f]{32}"\}$/,
 qr/^\{"type":"error","error":\{"type":"authentication_error","message":"no API key: send \\"Authorization: Bearer KEY\\" or \\"x-api-key: KEY\\""\},"request_id":"[0-9a-f]{32}"\}$/,
 qr/^\{"type":"error","error":\{"type":"authentication_error","message":"invalid API key"\},"request_id":"[0-9a-f]{32}"\}$/]
--- no_error_log
[error]



=== TEST 7: refused requests never reached the backend, and were logged with no key name
--- init
main::settled();
for my $t (qw(wrong-openai none-openai basic empty-bearer spaced anth-wrong anth-none anth-wrong-bearer)) {
    Test::More::is(scalar(main::backend_saw($t)), 0, "$t: nothing upstream");
}
my $r = main::req(POST => '/olla/proxy/v1/chat/completions', 'refused-log', $main::CHAT,
                  'Authorization' => 'Bearer nope');
Test::More::is($r->{status}, 401, 'refused');
Test::More::is(main::logged('refused-log'), 'tag=refused-log status=401 key=-', 'the log line');
Test::More::is(scalar(main::backend_saw('refused-log')), 0, 'nothing upstream');
$r = main::req(POST => '/olla/anthropic/v1/messages', 'refused-anth', $main::MSG,
               'x-api-key' => 'sk-ant-wrong-77');
Test::More::is($r->{status}, 401, 'refused');
Test::More::is(main::logged('refused-anth'), 'tag=refused-anth status=401 key=-', 'the log line');
Test::More::is(join('', main::leaks('nope'), main::leaks('sk-ant-wrong-77')), '',
               'a refused key is in no log line of the module');
Test::More::ok(scalar(grep { / olla: unknown client key, refused/ } do {
                   open my $fh, '<', main::server_root() . '/logs/error.log'; <$fh> }),
               'the refusal is logged, without the key');
--- request
GET /internal/status/endpoints
--- error_code: 200
--- no_error_log
[error]



=== TEST 8: olla_status locations are not covered; the model lists an Olla route answers itself are
--- init
main::settled();
--- request eval
["GET /internal/status/endpoints", "GET /internal/status", "GET /olla/proxy/v1/models"]
--- error_code eval
[200, 200, 401]
--- no_error_log
[error]



=== TEST 9: olla_forward_credentials on still keeps the client's key, not its cookie; proxy_set_header gives the backend its own credentials
--- config
    access_log logs/keys.log keys;
    olla_api_keys ../html/keys;
    olla_forward_credentials on;
    location /olla/ {
        olla_route dmr; proxy_pass http://dmr;
        include $TEST_NGINX_OLLA_ROOT/conf.examples/olla_proxy_params;
        proxy_set_header Authorization "Bearer backend-secret";
    }
    location /internal/ { olla_status; }
--- init
main::settled();
my $r = main::req(POST => '/olla/proxy/v1/chat/completions', 'fwd', $main::CHAT,
                  'Authorization' => "Bearer $main::KEY{alice}", 'Cookie' => 'c=1',
                  'x-api-key' => 'ignored-second-key');
Test::More::is($r->{status}, 200, 'let in');
my $echo = JSON::PP::decode_json($r->{body});
Test::More::is($echo->{headers}{authorization}, 'Bearer backend-secret', "the backend's own credentials");
Test::More::ok(!exists $echo->{headers}{'x-api-key'}, 'no x-api-key upstream');
Test::More::is($echo->{headers}{cookie}, 'c=1', 'the cookie is forwarded');
Test::More::is(main::logged('fwd'), 'tag=fwd status=200 key=alice', 'the log line');
--- request
GET /internal/status/endpoints
--- error_code: 200
--- no_error_log
[error]



=== TEST 10: inherited from http{}, "off" in a nested location
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream dmr { olla_endpoint http://127.0.0.1:$TEST_NGINX_MOCK_PORT_1 name=dmr check_interval=30s check_timeout=2s; }
    log_format keys 'tag=$http_x_tag status=$status key=$olla_key_name';
    olla_api_keys ../html/keys;
--- config
    access_log logs/keys.log keys;
    location /olla/ {
        olla_route dmr; proxy_pass http://dmr;
        location /olla/open/ { olla_route dmr; proxy_pass http://dmr; olla_api_keys off; }
    }
    location /internal/ { olla_status; }
--- init
main::settled();
my $r = main::req(POST => '/olla/proxy/v1/chat/completions', 'inherited', $main::CHAT);
Test::More::is($r->{status}, 401, 'inherited from http{}: refused without a key');
$r = main::req(POST => '/olla/open/proxy/v1/chat/completions', 'open', $main::CHAT,
               'Authorization' => 'Bearer anything-goes');
Test::More::is($r->{status}, 200, 'off: in without a key');
my $echo = JSON::PP::decode_json($r->{body});
Test::More::is($echo->{uri}, '/engines/v1/chat/completions', 'routed');
Test::More::ok(!exists $echo->{headers}{authorization}, 'the Authorization stays here (olla_forward_credentials off)');
Test::More::is(main::logged('open'), 'tag=open status=200 key=-', 'no key name');
--- request
GET /internal/status/endpoints
--- error_code: 200
--- no_error_log
[error]



=== TEST 11: "satisfy any": an allowed address needs no key, a key is still named
--- config
    access_log logs/keys.log keys;
    olla_api_keys ../html/keys;
    location /olla/ {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        olla_route dmr; proxy_pass http://dmr;
    }
    location /deny/ {
        satisfy any;
        deny all;
        olla_route dmr; proxy_pass http://dmr;
    }
    location /internal/ { olla_status; }
--- init
main::settled();
my $r = main::req(POST => '/olla/proxy/v1/chat/completions', 'any-nokey', $main::CHAT);
Test::More::is($r->{status}, 200, 'allowed without a key');
Test::More::ok(!exists $r->{headers}{'www-authenticate'}, 'no WWW-Authenticate on the answer');
Test::More::is(main::logged('any-nokey'), 'tag=any-nokey status=200 key=-', 'no key name');
$r = main::req(POST => '/olla/proxy/v1/chat/completions', 'any-key', $main::CHAT,
               'x-api-key' => $main::KEY{bob});
Test::More::is($r->{status}, 200, 'with a key');
Test::More::is(main::logged('any-key'), 'tag=any-key status=200 key=bob', 'the name');
$r = main::req(POST => '/deny/proxy/v1/chat/completions', 'deny-nokey', $main::CHAT);
Test::More::is($r->{status}, 401, 'denied address, no key: the key\'s 401');
Test::More::like($r->{body}, qr/"code":null/, 'in JSON');
$r = main::req(POST => '/deny/proxy/v1/chat/completions', 'deny-key', $main::CHAT,
               'x-api-key' => $main::KEY{alice});
Test::More::is($r->{status}, 200, 'denied address, right key: in');
--- request
GET /internal/status/endpoints
--- error_code: 200
--- no_error_log
[error]



=== TEST 12: a file without keys: a warning at nginx -t, then nobody gets in
--- user_files
>>> keys
# nobody yet
--- init
main::settled();
--- request
GET /olla/proxy/v1/models
--- more_headers
Authorization: Bearer anything
--- error_code: 401
--- error_log eval
qr{\[warn\] .*olla_api_keys: \S+/conf/\.\./html/keys has no keys: every request to the Olla routes that use it is refused in \S+nginx\.conf:\d+}
--- no_error_log
[error]



=== TEST 13: a missing file; a relative name is under the configuration's directory
--- config
    olla_api_keys keys.missing;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- must_die
--- error_log eval
qr{olla_api_keys: cannot open "\S+/conf/keys\.missing" \(2: No such file or directory\) in \S+nginx\.conf:\d+}



=== TEST 14: the file holds a key instead of its hash
--- config
    olla_api_keys ../html/keys;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- user_files
>>> keys
# ok so far
alice sk-olla-alice-5f2c9e0d41
--- must_die
--- error_log eval
qr{olla_api_keys: \S+/html/keys:2: the hash of "alice" has 's', not a hex digit, at 1 \(the file holds the SHA-256 of each key, not the key\) in \S+nginx\.conf:\d+}



=== TEST 15: a hash of the wrong length
--- config
    olla_api_keys ../html/keys;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- user_files
>>> keys
alice ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a
--- must_die
--- error_log eval
qr{olla_api_keys: \S+/html/keys:1: the hash of "alice" has 63 hex digits, a SHA-256 has 64 }



=== TEST 16: sha256sum's "-" left on the line
--- config
    olla_api_keys ../html/keys;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- user_files
>>> keys
alice ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -
--- must_die
--- error_log eval
qr{olla_api_keys: \S+/html/keys:1: unexpected "-" after the hash of "alice" \(sha256sum's file name: keep the hex digits only\) in }



=== TEST 17: a duplicate name
--- config
    olla_api_keys ../html/keys;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- user_files
>>> keys
alice ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
bob e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
alice 0000000000000000000000000000000000000000000000000000000000000001
--- must_die
--- error_log eval
qr{olla_api_keys: \S+/html/keys:3: duplicate name "alice" \(line 1 has it\) in }



=== TEST 18: the same key twice under two names
--- config
    olla_api_keys ../html/keys;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- user_files
>>> keys
alice ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad

bob BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD
--- must_die
--- error_log eval
qr{olla_api_keys: \S+/html/keys:3: "bob" has the hash of "alice" \(line 1\): the same key twice in }



=== TEST 19: a name with no hash
--- config
    olla_api_keys ../html/keys;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- user_files
>>> keys
alice
--- must_die
--- error_log eval
qr{olla_api_keys: \S+/html/keys:1: "alice" has no hash: a line is NAME SHA256-HEX-OF-THE-KEY in }



=== TEST 20: a name with a character names may not have
--- config
    olla_api_keys ../html/keys;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- user_files
>>> keys
alice@home ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
--- must_die
--- error_log eval
qr{olla_api_keys: \S+/html/keys:1: the name "alice\@home" has a character other than A-Z a-z 0-9 \. _ - \(at 6\) in }



=== TEST 21: the directive twice in one place
--- config
    olla_api_keys ../html/keys;
    olla_api_keys off;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- user_files
>>> keys
--- must_die
--- error_log eval
qr{"olla_api_keys" directive is duplicate in \S+nginx\.conf:\d+}



=== TEST 22: a directory for a file
--- config
    olla_api_keys ../html;
    location /olla/ { olla_route dmr; proxy_pass http://dmr; }
--- must_die
--- error_log eval
qr{olla_api_keys: "\S+/html" is not a file in \S+nginx\.conf:\d+}



=== TEST 23: the file changed and nginx reloaded: the new key is in, the removed one out
--- init
main::settled();
my $r = main::req(POST => '/olla/proxy/v1/chat/completions', 'before', $main::CHAT,
                  'Authorization' => "Bearer $main::KEY{alice}");
Test::More::is($r->{status}, 200, 'alice before the reload');
$r = main::req(POST => '/olla/proxy/v1/chat/completions', 'carol-before', $main::CHAT,
               'Authorization' => "Bearer $main::KEY{carol}");
Test::More::is($r->{status}, 401, 'carol before the reload');
# alice goes, carol comes
open my $fh, '>', main::server_root() . '/html/keys' or die $!;
print $fh "bob " . Digest::SHA::sha256_hex($main::KEY{bob}) . "\n"
        . "carol " . Digest::SHA::sha256_hex($main::KEY{carol}) . "\n";
close $fh;
my $master = OllaTest::nginx_pid();
my %old = map { $_ => 1 } OllaTest::children_of($master);
kill 'HUP', $master;
OllaTest::wait_until(sub {
    my @now = OllaTest::children_of($master);
    return @now && !grep { $old{$_} } @now;
}, 10) or Test::More::diag("the old workers are still there after the reload");
$r = main::req(POST => '/olla/proxy/v1/chat/completions', 'carol-after', $main::CHAT,
               'Authorization' => "Bearer $main::KEY{carol}");
Test::More::is($r->{status}, 200, 'carol after the reload');
Test::More::is(main::logged('carol-after'), 'tag=carol-after status=200 key=carol', 'named');
$r = main::req(POST => '/olla/proxy/v1/chat/completions', 'alice-after', $main::CHAT,
               'Authorization' => "Bearer $main::KEY{alice}");
Test::More::is($r->{status}, 401, 'alice after the reload');
Test::More::like($r->{body}, qr/"code":"invalid_api_key"/, 'an unknown key now');
--- request
GET /internal/status/endpoints
--- error_code: 200
--- no_error_log
[error]
