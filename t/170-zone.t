# The shared zone and the model lists (issue 15, part 4): lists are kept
# compactly; a list that does not fit in olla_zone is "not stored", a
# state of its own that status shows (with the bytes it needs and the zone
# size that would hold it), that is logged once per change and not per
# probe, and that never means "can serve any model": a request naming a
# model goes only to endpoints whose stored list has it, and a model no
# stored list has is a 404.  "nginx -t" warns when the zone leaves little
# room for lists.
#
# The backends are one nginx server listening on many ports: each port
# serves its own list from a file of this suite's temporary directory
# (list-PORT.json, rewritten to change it), answers /engines/ps with [],
# and answers anything else with its port, so X-Olla-Endpoint and the body
# say where a request went.

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use File::Temp qw(tempdir);
use lib 't/lib';
use OllaTest;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

my $Dir = tempdir(CLEANUP => 1);
$ENV{TEST_NGINX_ZONE_DIR} = $Dir;

# the ports of the backends: 19701, 19702, ...
sub port { 19700 + $_[0] }

# A list in DMR's shape: N models "ai/PREFIX-I:Q4_K_M" with the metadata
# DMR adds, then the extra ids given
sub dmr_list {
    my ($prefix, $n, @extra) = @_;
    my @items;
    for my $i (1 .. $n) {
        push @items, sprintf('{"id":"ai/%s-%d:Q4_K_M","object":"model",'
                             . '"created":%d,"owned_by":"docker","dmr":'
                             . '{"architecture":"llama","parameters":'
                             . '"%d.%02d B","quantization":"Q4_K_M",'
                             . '"size":"%d.%02d MiB"}}',
                             $prefix, $i, 1742816981 + $i, $i % 70, $i % 97,
                             $i * 3, $i % 89);
    }
    for my $id (@extra) {
        push @items, qq({"id":"$id","object":"model","created":1742816981,)
                     . q("owned_by":"docker"});
    }
    return '{"object":"list","data":[' . join(',', @items) . "]}\n";
}

# the list the backend on port P serves, replaced at once
sub write_list {
    my ($port, $json) = @_;
    open my $fh, '>', "$Dir/list-$port.json.tmp" or die $!;
    print $fh $json;
    close $fh;
    rename "$Dir/list-$port.json.tmp", "$Dir/list-$port.json" or die $!;
}

# the http_config of N endpoints e1..eN on the backends' ports, in a zone
sub endpoints_conf {
    my ($zone, $n) = @_;
    my $conf = "    olla_profiles \$TEST_NGINX_OLLA_ROOT/profiles;\n"
             . "    olla_zone $zone;\n"
             . "    upstream models {\n";
    # under valgrind (make test-valgrind) a list of thousands of models
    # takes seconds to read: the probes get the time, not a timeout
    my $check = $ENV{TEST_NGINX_OLLA_SLOW}
                ? 'check_interval=3s check_timeout=2900ms'
                : 'check_interval=1s check_timeout=900ms';
    for my $i (1 .. $n) {
        $conf .= "        olla_endpoint http://127.0.0.1:" . port($i)
               . " name=e$i $check;\n";
    }
    $conf .= "    }\n    server {\n";
    $conf .= "        listen 127.0.0.1:" . port($_) . ";\n" for 1 .. $n;
    $conf .= <<'EOF';
        default_type application/json;
        location = /engines/v1/models {
            alias $TEST_NGINX_ZONE_DIR/list-$server_port.json;
        }
        location = /engines/ps { return 200 '[]'; }
        location / { return 200 '{"port":$server_port}\n'; }
    }
EOF
    return $conf;
}

# POST a chat completion for MODEL through the gateway
sub chat {
    my ($model) = @_;
    return OllaTest::http(POST => '/olla/proxy/v1/chat/completions',
                          headers => { 'Content-Type' => 'application/json' },
                          body => qq({"model":"$model","messages":)
                                  . q([{"role":"user","content":"hi"}]}));
}

# the lines of this block's error.log that match RE
sub log_lines {
    my ($re) = @_;
    my $servroot = $ENV{TEST_NGINX_SERVROOT} || OllaTest::root() . '/t/servroot';
    open my $fh, '<', "$servroot/logs/error.log" or return ();
    my @l = grep { $_ =~ $re } <$fh>;
    close $fh;
    return @l;
}

our $NotFit = qr/olla: endpoint "[^"]+": its list of \d+ models \(\d+ bytes\) does not fit in olla_zone/;
our $Again = qr/olla: endpoint "[^"]+": its list of \d+ models is stored again/;

# until every endpoint named has had N probes more than it had
sub wait_probes {
    my ($n, @names) = @_;
    my %from = map { $_ => (OllaTest::endpoint($_) // {})->{probes} // 0 } @names;
    for my $name (@names) {
        OllaTest::wait_endpoint($name, sub { $_[0]{probes} >= $from{$name} + $n },
                                20, undef, "$n more probes") or return 0;
    }
    return 1;
}

# "nginx -t" with 100 endpoints in the default 1m: it says what to set
{
    my $module = $ENV{TEST_NGINX_OLLA_MODULE}
        || (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '')[-1];
    my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/logs";
    my $ups = join '', map { "olla_endpoint http://127.0.0.1:1 name=e$_;\n" } 1 .. 100;
    open my $out, '>', "$dir/nginx.conf" or die $!;
    print $out "load_module $module;\nerror_log $dir/logs/error.log;\n"
             . "pid $dir/nginx.pid;\nevents {}\nhttp {\n"
             . "olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;\n"
             . "upstream models {\n$ups}\n}\n";
    close $out;

    my $msg = `$nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
    Test::More::is($? >> 8, 0, "nginx -t passes with 100 endpoints in 1m")
        or Test::More::diag($msg);
    Test::More::like($msg, qr/\[warn\] olla_zone 1024k leaves \d+k for the model lists of 100 endpoints, some \d+ models each: .* olla_zone \d+k holds 64 models each/,
                     "nginx -t says the zone leaves little room for lists, and what to set")
        or Test::More::diag($msg);
    my ($want) = $msg =~ /olla_zone (\d+)k holds/;
    Test::More::ok($want && $want > 1024 && $want % 256 == 0, "a larger size, in steps of 256k ($want)");

    # and with that size, nothing to say
    $want //= 2048;
    open $out, '>', "$dir/nginx.conf" or die $!;
    print $out "load_module $module;\nerror_log $dir/logs/error.log;\n"
             . "pid $dir/nginx.pid;\nevents {}\nhttp {\n"
             . "olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;\n"
             . "olla_zone ${want}k;\nupstream models {\n$ups}\n}\n";
    close $out;
    $msg = `$nginx -t -p $dir -c $dir/nginx.conf 2>&1`;
    Test::More::is($? >> 8, 0, "nginx -t passes with olla_zone ${want}k");
    Test::More::unlike($msg, qr/olla_zone \d+k leaves/, "no warning at the size it named")
        or Test::More::diag($msg);
}

add_block_preprocessor(sub {
    my $block = shift;
    if (defined(my $code = $block->lists)) {
        eval "package main; $code; 1" or die "lists: $@";
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a list that does not fit is "not stored" in status, with the bytes it needs and the zone size that would hold it
--- lists
write_list(port(1), dmr_list('e1', 3000, 'ai/only-1', 'ai/shared'));
write_list(port(2), dmr_list('e2', 20, 'ai/only-2', 'ai/shared'));
write_list(port(3), dmr_list('e3', 20, 'ai/only-3'));
--- http_config eval
main::endpoints_conf('256k', 3)
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
my $st = OllaTest::status_json();
my %e = map { $_->{name} => $_ } @{ $st->{endpoints} };
Test::More::is($e{e1}{models_state}, 'not_stored', 'e1: not stored');
Test::More::is($e{e1}{status}, 'healthy', 'e1: healthy all the same');
Test::More::is($e{e1}{models_listed}, 3002, 'e1: 3002 models listed');
Test::More::is($e{e1}{model_count}, 0, 'e1: none stored');
Test::More::is_deeply($e{e1}{models}, [], 'e1: no model shown');
Test::More::ok($e{e1}{models_bytes} > 150000, "e1: the bytes it needs ($e{e1}{models_bytes})");
Test::More::like($e{e1}{models_reason}, qr/^olla_zone is full: the list needs \d+ bytes$/, 'e1: the reason');
Test::More::is($e{e1}{reason}, 'HTTP 200, 3002 models; list not stored: olla_zone is full', "e1: the probe's reason says it");
for my $n ('e2', 'e3') {
    Test::More::is($e{$n}{models_state}, 'stored', "$n: stored");
    Test::More::ok(!defined $e{$n}{models_reason}, "$n: no reason");
    Test::More::is($e{$n}{model_count}, $n eq 'e2' ? 22 : 21, "$n: every model stored");
    Test::More::ok($e{$n}{models_bytes} > 0 && $e{$n}{models_bytes} < 4096, "$n: its bytes ($e{$n}{models_bytes})");
}
Test::More::is($st->{zone}{size}, 262144, 'zone: its size');
Test::More::is($st->{zone}{lists_not_stored}, 1, 'zone: one list not stored');
Test::More::ok($st->{zone}{needed} > $st->{zone}{size} + $e{e1}{models_bytes} - $st->{zone}{free},
               "zone: the size needed ($st->{zone}{needed}) holds the list too");
Test::More::ok($st->{zone}{used} + $st->{zone}{free} <= $st->{zone}{size}, 'zone: used and free');
my $m = OllaTest::http(GET => '/internal/metrics')->{body};
Test::More::like($m, qr/^olla_endpoint_models_stored\{endpoint="e1",type="docker-model-runner",upstream="models"\} 0$/m, 'metrics: e1 not stored');
Test::More::like($m, qr/^olla_endpoint_models_stored\{endpoint="e2",type="docker-model-runner",upstream="models"\} 1$/m, 'metrics: e2 stored');
Test::More::like($m, qr/^olla_endpoint_models\{endpoint="e1",type="docker-model-runner",upstream="models"\} 0$/m, 'metrics: e1 has no model stored');
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"e1".*"models_state":"not_stored","models_reason":"olla_zone is full: the list needs \d+ bytes","models_listed":3002,"models_bytes":\d+,"models_shared":0,"probes":\d+\}.*"lists_not_stored":1\},"total":3,"upstreams":\[.*\]\}$
--- no_error_log
[alert]
[crit]



=== TEST 2: routing: a model goes only where a stored list has it; a model no stored list has is a 404 naming the zone
--- lists
write_list(port(1), dmr_list('e1', 3000, 'ai/only-1', map { "ai/shared-$_" } 1 .. 8));
write_list(port(2), dmr_list('e2', 20, 'ai/only-2', map { "ai/shared-$_" } 1 .. 8));
write_list(port(3), dmr_list('e3', 20, 'ai/only-3'));
--- http_config eval
main::endpoints_conf('256k', 3)
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
OllaTest::wait_endpoint('e1', sub { $_[0]{models_state} eq 'not_stored' });
# eight models both e1 and e2 list: e2 every time (were e1 a candidate,
# each first request would go to either, as the two are alike)
my %to;
for my $i (1 .. 8) {
    my $r = main::chat("ai/shared-$i");
    $to{ $r->{status} . ' ' . ($r->{headers}{'x-olla-endpoint'} // '-') }++;
}
Test::More::is_deeply(\%to, { '200 e2' => 8 }, 'ai/shared-N: e2, never e1 (its list is not stored)');
for my $i (2, 3) {
    my $r = main::chat("ai/only-$i");
    Test::More::is("$r->{status} " . ($r->{headers}{'x-olla-endpoint'} // '-'), "200 e$i", "ai/only-$i: to e$i");
    Test::More::like($r->{body}, qr/"port":${\ main::port($i)}/, "ai/only-$i: answered by its backend");
}
my $r = main::chat('ai/e2-7:Q4_K_M');
Test::More::is($r->{headers}{'x-olla-endpoint'}, 'e2', 'a model of e2 by its listed name');
--- request eval
[
 qq(POST /olla/proxy/v1/chat/completions\n{"model":"ai/only-1","messages":[{"role":"user","content":"hi"}]}),
 qq(POST /olla/proxy/v1/chat/completions\n{"model":"ai/nowhere","messages":[{"role":"user","content":"hi"}]}),
 qq(POST /olla/anthropic/v1/messages\n{"model":"ai/e1-5:Q4_K_M","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}),
 "GET /olla/models",
]
--- error_code eval
[404, 404, 404, 200]
--- response_body_like eval
[
 qr{^\{"error":\{"message":"model \\"ai/only-1:latest\\" is not available on any healthy endpoint whose model list is known \(endpoints whose model list does not fit in olla_zone: 1\)","type":"invalid_request_error","param":null,"code":"model_not_found"},
 qr{^\{"error":\{"message":"model \\"ai/nowhere:latest\\" is not available on any healthy endpoint whose model list is known \(endpoints whose model list does not fit in olla_zone: 1\)"},
 qr{^\{"type":"error","error":\{"type":"not_found_error","message":"model \\"ai/e1-5:q4_k_m\\" is not available},
 qr{^(?!.*"ai/only-1").*"id":"ai/only-2".*"id":"ai/only-3"}s,
]
--- no_error_log
[alert]
[crit]



=== TEST 3: not stored is logged once per change, not per probe; stored again, then not again
--- lists
write_list(port(1), dmr_list('e1', 3000, 'ai/only-1'));
write_list(port(2), dmr_list('e2', 20, 'ai/only-2'));
--- http_config eval
main::endpoints_conf('256k', 2)
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
main::wait_probes(3, 'e1');
Test::More::is(scalar(main::log_lines($main::NotFit)), 1, 'one line for the change, after 4 probes');
my @l = main::log_lines($main::NotFit);
Test::More::like($l[0], qr/\[error\] .*olla: endpoint "e1": its list of 3001 models \(\d+ bytes\) does not fit in olla_zone \(256k, \d+k free\), it is not stored, and requests naming a model do not go to this endpoint until it is; olla_zone needs at least \d+k for every endpoint's list/, 'the line: what, why, and the size needed');
my ($need) = $l[0] =~ /needs at least (\d+)k/;
my $st = OllaTest::status_json();
my ($e1) = grep { $_->{name} eq 'e1' } @{ $st->{endpoints} };
Test::More::ok($need * 1024 >= $st->{zone}{used} + $e1->{models_bytes},
               "the size needed holds what is used and the list (${need}k)");
Test::More::is(scalar(main::log_lines(qr/no room in olla_zone/)), 0, 'no per-probe line');

# a smaller list: stored again, said once at notice
main::write_list(main::port(1), main::dmr_list('e1', 20, 'ai/only-1'));
OllaTest::wait_endpoint('e1', sub { $_[0]{models_state} eq 'stored' });
my $r = main::chat('ai/only-1');
Test::More::is("$r->{status} " . ($r->{headers}{'x-olla-endpoint'} // '-'), '200 e1', 'stored: ai/only-1 goes to e1');
main::wait_probes(2, 'e1');
Test::More::is(scalar(main::log_lines($main::Again)), 1, 'stored again: one line');
Test::More::like((main::log_lines($main::Again))[0], qr/\[notice\] .*olla: endpoint "e1": its list of 21 models is stored again/, 'at notice');
Test::More::is(OllaTest::endpoint('e1')->{reason}, 'HTTP 200, 21 models', 'the reason is plain again');

# too large again: a second line, and no more
main::write_list(main::port(1), main::dmr_list('e1', 3000, 'ai/only-1'));
OllaTest::wait_endpoint('e1', sub { $_[0]{models_state} eq 'not_stored' });
main::wait_probes(2, 'e1');
Test::More::is(scalar(main::log_lines($main::NotFit)), 2, 'not stored again: a second line');
$r = main::chat('ai/only-1');
Test::More::is($r->{status}, 404, 'ai/only-1: 404 again');
--- request
GET /internal/status/endpoints
--- response_body_like: "name":"e1".*"models_state":"not_stored"
--- no_error_log
[alert]
[crit]
--- timeout: 30



=== TEST 4: many endpoints with big lists in a small zone: each list stored or not, and routing agrees with it
--- lists
write_list(port($_), dmr_list("e$_", 450, "ai/only-$_", 'ai/everywhere')) for 1 .. 16;
--- http_config eval
main::endpoints_conf('512k', 16)
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
main::wait_probes(2, map { "e$_" } 1 .. 16);
my $st = OllaTest::status_json();
my %state = map { $_->{name} => $_->{models_state} } @{ $st->{endpoints} };
my @stored = grep { $state{$_} eq 'stored' } sort keys %state;
my @not = grep { $state{$_} eq 'not_stored' } sort keys %state;
Test::More::is(@stored + @not, 16, 'every endpoint: stored or not stored');
Test::More::ok(@stored >= 2 && @not >= 2, scalar(@stored) . ' stored, ' . scalar(@not) . ' not');
Test::More::is($st->{zone}{lists_not_stored}, scalar @not, 'zone: the count');
Test::More::ok($st->{zone}{needed} > $st->{zone}{size}, "zone: needs more than it has ($st->{zone}{needed})");
my %stored = map { $_ => 1 } @stored;
for my $i (1 .. 16) {
    my $r = main::chat("ai/only-$i");
    if ($stored{"e$i"}) {
        Test::More::is("$r->{status} " . ($r->{headers}{'x-olla-endpoint'} // '-'), "200 e$i", "ai/only-$i: to e$i, whose list is stored");
    } else {
        Test::More::is($r->{status}, 404, "ai/only-$i: 404, the list of e$i is not stored");
        Test::More::like($r->{body}, qr/\(endpoints whose model list does not fit in olla_zone: ${\ scalar @not}\)/, "ai/only-$i: the 404 says why");
    }
}
my @bad;
for (1 .. 20) {
    my $r = main::chat('ai/everywhere');
    push @bad, $r->{headers}{'x-olla-endpoint'} // $r->{status}
        unless $r->{status} == 200 && $stored{ $r->{headers}{'x-olla-endpoint'} // '' };
}
Test::More::is("@bad", '', 'ai/everywhere: only endpoints whose list is stored');
Test::More::is(main::chat('ai/nowhere')->{status}, 404, 'a model nobody lists: 404');
# one line per endpoint that did not fit, whatever the number of probes
Test::More::is(scalar(main::log_lines($main::NotFit)), scalar @not, 'one line per endpoint not stored');
--- request
GET /internal/status/endpoints
--- response_body_like: "zone":\{"size":524288,
--- no_error_log
[alert]
[crit]
--- timeout: 40



=== TEST 5: endpoints with the same list share one copy in the zone
--- lists
write_list(port($_), dmr_list('fleet', 2000, 'ai/common')) for 1 .. 6;
--- http_config eval
main::endpoints_conf('512k', 6)
--- config
    location /olla/ { olla_route models; proxy_pass http://models; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_status_settled();
main::wait_probes(1, map { "e$_" } 1 .. 6);
my $st = OllaTest::status_json();
my @e = @{ $st->{endpoints} };
Test::More::is(join(',', map { $_->{models_state} } @e), join(',', ('stored') x 6), 'six lists of 140k in a 512k zone: all stored');
Test::More::is(join(',', map { $_->{models_shared} } @e), join(',', (6) x 6), 'one copy, shared by six');
Test::More::ok($st->{zone}{used} < 400 * 1024, "zone: $st->{zone}{used} bytes used");
my $all = OllaTest::status_json('/olla/models');
my ($common) = grep { $_->{id} eq 'ai/common' } @{ $all->{data} };
Test::More::is(join(',', @{ $common->{olla}{endpoints} }), 'e1,e2,e3,e4,e5,e6', 'ai/common: on every endpoint');
Test::More::is(main::chat('ai/common')->{status}, 200, 'ai/common: served');
# one host gets another model: its own copy, the five keep theirs
main::write_list(main::port(3), main::dmr_list('fleet', 2000, 'ai/common', 'ai/new'));
OllaTest::wait_endpoint('e3', sub { $_[0]{models_shared} == 1 && $_[0]{model_count} == 2002 });
my %sh = map { $_->{name} => $_->{models_shared} } @{ OllaTest::status_json()->{endpoints} };
Test::More::is(join(',', map { $sh{"e$_"} } 1 .. 6), '5,5,1,5,5,5', 'e3 alone with its list, five share theirs');
my $r = main::chat('ai/new');
Test::More::is($r->{headers}{'x-olla-endpoint'}, 'e3', 'ai/new: e3');
--- request
GET /olla/dmr/engines/v1/models
--- response_body_like: ^\{"object":"list","data":\[\{"id":"ai/fleet-1:Q4_K_M","object":"model","created":1742816982,"owned_by":"docker","dmr":\{"architecture":"llama","parameters":"1\.01 B","quantization":"Q4_K_M","size":"3\.01 MiB"\}\},
--- no_error_log
[error]
--- timeout: 30



=== TEST 6: at start, a zone that leaves little room for lists says so, with the size to set
--- http_config eval
my $c = main::endpoints_conf('256k', 2);
my $down = '';
$down .= "        olla_endpoint http://127.0.0.1:1 name=down$_ check_interval=60s;\n" for 1 .. 12;
$c =~ s{(upstream models \{\n)}{$1$down};
$c
--- lists
write_list(port($_), dmr_list("e$_", 5)) for 1 .. 2;
--- config
    location /internal/ { olla_status; }
--- init
OllaTest::wait_endpoint('e1', sub { $_[0]{models_state} eq 'stored' });
--- request
GET /internal/status/endpoints
--- response_body_like: "models_state":"stored"
--- error_log eval
qr/\[warn\] .*olla_zone 256k leaves \d+k for the model lists of 14 endpoints, some \d+ models each: a list that does not fit is not stored, and its endpoint gets no request naming a model; olla_zone \d+k holds 64 models each/
