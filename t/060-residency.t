# Inference-aware routing (SPEC 4, issue 11): residency from DMR's
# /engines/ps and Ollama's /api/ps, resident models first, conversation
# affinity, preload=, and every way a running-models answer can be bad.
#
# The endpoints are nginx server blocks shaped like DMR: a model list, a
# /engines/ps answer, and an echo of inference requests naming the
# endpoint.  $olla_route_reason is sent back in X-Reason.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaTest;
use JSON::PP;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

no_shuffle();

# "--- http_config" blocks below use these; the olla location and the
# status location are the same in every block
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

our $LIST = '{"object":"list","data":[{"id":"ai/smollm2:latest","object":"model","created":1,"owned_by":"docker"},{"id":"ai/tinyllama:latest","object":"model","created":2,"owned_by":"docker"}]}';

sub ps_entry {
    my ($model, %o) = @_;
    my $e = qq({"backend_name":"llama.cpp","model_name":"$model","mode":"completion","last_used":")
          . ($o{busy} || $o{loading} ? '0001-01-01T00:00:00Z' : '2026-12-07T10:00:00Z') . '"';
    $e .= ',"in_use":true' if $o{busy};
    $e .= ',"loading":true' if $o{loading};
    $e .= ',"keep_alive":"5m0s"' if $o{keep};
    return "$e}";
}

# a DMR-shaped endpoint on PORT named NAME whose /engines/ps answers PS
sub dmr {
    my ($port, $name, $ps) = @_;
    return <<"_EOS_";
    server {
        listen $port;
        location = /engines/v1/models { return 200 '$main::LIST'; }
        location = /engines/ps { return 200 '$ps'; }
        location / {
            default_type application/json;
            return 200 '{"mock":"$name","uri":"\$uri","preload":"\$http_x_preload_only"}';
        }
    }
_EOS_
}

sub status {
    my $r = OllaTest::http(GET => '/internal/status/endpoints');
    return decode_json($r->{body});
}

sub endpoint_of {
    my ($name) = @_;
    for my $e (@{ status()->{endpoints} }) {
        return $e if $e->{name} eq $name;
    }
    return undef;
}

# waits until every endpoint's residency is no longer "not read yet"
sub wait_residency {
    return OllaTest::wait_until(sub {
        my $s = eval { status() } or return 0;
        for my $e (@{ $s->{endpoints} }) {
            return 0 if $e->{status} eq 'unknown';
            return 0 if $e->{residency}{state} ne 'none'
                        && !$e->{residency}{checked};
        }
        return 1;
    }, 20);
}

# one chat completion: (endpoint, reason, status)
sub chat {
    my ($model, $messages, %h) = @_;
    my $body = defined $messages
        ? encode_json({ model => $model, messages => $messages })
        : encode_json({ model => $model });
    my $r = OllaTest::http(POST => '/olla/dmr/engines/v1/chat/completions',
                           body => $body, headers => \%h);
    my ($mock) = ($r->{body} // '') =~ /"mock":"([^"]+)"/;
    return ($mock // '', $r->{headers}{'x-reason'} // '', $r->{status});
}

sub user { return [{ role => 'user', content => $_[0] }] }

# three DMR endpoints a, b and c, each with ai/smollm2 loaded
sub three_resident {
    return "olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=a check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18602 name=b check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18603 name=c check_interval=30s check_timeout=2s;
}
" . dmr(18601, 'a', '[' . ps_entry('ai/smollm2') . ']')
  . dmr(18602, 'b', '[' . ps_entry('ai/smollm2') . ']')
  . dmr(18603, 'c', '[' . ps_entry('ai/smollm2') . ']');
}

run_tests();

__DATA__

=== TEST 1: a model resident on one endpoint goes there, never cold elsewhere; a cold model is loaded once
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=a check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18602 name=b check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18603 name=c check_interval=30s check_timeout=2s;
}
" . main::dmr(18601, 'a', '[]')
  . main::dmr(18602, 'b', '[' . main::ps_entry('smollm2') . ']')
  . main::dmr(18603, 'c', '[]')
--- init
main::wait_residency() or die "no residency read";
my @r = map { [ main::chat('ai/smollm2', undef) ] } 1 .. 6;
Test::More::is(join(',', map { $_->[0] } @r), 'b,b,b,b,b,b', 'the resident endpoint takes every request');
Test::More::is(join(',', map { $_->[1] } @r), join(',', ('resident') x 6), 'reason resident');
my @c = map { [ main::chat('ai/tinyllama', undef) ] } 1 .. 5;
Test::More::is($c[0][1], 'cold', 'a model loaded nowhere: cold');
Test::More::is(join(',', map { $_->[0] } @c), join(',', ($c[0][0]) x 5), 'then the endpoint loading it takes the rest');
Test::More::is(join(',', map { $_->[1] } @c[1 .. 4]), 'resident,resident,resident,resident', 'answered once: resident there');
my $b = main::endpoint_of('b');
Test::More::is($b->{residency}{state}, 'known', 'residency known');
Test::More::is($b->{residency}{models}[0]{model}, 'ai/smollm2:latest', 'listed by its normalised name');
Test::More::is($b->{residency}{models}[0]{source}, 'endpoint', 'from the endpoint');
Test::More::is($b->{decisions}{resident}, 6, 'decisions counted by reason');
--- request
GET /internal/status/models
--- response_body_like: "id":"ai/smollm2:latest".*"resident_on":\["b"\].*"id":"ai/tinyllama:latest"
--- no_error_log
[error]



=== TEST 2: the busy and loading states: resident and idle beats busy beats loading
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=a check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18602 name=b check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18603 name=c check_interval=30s check_timeout=2s;
}
" . main::dmr(18601, 'a', '[' . main::ps_entry('ai/smollm2', loading => 1) . ']')
  . main::dmr(18602, 'b', '[' . main::ps_entry('ai/smollm2', busy => 1) . ']')
  . main::dmr(18603, 'c', '[' . main::ps_entry('smollm2:latest', keep => 1) . ']')
--- init
main::wait_residency() or die "no residency read";
my @r = main::chat('ai/smollm2', undef);
Test::More::is("$r[0] $r[1]", 'c resident', 'resident and idle first');
my $a = main::endpoint_of('a');
Test::More::is($a->{residency}{models}[0]{state}, 'loading', 'a load in progress is shown');
my $b = main::endpoint_of('b');
Test::More::ok($b->{residency}{models}[0]{in_use}, 'in use is shown');
--- request
GET /internal/metrics
--- response_body_like: olla_endpoint_model_resident\{endpoint="a",type="docker-model-runner",upstream="models",model="ai/smollm2:latest",state="loading"\} 1\n.*olla_routing_decisions_total\{endpoint="c",type="docker-model-runner",upstream="models",model="ai/smollm2:latest",reason="resident"\} 1\n
--- no_error_log
[error]



=== TEST 3: conversation affinity: every turn of a conversation on one endpoint, conversations spread
--- http_config eval
main::three_resident()
--- init
main::wait_residency() or die "no residency read";
my (%where, $split, @reasons);
for my $c (1 .. 12) {
    my $sys = { role => 'system', content => 'You are a coding agent. ' x 20 };
    my @msgs = ($sys, { role => 'user', content => "task number $c: fix the bug" });
    my %seen;
    for my $turn (1 .. 4) {
        my ($ep, $reason) = main::chat('ai/smollm2', [@msgs]);
        $seen{$ep}++;
        push @reasons, $reason;
        push @msgs, { role => 'assistant', content => "answer $turn" },
                    { role => 'user', content => "more $turn" };
    }
    $split++ if keys %seen > 1;
    $where{(keys %seen)[0]}++;
}
Test::More::is($split // 0, 0, 'no conversation split across endpoints');
Test::More::ok(keys %where >= 2, 'conversations spread over the endpoints: ' . join(',', map { "$_=$where{$_}" } sort keys %where));
Test::More::is(scalar(grep { $_ eq 'affinity' } @reasons), 48, 'reason affinity');
my @s = map { (main::chat('ai/smollm2', main::user('q'), 'X-Olla-Session-ID' => $_))[0] } ('s1', 's1', 's2', 's2', 's1');
Test::More::is("$s[0]$s[1]$s[4]", $s[0] x 3, 'X-Olla-Session-ID keeps its endpoint');
Test::More::is($s[2], $s[3], 'another session too');
--- request
GET /internal/status/endpoints
--- response_body_like: "decisions":\{"resident":0,"affinity":\d+
--- no_error_log
[error]



=== TEST 4: affinity gives way to the bound: a hot conversation spills, and says so
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=a check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18602 name=b check_interval=30s check_timeout=2s;
}
server {
    listen 18601;
    location = /engines/v1/models { return 200 '$main::LIST'; }
    location = /engines/ps { return 200 '[" . main::ps_entry('ai/smollm2') . "]'; }
    location / { limit_rate 32; return 200 '{\"mock\":\"a\",\"pad\":\"................................\"}'; }
}
server {
    listen 18602;
    location = /engines/v1/models { return 200 '$main::LIST'; }
    location = /engines/ps { return 200 '[" . main::ps_entry('ai/smollm2') . "]'; }
    location / { limit_rate 32; return 200 '{\"mock\":\"b\",\"pad\":\"................................\"}'; }
}
"
--- init
main::wait_residency() or die "no residency read";
my $body = JSON::PP::encode_json({ model => 'ai/smollm2', messages => main::user('the same conversation') });
for my $i (1 .. 5) {
    OllaTest::background(POST => '/olla/dmr/engines/v1/chat/completions', body => $body);
    my $want = $i;
    OllaTest::wait_until(sub { my $n = 0; $n += $_->{in_flight} for @{ main::status()->{endpoints} }; $n >= $want }, 10)
        or die "request $i not in flight";
}
OllaTest::wait_until(sub { my $n = 0; $n += $_->{in_flight} for @{ main::status()->{endpoints} }; $n == 0 }, 20)
    or die "requests did not finish";
my (%d);
for my $e (@{ main::status()->{endpoints} }) { $d{$_} += $e->{decisions}{$_} for keys %{ $e->{decisions} } }
Test::More::is($d{affinity}, 4, "four in flight on its endpoint (llama-server's parallel slots: never over its share below them)");
Test::More::is($d{spill}, 1, 'the fifth spills (loads 4, 0: bound max(ceil(1.25 * 5 / 2), 4) = 4)');
--- request
GET /internal/status/endpoints
--- response_body_like: "spill":1
--- no_error_log
[error]
--- timeout: 30



=== TEST 5: running models that cannot be read: 404, HTML, not an array, too slow: residency unknown, the catalogue routes, one notice each
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=old check_interval=1s check_timeout=500ms;
    olla_endpoint http://127.0.0.1:18602 name=html check_interval=1s check_timeout=500ms;
    olla_endpoint http://127.0.0.1:18603 name=object check_interval=1s check_timeout=500ms;
    olla_endpoint http://127.0.0.1:18604 name=slow check_interval=1s check_timeout=500ms;
}
server { listen 18601; location = /engines/v1/models { return 200 '$main::LIST'; }
         location = /engines/ps { return 404 '404 page not found'; }
         location / { return 200 '{\"mock\":\"old\"}'; } }
server { listen 18602; location = /engines/v1/models { return 200 '$main::LIST'; }
         location = /engines/ps { return 200 '<html><body>hi</body></html>'; }
         location / { return 200 '{\"mock\":\"html\"}'; } }
server { listen 18603; location = /engines/v1/models { return 200 '$main::LIST'; }
         location = /engines/ps { return 200 '{\"models\":[]}'; }
         location / { return 200 '{\"mock\":\"object\"}'; } }
server { listen 18604; root html;
         location = /engines/v1/models { return 200 '$main::LIST'; }
         location = /engines/ps { limit_rate 8; try_files /ps.json =404; }
         location / { return 200 '{\"mock\":\"slow\"}'; } }
"
--- user_files
>>> ps.json
[{"backend_name":"llama.cpp","model_name":"ai/smollm2","mode":"completion","last_used":"2026-12-07T10:00:00Z"}]
--- init
OllaTest::wait_until(sub {
    my $s = main::status();
    return 4 == grep { $_->{residency}{state} eq 'unknown' && $_->{residency}{checked} && $_->{probes} >= 3 } @{ $s->{endpoints} };
}, 20) or die "residency not unknown everywhere";
my %reason = map { $_->{name} => $_->{residency}{reason} } @{ main::status()->{endpoints} };
Test::More::is($reason{old}, 'HTTP 404', 'an older DMR');
Test::More::like($reason{html}, qr/^invalid answer: not JSON/, 'garbage');
Test::More::is($reason{object}, 'invalid answer: not a JSON array', 'another shape');
Test::More::is($reason{slow}, 'timed out', 'slower than check_timeout');
my %seen = map { (main::chat('ai/smollm2', undef))[1] => 1 } 1 .. 4;
Test::More::is(join(',', sort keys %seen), 'fallback', 'routed by the catalogue');
Test::More::ok(main::endpoint_of('slow')->{status} eq 'healthy', 'health is not residency');
--- request
GET /olla/dmr/engines/v1/chat/completions
--- error_code: 200
--- grep_error_log eval: qr/endpoint "\w+" \(\S+\): its running models cannot be read/
--- grep_error_log_out eval
[qr/\A(?:endpoint "\w+" \(\S+\): its running models cannot be read\n){4}\z/]
--- no_error_log
[error]
--- timeout: 30



=== TEST 6: Ollama's /api/ps
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=o1 type=ollama check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18602 name=o2 type=ollama check_interval=30s check_timeout=2s;
}
server { listen 18601; location = /v1/models { return 200 '{\"object\":\"list\",\"data\":[{\"id\":\"llama3:latest\"}]}'; }
         location = /api/ps { return 200 '{\"models\":[]}'; }
         location / { return 200 '{\"mock\":\"o1\"}'; } }
server { listen 18602; location = /v1/models { return 200 '{\"object\":\"list\",\"data\":[{\"id\":\"llama3:latest\"}]}'; }
         location = /api/ps { return 200 '{\"models\":[{\"name\":\"llama3:latest\",\"model\":\"llama3:latest\",\"size\":5137025024,\"expires_at\":\"2026-12-07T10:05:00.1+01:00\",\"size_vram\":0}]}'; }
         location / { return 200 '{\"mock\":\"o2\"}'; } }
"
--- config
    location /olla/ { olla_route models; proxy_pass http://models; add_header X-Reason $olla_route_reason always; }
    location /internal/ { olla_status; }
--- init
main::wait_residency() or die "no residency read";
--- request eval
["POST /olla/proxy/v1/chat/completions\n{\"model\":\"llama3\"}", "POST /olla/proxy/v1/chat/completions\n{\"model\":\"llama3:latest\"}"]
--- response_body_like eval
[qr/"mock":"o2"/, qr/"mock":"o2"/]
--- response_headers eval
["X-Reason: resident", "X-Reason: resident"]
--- no_error_log
[error]



=== TEST 7: preload= loads a model neither resident nor loading, with DMR's X-Preload-Only, and not twice at a time
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=warm preload=smollm2,ai/tinyllama:latest check_interval=1s check_timeout=500ms;
}
server { listen 18601;
         location = /engines/v1/models { return 200 '$main::LIST'; }
         location = /engines/ps { return 200 '[" . main::ps_entry('ai/tinyllama') . "]'; }
         location = /engines/v1/chat/completions {
             if (\$http_x_preload_only = 'true') { return 200 ''; }
             return 200 '{\"mock\":\"warm\"}';
         }
}
"
--- init
OllaTest::wait_until(sub { main::endpoint_of('warm')->{preloads} >= 2 }, 15) or die "no preload";
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"warm"
--- grep_error_log eval: qr/olla: endpoint "warm"(?:: loading| loaded) model "[^"]+"/
--- grep_error_log_out eval
[qr/\Aolla: endpoint "warm": loading model "smollm2"\nolla: endpoint "warm" loaded model "smollm2"\n(?:olla: endpoint "warm"(?:: loading| loaded) model "smollm2"\n)*\z/]
--- no_error_log
[error]
--- timeout: 20



=== TEST 8: a preload that fails is logged and retried at most once an interval
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=bad preload=ai/gone check_interval=1s check_timeout=500ms;
}
server { listen 18601;
         location = /engines/v1/models { return 200 '$main::LIST'; }
         location = /engines/ps { return 200 '[]'; }
         location = /engines/v1/chat/completions { return 404 'model not found'; }
}
"
--- init
OllaTest::wait_until(sub { main::endpoint_of('bad')->{preloads} >= 2 }, 15) or die "no second try";
my $e = main::endpoint_of('bad');
Test::More::ok($e->{preloads} <= $e->{probes}, "at most one a probe ($e->{preloads} for $e->{probes})");
Test::More::is($e->{status}, 'healthy', 'still healthy');
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"bad"
--- grep_error_log eval: qr/did not load model "ai\/gone": HTTP 404/
--- grep_error_log_out eval
[qr/did not load model "ai\/gone": HTTP 404\n/]
--- no_error_log
[error]
--- timeout: 20



=== TEST 9: DMR's 503 "Loading model" is no failure of the endpoint: its circuit stays closed
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18601 name=loading check_interval=30s check_timeout=2s;
}
server { listen 18601;
         location = /engines/v1/models { return 200 '$main::LIST'; }
         location = /engines/ps { return 200 '[" . main::ps_entry('ai/smollm2', loading => 1) . "]'; }
         location / { default_type application/json;
                      return 503 '{\"error\":{\"message\":\"Loading model\",\"type\":\"unavailable_error\",\"code\":503}}'; }
}
"
--- init
main::wait_residency() or die "no residency read";
my @s = map { (main::chat('ai/smollm2', undef))[2] } 1 .. 7;
Test::More::is(join(',', @s), join(',', (503) x 7), 'the answer reaches the client');
--- request
GET /internal/status/endpoints
--- response_body_like: "circuit":"closed".*"failures":0
--- no_error_log
[error]



=== TEST 10: olla_resident_first off and olla_affinity off: the balancer alone (Olla's policy)
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_load_balancer round-robin;
    olla_resident_first off;
    olla_affinity off;
    olla_prewarm off;
    olla_endpoint http://127.0.0.1:18601 name=a check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18602 name=b check_interval=30s check_timeout=2s;
}
" . main::dmr(18601, 'a', '[]')
  . main::dmr(18602, 'b', '[' . main::ps_entry('smollm2') . ']')
--- init
main::wait_residency() or die "no residency read";
my @r = map { [ main::chat('ai/smollm2', main::user('same')) ] } 1 .. 4;
Test::More::is(join(',', map { $_->[0] } @r), 'a,b,a,b', 'round-robin, residency and affinity off');
Test::More::is(join(',', map { $_->[1] } @r), 'fallback,fallback,fallback,fallback', 'reason fallback');
--- request
GET /internal/status/endpoints
--- response_body_like: "residency":\{"state":"known"
--- no_error_log
[error]



=== TEST 11: the directives are checked: values, duplicates, context, preload= on a type that cannot load
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_affinity maybe;
        olla_endpoint http://127.0.0.1:18601 name=a;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- must_die
--- error_log
invalid value "maybe" in "olla_affinity" directive, it must be "on" or "off"



=== TEST 12: olla_resident_first twice
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_resident_first on;
        olla_resident_first off;
        olla_endpoint http://127.0.0.1:18601 name=a;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- must_die
--- error_log
"olla_resident_first" directive is duplicate



=== TEST 13: preload= needs a type that can tell what is loaded
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18601 name=llama type=openai-compatible preload=qwen3;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- must_die
--- error_log
endpoint "llama" has preload= but its type "openai-compatible" cannot tell which models are loaded



=== TEST 14: preload= takes names separated by commas, each once
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18601 name=a preload=ai/smollm2,,x;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- must_die
--- error_log
invalid "preload=ai/smollm2,,x": preload= takes model names of 1 to 111 characters separated by commas



=== TEST 15: preload= lists a model twice
--- http_config
    olla_profiles $TEST_NGINX_OLLA_ROOT/profiles;
    upstream models {
        olla_endpoint http://127.0.0.1:18601 name=a preload=smollm2,ai/smollm2:latest;
    }
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
--- must_die
--- error_log
invalid "preload=smollm2,ai/smollm2:latest": "ai/smollm2:latest" is listed twice



=== TEST 16: a conversation keeps its endpoint when its body grows past the length scanned as it arrives (16 KB): the same key both ways
--- http_config eval
main::three_resident()
--- init
main::wait_residency() or die "no residency read";
my (%where, $split, @reasons, @sizes);
for my $c (1 .. 9) {
    my $sys = { role => 'system', content => "You are agent $c. " . ('Read the \"code\" and fix it.\n' x 400) };
    my @msgs = ($sys, { role => 'user', content => "task number $c: fix the bug" });
    my %seen;
    for my $turn (1 .. 4) {
        push @sizes, length JSON::PP::encode_json({ model => 'ai/smollm2', messages => [@msgs] }) if $c == 1;
        my ($ep, $reason) = main::chat('ai/smollm2', [@msgs]);
        $seen{$ep}++;
        push @reasons, $reason;
        push @msgs, { role => 'assistant', content => "answer $turn " . ('x' x 2500) },
                    { role => 'user', content => "more $turn" };
    }
    $split++ if keys %seen > 1;
    $where{(keys %seen)[0]}++;
}
Test::More::ok($sizes[0] < 16384 && $sizes[3] > 16384, "turns below and above 16 KB: @sizes");
Test::More::is($split // 0, 0, 'no conversation split across endpoints');
Test::More::ok(keys %where >= 2, 'conversations spread over the endpoints: ' . join(',', map { "$_=$where{$_}" } sort keys %where));
Test::More::is(scalar(grep { $_ eq 'affinity' } @reasons), 36, 'reason affinity');
--- request
GET /internal/status/endpoints
--- response_body_like: "decisions":\{"resident":0,"affinity":\d+
--- no_error_log
[error]
