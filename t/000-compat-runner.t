# Self-tests of the compatible Test::Nginx::Socket runner in t/compat-lib.
#
# Runs the fixture suites in t/compat-selftest/*.tt in a subprocess and
# checks that passing fixtures pass with the expected number of
# assertions and that failing expectations really fail (and only those).
# Skipped when another Test::Nginx::Socket (openresty's) is the one in
# use.

use strict;
use warnings;

use Cwd qw(abs_path cwd);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;

use lib 't/lib';
use OllaTest ();

my $root = cwd();
my $compat = abs_path(File::Spec->catdir($root, 't', 'compat-lib'));

# which Test/Nginx/Socket.pm would "use Test::Nginx::Socket" load?
my $in_use;
for my $dir (@INC) {
    next if ref $dir;
    my $f = File::Spec->catfile($dir, 'Test', 'Nginx', 'Socket.pm');
    if (-f $f) {
        $in_use = abs_path($f);
        last;
    }
}

plan skip_all => 'the compat runner is not the Test::Nginx::Socket in use'
    unless defined $in_use && defined $compat
        && index($in_use, "$compat/") == 0;

my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
plan skip_all => "no nginx binary ($nginx)"
    unless system("\Q$nginx\E -v >/dev/null 2>&1") == 0;

# two free ports in 19800-19899 for the fixtures
sub free_ports {
    my @ports;
    for my $p (19800 .. 19899) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p, Listen => 1,
                                      Proto => 'tcp', ReuseAddr => 0)
            or next;
        close $s;
        push @ports, $p;
        last if @ports == 2;
    }
    return @ports;
}

my ($port, $port_b) = free_ports();
plan skip_all => 'no free port in 19800-19899' unless $port_b;

# Debian's echo module, when it loads into this nginx (it is built for
# Debian's nginx only)
my $echo = '/usr/lib/nginx/modules/ngx_http_echo_module.so';

if (-f $echo) {
    my $dir = tempdir('compat-echo-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open my $fh, '>', "$dir/t.conf" or die $!;
    print $fh "load_module $echo;\nerror_log $dir/e.log;\npid $dir/p;\n"
            . "events {}\n";
    close $fh;
    system("$nginx -t -q -p $dir -c $dir/t.conf >/dev/null 2>&1");
    $echo = '' if $? != 0;
}

my $servroot = tempdir('compat-selftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# run one fixture; returns { rc, out (stdout+stderr), ok => [names],
# notok => [names], skipped => [reasons], planned }
sub run_fixture {
    my ($file, %env) = @_;

    my %child_env = %ENV;
    delete $child_env{$_} for grep { /^TEST_NGINX_/ } keys %child_env;
    $child_env{TEST_NGINX_BINARY} = $nginx;
    $child_env{TEST_NGINX_SERVER_PORT} = $port;
    $child_env{TEST_NGINX_SELFTEST_PORT_B} = $port_b;
    $child_env{TEST_NGINX_SERVROOT} = $servroot;
    $child_env{PERL5LIB} = join ':', $compat,
        grep { defined && length } $ENV{PERL5LIB};
    %child_env = (%child_env, %env);

    my $path = File::Spec->catfile('t', 'compat-selftest', $file);
    my $out = File::Spec->catfile($servroot, '..',
                                  "compat-selftest-$$-$file.out");

    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        %ENV = %child_env;
        open STDOUT, '>', $out or die "$out: $!";
        open STDERR, '>&', \*STDOUT or die "dup: $!";
        exec $^X, $path or die "exec: $!";
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;

    open my $fh, '<', $out or die "$out: $!";
    local $/;
    my $text = <$fh>;
    close $fh;
    unlink $out;

    my (%r, @ok, @notok, @skipped);
    for my $line (split /\n/, $text) {
        if ($line =~ /^ok \d+ # skip (?:t\/compat-selftest\/\S+ )?(.*)$/) {
            push @skipped, $1;
        }
        elsif ($line =~ /^ok \d+ - (?:t\/compat-selftest\/\S+ )?(.*)$/) {
            push @ok, $1;
        }
        elsif ($line =~ /^not ok \d+ - (?:t\/compat-selftest\/\S+ )?(.*)$/) {
            push @notok, $1;
        }
        elsif ($line =~ /^1\.\.(\d+)/) {
            $r{planned} = $1;
        }
    }
    return { %r, rc => $rc, out => $text, ok => \@ok, notok => \@notok,
             skipped => \@skipped };
}

sub show {
    my $r = shift;
    diag("fixture output:\n$r->{out}");
}

# a fixture that must pass with $count assertions
sub passes {
    my ($file, $count, %env) = @_;
    my $r = run_fixture($file, %env);
    my $good = is($r->{rc}, 0, "$file: exits 0");
    $good &= is(scalar @{ $r->{notok} }, 0, "$file: no failed assertion");
    $good &= is(scalar @{ $r->{ok} }, $count,
                "$file: $count assertions passed");
    show($r) unless $good;
    return $r;
}

# a fixture whose failures must be exactly @$failing (name prefixes)
sub fails {
    my ($file, $failing, $passing_count) = @_;
    my $r = run_fixture($file);
    my $good = isnt($r->{rc}, 0, "$file: exits non-zero");
    for my $f (@$failing) {
        my $hit = grep { index($_, $f) == 0 } @{ $r->{notok} };
        $good &= ok($hit, "$file: fails: $f");
    }
    $good &= is(scalar @{ $r->{notok} }, scalar @$failing,
                "$file: nothing else fails");
    $good &= is(scalar @{ $r->{ok} }, $passing_count,
                "$file: $passing_count assertions pass");
    show($r) unless $good;
    return $r;
}

# a fixture that must stop with a message (die or bail out)
sub stops {
    my ($file, $re) = @_;
    my $r = run_fixture($file);
    my $good = isnt($r->{rc}, 0, "$file: exits non-zero");
    $good &= like($r->{out}, $re, "$file: says why");
    $good &= is(scalar @{ $r->{ok} }, 0, "$file: passes nothing");
    show($r) unless $good;
    return $r;
}

# every section the runner implements; repeat_each(2) and a plan line.
# Its TEST 6 needs sub_filter, from the sub module, which nginx builds only
# when configured --with-http_sub_module: without it, the block's 3
# assertions are skipped in both repetitions, and the fixture says why.
{
    # the fixture's nginx: this binary, no TEST_NGINX_LOAD_MODULES
    local $ENV{TEST_NGINX_BINARY} = $nginx;
    delete local $ENV{TEST_NGINX_LOAD_MODULES};
    my $no_sub = OllaTest::nginx_lacks(directive => 'sub_filter',
                                       location => "sub_filter 'a' 'b';",
                                       quiet => 1);
    my $r = passes('pass-sections.tt', $no_sub ? 102 : 108);
    if ($no_sub) {
        is(scalar(grep { /^TEST 6: .* - skip_eval$/ } @{ $r->{skipped} }), 6,
           'pass-sections.tt: TEST 6 skipped (no sub module in this nginx)');
        like($r->{out}, qr/TEST 6: skipped: this nginx has no "sub_filter" directive/,
             'pass-sections.tt: the skip says why');
    }
    else {
        is(scalar @{ $r->{skipped} }, 0, 'pass-sections.tt: nothing skipped');
    }
}

# preprocessor defaults, consumed custom section, SKIP, master + workers
passes('pass-preprocessor.tt', 7);

fails('fail-expectations.tt', [
    'TEST 1: wrong body - response_body - response is expected',
    'TEST 2: wrong status - status code ok',
    'TEST 3: wrong header, header that should be absent - header X-A ok',
    'TEST 3: wrong header, header that should be absent - header X-B ok',
    'TEST 4: error_log pattern not found - pattern "this text is never'
        . ' logged" should match a line in error.log',
    'TEST 5: no_error_log pattern found - pattern "GET /t HTTP/1.1" should'
        . ' not match any line in error.log',
    'TEST 6: must_die on a good config - die as expected',
    'TEST 6: must_die on a good config - pattern "emerg" should match',
    'ERROR: client socket timed out - t/compat-selftest/fail-expectations.tt'
        . ' TEST 7: client timeout',
    'TEST 7: client timeout - status code ok',
    'TEST 8: body_like mismatch - response_body_like - response is expected',
    'TEST 9: grep_error_log_out mismatch - grep_error_log_out (req 0)',
], 10);

stops('die-unsupported.tt',
      qr/compat runner: unsupported sections "--- tcp_listen", "--- tcp_reply"/);
stops('die-combo.tt',
      qr/compat runner: .* has response_body and response_body_like/);
stops('bail-no-config.tt',
      qr/Bail out!.*No '--- config' section specified/);
stops('bail-env.tt',
      qr/Bail out!.*No environment TEST_NGINX_SELFTEST_UNDEFINED defined/);

SKIP: {
    skip "no echo module ($echo)", 3 unless -f $echo;
    passes('pass-echo-module.tt', 3, TEST_NGINX_LOAD_MODULES => $echo);
}

# the generated nginx.conf follows the documented skeleton
{
    my $r = run_fixture('pass-tiny.tt',
                        TEST_NGINX_NO_CLEAN => 1,
                        TEST_NGINX_LOG_LEVEL => 'info',
                        (-f $echo ? (TEST_NGINX_LOAD_MODULES => $echo) : ()));
    is($r->{rc}, 0, 'pass-tiny.tt with TEST_NGINX_NO_CLEAN passes');

    open my $fh, '<', "$servroot/conf/nginx.conf" or die "nginx.conf: $!";
    local $/;
    my $conf = <$fh>;
    close $fh;

    like($conf, qr/^worker_processes\s+1;\ndaemon on;\nmaster_process off;\n/,
         'nginx.conf: one worker, daemon, no master');
    like($conf, qr{^error_log \Q$servroot\E/logs/error\.log info;$}m,
         'nginx.conf: error_log in the server root at TEST_NGINX_LOG_LEVEL');
    if (-f $echo) {
        like($conf, qr{^load_module \Q$echo\E;$}m,
             'nginx.conf: TEST_NGINX_LOAD_MODULES become load_module');
    }
    else {
        pass('nginx.conf: no TEST_NGINX_LOAD_MODULES');
    }
    like($conf, qr/http \{.*default_type text\/plain;.*keepalive_timeout\s+68000ms;/s,
         'nginx.conf: http defaults');
    like($conf, qr/listen\s+$port;.*server_name\s+'localhost';.*client_max_body_size 30M;/s,
         'nginx.conf: server on TEST_NGINX_SERVER_PORT');
    like($conf, qr/location \/ \{\s*root \Q$servroot\E\/html;/,
         'nginx.conf: root location');
    like($conf, qr/events \{\s*accept_mutex off;\s*worker_connections\s+64;/,
         'nginx.conf: events');

    # TEST_NGINX_NO_CLEAN left nginx running: stop it
    my $pid = do {
        open my $p, '<', "$servroot/logs/nginx.pid";
        my $v = $p ? <$p> : undef;
        $v;
    };
    ok($pid && kill(0, $pid), 'TEST_NGINX_NO_CLEAN leaves nginx running');
    if ($pid) {
        chomp $pid;
        kill 'QUIT', $pid;
        for (1 .. 300) {
            last unless kill 0, $pid;
            my $st = '';
            if (open my $s, '<', "/proc/$pid/stat") { $st = <$s> }
            last if $st =~ /^\d+ \(.*\) Z/;
            select(undef, undef, undef, 0.01);
        }
    }
}

SKIP: {
    skip 'valgrind not installed', 3
        unless system('valgrind --version >/dev/null 2>&1') == 0;
    passes('pass-tiny.tt', 2, TEST_NGINX_USE_VALGRIND => 1);
}

done_testing();
