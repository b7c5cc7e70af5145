# Conversation affinity is computed, not remembered (SPEC 4): every worker
# sends a conversation to the same endpoint, and so does the next
# configuration after "nginx -s reload".

use Test::Nginx::Socket 'no_plan';
use Cwd qw(cwd);
use lib 't/lib';
use OllaTest;
use JSON::PP;

$ENV{TEST_NGINX_OLLA_ROOT} ||= cwd();

master_on();
workers(2);
no_shuffle();

our $PS = '[{"backend_name":"llama.cpp","model_name":"ai/smollm2","mode":"completion","last_used":"2026-12-07T10:00:00Z"}]';
our $LIST = '{"object":"list","data":[{"id":"ai/smollm2:latest"}]}';

sub dmr {
    my ($port, $name) = @_;
    return "server { listen $port; location = /engines/v1/models { return 200 '$LIST'; }"
         . " location = /engines/ps { return 200 '$PS'; }"
         . " location / { return 200 '{\"mock\":\"$name\",\"pid\":\"\$pid\"}'; } }\n";
}

# one turn of conversation C: (endpoint, worker pid)
sub turn {
    my ($c, $turn) = @_;
    my @m = ({ role => 'system', content => 'You are a helpful assistant.' },
             { role => 'user', content => "conversation $c" });
    for my $t (1 .. $turn - 1) {
        push @m, { role => 'assistant', content => "reply $t" },
                 { role => 'user', content => "next $t" };
    }
    my $r = OllaTest::http(POST => '/olla/dmr/engines/v1/chat/completions',
                           body => encode_json({ model => 'smollm2',
                                                 messages => \@m }));
    my ($ep) = ($r->{body} // '') =~ /"mock":"([^"]+)"/;
    Test::More::diag("c=$c t=$turn ep=" . ($ep // '?') . " w=" . ($r->{headers}{'x-worker'} // '?') . " r=" . ($r->{headers}{'x-reason'} // '?')) if $ENV{OLLA_DEBUG};
    return ($ep // '?', $r->{headers}{'x-worker'} // '?');
}

run_tests();

__DATA__

=== TEST 1: every worker and the next configuration send a conversation's turns to one endpoint
--- http_config eval
"olla_profiles $ENV{TEST_NGINX_OLLA_ROOT}/profiles;
upstream models {
    olla_endpoint http://127.0.0.1:18611 name=a check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18612 name=b check_interval=30s check_timeout=2s;
    olla_endpoint http://127.0.0.1:18613 name=c check_interval=30s check_timeout=2s;
}
" . main::dmr(18611, 'a') . main::dmr(18612, 'b') . main::dmr(18613, 'c')
--- config
    location /olla/ { olla_route models; proxy_pass http://models; add_header X-Worker $pid always; add_header X-Reason $olla_route_reason always; }
    location /internal/ { olla_status; }
--- init
OllaTest::wait_until(sub {
    my $s = OllaTest::status_json() or return 0;
    return 3 == grep { ($_->{residency}{state} // '') eq 'known' } @{ $s->{endpoints} };
}, 20) or die "residency not read";
my (%first, %workers, $split);
for my $round (1 .. 3) {
    for my $c (1 .. 10) {
        my ($ep, $w) = main::turn($c, $round);
        $workers{$w} = 1;
        $first{$c} //= $ep;
        $split++ if $ep ne $first{$c};
    }
}
Test::More::is($split // 0, 0, 'no conversation changed endpoint between turns');
Test::More::ok(keys %workers >= 2, 'answered by ' . scalar(keys %workers) . ' workers');
Test::More::ok((keys %{{ map { $_ => 1 } values %first }}) >= 2, 'conversations on several endpoints');
my $master = OllaTest::nginx_pid();
my %old = map { $_ => 1 } OllaTest::children_of($master);
kill 'HUP', $master;
OllaTest::wait_until(sub {
    my @now = OllaTest::children_of($master);
    return @now && !grep { $old{$_} } @now;
}, 10) or die "the old workers are still there after the reload";
my $moved = 0;
for my $c (1 .. 10) {
    my ($ep) = main::turn($c, 4);
    $moved++ if $ep ne $first{$c};
}
Test::More::is($moved, 0, 'after the reload every conversation stays');
--- request
GET /internal/status/endpoints
--- response_body_like: "affinity":\d+
--- no_error_log
[error]
--- timeout: 40
