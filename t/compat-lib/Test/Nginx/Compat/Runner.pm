package Test::Nginx::Compat::Runner;

# Part of the clean-room Test::Nginx::Socket compatible runner: the block
# loop and the checks.  The public functions are exported by
# Test::Nginx::Socket (t/compat-lib/Test/Nginx/Socket.pm), which documents
# what is supported.  Assertion counts per section follow what the real
# Test::Nginx::Socket emits, so "plan tests => ..." lines stay valid.

use strict;
use warnings;

use Cwd qw(cwd);
use File::Spec;
use List::Util qw(shuffle);
use Test::Builder;
use Test::More ();
use Time::HiRes qw(sleep time);

use Test::Nginx::Compat::Client;
use Test::Nginx::Compat::Server;

# ------------------------------------------------------------ settings

our %Opt = (
    repeat_each        => 1,
    shuffle            => 1,
    log_level          => undef,    # default from the environment
    workers            => 1,
    master             => undef,    # default from the environment
    worker_connections => 64,
    no_long_string     => 0,
    no_diff            => 0,
    env_to_nginx       => [],
    preprocessors      => [],
    body_checks        => [],
    cleanup            => [],
    test_cleanup       => [],
    no_root_location   => 0,
    config_preamble    => '',
    check_accum        => 0,
);

# sections the runner understands
our %SUPPORTED = map { $_ => 1 } qw(
    ONLY SKIP LAST
    main_config http_config config post_main_config server_name
    init post_setup_server_root user_files log_level
    request request_eval raw_request pipelined_requests more_headers
    raw_request_middle_delay shutdown server_addr_for_client curl
    response_body response_body_eval response_body_like
    response_body_unlike response_body_filters
    response_headers response_headers_like
    raw_response_headers_like raw_response_headers_unlike
    error_code error_code_like ignore_response
    error_log no_error_log grep_error_log grep_error_log_out
    shutdown_error_log no_shutdown_error_log access_log no_access_log
    wait timeout abort
    must_die suppress_stderr
    skip_nginx skip_nginx2 skip_eval
    no_check_leak http09
);

# keys of a Test::Base::Block hash that are not sections
my %INTERNAL = map { $_ => 1 } qw(
    name description seq_num is_filtered blocks_object original_values
    _section_map _section_order
);

my $Server;          # Test::Nginx::Compat::Server
my %Run;             # per-run state
my $Finished = 0;

# ------------------------------------------------------------ exported

sub repeat_each {
    $Opt{repeat_each} = shift if @_;
    return $Opt{repeat_each};
}

sub no_shuffle { $Opt{shuffle} = 0; return }

sub log_level {
    $Opt{log_level} = shift if @_;
    return $Opt{log_level};
}

sub workers {
    $Opt{workers} = shift if @_;
    return $Opt{workers};
}

sub master_on  { $Opt{master} = 'on';  return }
sub master_off { $Opt{master} = 'off'; return }

sub worker_connections {
    $Opt{worker_connections} = shift if @_;
    return $Opt{worker_connections};
}

sub no_long_string { $Opt{no_long_string} = 1; return }

sub no_diff {
    $Opt{no_diff} = 1;
    $ENV{TEST_SHOW_NO_DIFFS} = 1;
    return;
}

sub env_to_nginx { push @{ $Opt{env_to_nginx} }, @_; return }

sub add_block_preprocessor {
    my $code = shift;
    die "add_block_preprocessor: a code reference is expected\n"
        unless ref $code eq 'CODE';
    push @{ $Opt{preprocessors} }, $code;
    return;
}

sub add_response_body_check {
    my $code = shift;
    die "add_response_body_check: a code reference is expected\n"
        unless ref $code eq 'CODE';
    push @{ $Opt{body_checks} }, $code;
    return;
}

sub add_cleanup_handler { push @{ $Opt{cleanup} }, shift; return }
sub add_test_cleanup_handler { push @{ $Opt{test_cleanup} }, shift; return }

sub no_root_location { $Opt{no_root_location} = 1; return }

sub config_preamble {
    $Opt{config_preamble} = shift if @_;
    return $Opt{config_preamble};
}

sub check_accum_error_log { $Opt{check_accum} = 1; return }

sub use_hup {
    die "compat runner: use_hup() (HUP reload mode) is not supported\n";
}

sub server_port {
    init_run() unless %Run;
    return $Run{server_port};
}

sub server_port_for_client {
    init_run() unless %Run;
    return $Run{client_port};
}

sub server_addr { return '127.0.0.1' }

sub server_root {
    init_run() unless %Run;
    return $Run{servroot};
}

sub html_dir { return File::Spec->catfile(server_root(), 'html') }

sub bail_out {
    my $msg = shift;
    cleanup_all();
    Test::More::BAIL_OUT($msg);
}

# is() honouring regex expectations, no_long_string and no_diff
sub is_str {
    my ($got, $expected, $name) = @_;

    local $Test::Builder::Level = $Test::Builder::Level + 1;

    if (ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $name);
    }
    if (!defined $got || !defined $expected) {
        return Test::More::is($got, $expected, $name);
    }
    if ($got eq $expected) {
        return Test::More::ok(1, $name);
    }

    if (!$Opt{no_long_string}) {
        Test::More::ok(0, $name);
        Test::More::diag(long_string_diag($got, $expected));
        return 0;
    }
    if (!$Opt{no_diff} && ($got =~ /\n./s || $expected =~ /\n./s)
        && eval { require Text::Diff; 1 })
    {
        Test::More::ok(0, $name);
        Test::More::diag(Text::Diff::diff(\$expected, \$got));
        return 0;
    }
    return Test::More::is($got, $expected, $name);
}

# ------------------------------------------------------------ helpers

sub esc {
    my $s = shift;
    return 'undef' unless defined $s;
    $s =~ s/([\\"])/\\$1/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    $s =~ s/([^\x20-\x7e])/sprintf('\\x{%02x}', ord $1)/ge;
    return qq{"$s"};
}

sub long_string_diag {
    my ($got, $exp) = @_;

    my $i = 0;
    my $max = length($got) < length($exp) ? length($got) : length($exp);
    $i++ while $i < $max && substr($got, $i, 1) eq substr($exp, $i, 1);
    my $before = substr($got, 0, $i);
    my $line = 1 + ($before =~ tr/\n//);
    my $col = $i - (rindex($before, "\n") + 1) + 1;
    my $from = $i > 30 ? $i - 30 : 0;
    my $g = substr($got, $from, 100);
    my $e = substr($exp, $from, 100);
    return sprintf("         got: %s%s\n      length: %d\n"
                   . "    expected: %s%s\n      length: %d\n"
                   . "    strings begin to differ at char %d"
                   . " (line %d column %d)",
                   $from ? '...' : '', esc($g), length $got,
                   $from ? '...' : '', esc($e), length $exp,
                   $i + 1, $line, $col);
}

sub short_body {
    my $b = shift;
    $b = '' unless defined $b;
    $b =~ s/\s+/ /g;
    $b =~ s/^ | $//g;
    return $b;
}

sub parse_time {
    my ($v, $what) = @_;
    return undef unless defined $v;
    $v =~ s/^\s+|\s+$//g;
    return undef if $v eq '';
    return $1 / 1000 if $v =~ /^(\d+(?:\.\d+)?)\s*ms$/;
    return $1 if $v =~ /^(\d+(?:\.\d+)?)\s*s?$/;
    die "compat runner: bad $what value \"$v\"\n";
}

sub trim {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    return $s;
}

sub env_true {
    my $v = $ENV{ $_[0] };
    return defined $v && $v ne '' && $v ne '0';
}

# ------------------------------------------------------------ the run

sub init_run {
    return if %Run;

    for my $v (qw(TEST_NGINX_CHECK_LEAK TEST_NGINX_BENCHMARK
                  TEST_NGINX_USE_HUP TEST_NGINX_USE_STAP TEST_NGINX_USE_RR
                  TEST_NGINX_USE_HTTP2 TEST_NGINX_USE_HTTP3))
    {
        die "compat runner: $v is not supported by the compat runner\n"
            if env_true($v);
    }

    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    my $servroot = $ENV{TEST_NGINX_SERVROOT};

    if (env_true('TEST_NGINX_RANDOMIZE')) {
        $port = Test::Nginx::Compat::Server->free_port;
        $servroot = File::Spec->catdir(cwd(), 't', "servroot_$port")
            unless defined $servroot;
    }
    $servroot = File::Spec->catdir(cwd(), 't', 'servroot')
        unless defined $servroot && length $servroot;
    $servroot = File::Spec->rel2abs($servroot);
    $servroot =~ s{/+\z}{};

    my $client_port = $ENV{TEST_NGINX_CLIENT_PORT} || $port;
    $ENV{TEST_NGINX_SERVER_PORT} = $port;

    my $valgrind;
    if (defined(my $vg = $ENV{TEST_NGINX_USE_VALGRIND})) {
        if ($vg =~ /^\d+$/) {
            $valgrind = '--tool=memcheck --leak-check=full' if $vg > 0;
        }
        elsif ($vg ne '') {
            $valgrind = $vg;
        }
    }

    my $timeout = defined $ENV{TEST_NGINX_TIMEOUT}
        ? parse_time($ENV{TEST_NGINX_TIMEOUT}, 'TEST_NGINX_TIMEOUT') : 3;
    my $sleep = defined $ENV{TEST_NGINX_SLEEP}
        ? parse_time($ENV{TEST_NGINX_SLEEP}, 'TEST_NGINX_SLEEP') : 0.015;

    %Run = (
        server_port  => $port,
        client_port  => $client_port,
        servroot     => $servroot,
        valgrind     => $valgrind,
        timeout      => $timeout,
        sleep        => $sleep,
        no_manager   => env_true('TEST_NGINX_NO_NGINX_MANAGER'),
        verbose      => env_true('TEST_NGINX_VERBOSE'),
        rand_ports   => {},
    );

    $Server = Test::Nginx::Compat::Server->new(
        binary   => $ENV{TEST_NGINX_BINARY} || 'nginx',
        servroot => $servroot,
        port     => $port,
        valgrind => $valgrind,
        verbose  => $Run{verbose},
    );
    return;
}

sub run_tests {
    my $tb = Test::Builder->new;
    $tb->plan('no_plan') unless $tb->has_plan;

    init_run();
    $Server->version unless $Run{no_manager};    # dies when no binary
    $Server->kill_stale unless $Run{no_manager};

    my @blocks = Test::Base::blocks();
    my $shuffle = $Opt{shuffle} && !env_true('TEST_NGINX_NO_SHUFFLE');
    @blocks = shuffle(@blocks) if $shuffle;

    for my $block (@blocks) {
        run_block($block);
        $_->($block) for @{ $Opt{test_cleanup} };
    }

    finish();
    return;
}

sub finish {
    return if $Finished++;
    if ($Server && !env_true('TEST_NGINX_NO_CLEAN') && !$Run{no_manager}) {
        stop_server();
    }
    $_->() for @{ $Opt{cleanup} };
    return;
}

sub cleanup_all {
    finish();
    return;
}

END {
    # the test script died half way: do not leave nginx behind
    if ($Server && !$Finished && !env_true('TEST_NGINX_NO_CLEAN')
        && !$Run{no_manager})
    {
        my $status = $?;
        stop_server();
        $? = $status;
    }
}

sub stop_server {
    return unless $Server;
    my $was = $Server->running;
    $Server->stop(timeout => $Run{valgrind} ? 30 : 5);
    if ($was && defined $ENV{TEST_NGINX_ERROR_LOG}
        && length $ENV{TEST_NGINX_ERROR_LOG})
    {
        my $log = $Server->read_file($Server->error_log_path);
        if (open my $fh, '>>', $ENV{TEST_NGINX_ERROR_LOG}) {
            print $fh $log;
            close $fh;
        }
    }
    return;
}

# ------------------------------------------------------------ a block

sub block_sections {
    my $block = shift;
    return grep { !$INTERNAL{$_} } keys %$block;
}

# Run the preprocessors; sections they read count as consumed (so a
# suite may invent sections for its preprocessors).  Returns the set of
# consumed section names.
sub run_preprocessors {
    my $block = shift;

    my %read;
    return \%read unless @{ $Opt{preprocessors} };

    my @unknown = grep { !$SUPPORTED{$_} } block_sections($block);
    my %orig;
    {
        no strict 'refs';
        no warnings 'redefine';
        for my $s (@unknown) {
            my $glob = "Test::Base::Block::$s";
            next unless defined &$glob;
            my $code = \&$glob;
            $orig{$s} = $code;
            *$glob = sub { $read{$s} = 1; goto &$code };
        }
    }

    my $ok = eval {
        $_->($block) for @{ $Opt{preprocessors} };
        1;
    };
    my $err = $@;

    {
        no strict 'refs';
        no warnings 'redefine';
        *{"Test::Base::Block::$_"} = $orig{$_} for keys %orig;
    }
    die $err unless $ok;
    return \%read;
}

sub section {
    my ($block, $name) = @_;
    return undef unless exists $block->{$name};
    my @v = $block->$name;
    return $v[0];
}

sub has { exists $_[0]->{ $_[1] } }

sub run_block {
    my $block = shift;

    my $name = "$0 " . (defined $block->name ? $block->name : 'TEST');
    my $consumed = run_preprocessors($block);

    my @bad = sort grep { !$SUPPORTED{$_} && !$consumed->{$_} }
              block_sections($block);
    if (@bad) {
        die "compat runner: unsupported section"
            . (@bad > 1 ? 's' : '') . ' '
            . join(', ', map { "\"--- $_\"" } @bad)
            . " in $name (the compat runner does not implement "
            . (@bad > 1 ? 'them' : 'it') . "; refusing to pass silently)\n";
    }

    my @body = grep { has($block, $_) }
               qw(response_body response_body_eval response_body_like
                  response_body_unlike);
    if (@body > 1) {
        die "compat runner: $name has " . join(' and ', @body)
            . "; Test::Nginx checks only the first of them, so the others"
            . " would pass silently\n";
    }
    if (has($block, 'response_headers')
        && has($block, 'response_headers_like'))
    {
        die "compat runner: $name has response_headers and"
            . " response_headers_like; Test::Nginx ignores"
            . " response_headers_like then\n";
    }

    # skip_nginx / skip_nginx2 / skip_eval
    if (my $skip = skip_count($block, $name)) {
        my ($n, $why) = @$skip;
        SKIP: {
            # the subtests of every repetition
            Test::More::skip("$name - $why", $n * $Opt{repeat_each});
        }
        return;
    }

    if (has($block, 'must_die')) {
        run_init($block, $name);
        run_must_die_block($block, $name);
        return;
    }

    my $fresh = setup_server($block, $name);

    # like Test::Nginx: --- init runs once, after nginx has started
    run_init($block, $name);
    my $accum_offset = $fresh ? 0 : $Server->log_size;
    my $accum_aoffset = $fresh ? 0 : $Server->log_size($Server->access_log_path);

    for my $rep (0 .. $Opt{repeat_each} - 1) {
        run_requests($block, $name, $rep, $fresh && $rep == 0,
                     $accum_offset, $accum_aoffset);
    }

    if (has($block, 'shutdown_error_log')
        || has($block, 'no_shutdown_error_log'))
    {
        my $off = $Server->log_size;
        stop_server();
        my $log = $Server->read_log_from($off);
        check_log_patterns($block, $name, 'shutdown_error_log',
                           'no_shutdown_error_log', $log, 0, 'error.log');
    }
    elsif ($Server->{pid} && !$Run{no_manager} && !$Server->running) {
        Test::More::fail("$name - nginx is still running after the block");
        Test::More::diag("nginx (pid $Server->{pid}) exited or crashed;"
                         . " see " . $Server->error_log_path);
        $Server->{pid} = undef;
    }
    return;
}

sub run_init {
    my ($block, $name) = @_;
    my $init = section($block, 'init');
    return unless defined $init;
    my $ok = eval "package main; $init; 1";
    bail_out("$name - --- init failed: $@") unless $ok;
    return;
}

sub skip_count {
    my ($block, $name) = @_;

    for my $sec (qw(skip_nginx skip_nginx2)) {
        my $v = section($block, $sec);
        next unless defined $v;
        $v = trim($v);
        my ($n, $expr) = $v =~ /^(\d+)\s*:\s*(.+)$/
            or die "compat runner: bad --- $sec value \"$v\" in $name\n";
        my $cur = $Server->version_num;
        my @terms = split /\s+(and|or)\s+/, $expr;
        my $res = version_cond($terms[0], $cur, $name);
        for (my $i = 1; $i < @terms; $i += 2) {
            my $r = version_cond($terms[$i + 1], $cur, $name);
            $res = $terms[$i] eq 'and' ? ($res && $r) : ($res || $r);
        }
        return [$n, "nginx version $expr"] if $res;
    }

    if (defined(my $v = section($block, 'skip_eval'))) {
        $v = trim($v);
        my ($n, $code) = $v =~ /^(\d+)\s*:\s*(.+)$/s
            or die "compat runner: bad --- skip_eval value in $name\n";
        my $r = eval "package main; $code";
        die "compat runner: --- skip_eval failed in $name: $@" if $@;
        return [$n, 'skip_eval'] if $r;
    }
    return undef;
}

sub version_cond {
    my ($term, $cur, $name) = @_;
    my ($op, $ver) = $term =~ /^\s*(>=|<=|>|<|==|!=)\s*(\d+(?:\.\d+)*)\s*$/
        or die "compat runner: bad nginx version condition \"$term\" in"
               . " $name\n";
    my @p = split /\./, $ver;
    push @p, 0 while @p < 3;
    my $v = $p[0] * 1000000 + $p[1] * 1000 + $p[2];
    return $op eq '>'  ? $cur > $v
         : $op eq '>=' ? $cur >= $v
         : $op eq '<'  ? $cur < $v
         : $op eq '<=' ? $cur <= $v
         : $op eq '==' ? $cur == $v
         :               $cur != $v;
}

# ------------------------------------------------------------ config

sub expand_env {
    my ($text, $name) = @_;
    return $text unless defined $text && !ref $text;
    $text =~ s{\$(TEST_NGINX_[A-Z0-9_]+)}{ expand_var($1, $name) }ge;
    return $text;
}

sub expand_var {
    my ($var, $name) = @_;
    if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
        my $ports = $Run{rand_ports};
        if (!$ports->{$var}) {
            my %taken = map { $_ => 1 } values %$ports;
            $taken{ $Run{server_port} } = 1;
            $ports->{$var} = Test::Nginx::Compat::Server->free_port(\%taken);
        }
        return $ports->{$var};
    }
    if (!defined $ENV{$var}) {
        bail_out("$name - No environment $var defined.");
    }
    return $ENV{$var};
}

sub env_lines {
    my @lines = @Test::Nginx::Compat::Server::DEFAULT_ENV;
    for my $e (@{ $Opt{env_to_nginx} }) {
        if ($e =~ /\s/) {
            (my $q = $e) =~ s/'/\\'/g;
            push @lines, "'$q'";
        }
        else {
            push @lines, $e;
        }
    }
    return \@lines;
}

sub config_text {
    my ($block, $name, %o) = @_;

    $Run{rand_ports} = {};

    my $level = trim(section($block, 'log_level'));
    $level = $Opt{log_level} unless defined $level && length $level;
    $level = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug'
        unless defined $level && length $level;

    my $master = $Opt{master};
    $master = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off' unless defined $master;

    my $user;
    if ($> == 0) {
        $user = $ENV{TEST_NGINX_WORKER_USER} || 'root';
    }
    elsif ($ENV{TEST_NGINX_WORKER_USER}) {
        $user = $ENV{TEST_NGINX_WORKER_USER};
    }

    my @modules = grep { length } split ' ',
        (defined $ENV{TEST_NGINX_LOAD_MODULES}
         ? $ENV{TEST_NGINX_LOAD_MODULES} : '');

    my $server_name = trim(section($block, 'server_name'));
    $server_name = 'localhost'
        unless defined $server_name && length $server_name;

    return $Server->build_config(
        workers            => $Opt{workers},
        master             => $master,
        daemon             => $o{daemon} ? 'on' : 'off',
        log_level          => $level,
        env                => env_lines(),
        load_modules       => \@modules,
        main_config        => expand_env(section($block, 'main_config'), $name),
        http_config        => expand_env(section($block, 'http_config'), $name),
        config             => expand_env(section($block, 'config'), $name),
        post_main_config   => expand_env(section($block, 'post_main_config'),
                                         $name),
        preamble           => expand_env($Opt{config_preamble}, $name),
        server_name        => $server_name,
        root_location      => !$Opt{no_root_location},
        worker_connections => $Opt{worker_connections},
        event_type         => $ENV{TEST_NGINX_EVENT_TYPE},
        postpone_output    => $ENV{TEST_NGINX_POSTPONE_OUTPUT},
        reuse_port         => env_true('TEST_NGINX_REUSE_PORT'),
        user               => $user,
    );
}

sub user_files {
    my ($block, $name) = @_;

    my $v = section($block, 'user_files');
    return [] unless defined $v;

    if (ref $v eq 'ARRAY') {
        return [map { [ @$_ ] } @$v];
    }

    my @files;
    my $cur;
    for my $line (split /^/, $v) {
        if ($line =~ /^>>> (\S+)(?:\s+(\d+(?:\.\d+)?))?\s*$/) {
            my ($file, $ts) = ($1, $2);
            my $mtime;
            if (defined $ts && $ts =~ /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d\d))?$/) {
                require POSIX;
                $mtime = POSIX::mktime($6 || 0, $5, $4, $3, $2 - 1, $1 - 1900);
            }
            $cur = [$file, '', $mtime];
            push @files, $cur;
            next;
        }
        die "compat runner: --- user_files must start with \">>> name\" in"
            . " $name\n" unless $cur;
        $cur->[1] .= $line;
    }
    return \@files;
}

sub prepare_files {
    my ($block, $name, $conf) = @_;

    $Server->prepare_servroot;
    $Server->write_user_files(user_files($block, $name));
    $Server->write_file($Server->conf_path, $conf);

    if (defined(my $code = section($block, 'post_setup_server_root'))) {
        my $ok = eval "package main; $code; 1";
        bail_out("$name - --- post_setup_server_root failed: $@") unless $ok;
    }
    return;
}

# Returns true when nginx was (re)started for this block.
sub setup_server {
    my ($block, $name) = @_;

    return 0 if $Run{no_manager};

    if (!defined section($block, 'config')) {
        # sections written in the block itself (a preprocessor's defaults
        # are harmless when the previous server is reused)
        my %own = map { $_ => 1 } @{ $block->{_section_order}[0] || [] };
        my @other = grep { $own{$_} }
                    qw(main_config http_config post_main_config);
        if ($Server->running) {
            if (@other) {
                die "compat runner: $name has " . join(', ', @other)
                    . " but no \"--- config\": Test::Nginx reuses the"
                    . " previous server then and ignores them\n";
            }
            return 0;
        }
        bail_out("$name - No '--- config' section specified and could not"
                 . " get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
    }

    stop_server() if $Server->running;

    my $daemon = !defined $Run{valgrind};
    my $conf = config_text($block, $name, daemon => $daemon);
    prepare_files($block, $name, $conf);

    my $wait = $Run{valgrind} ? 60 : 10;
    my ($ok, $msg);
    for my $try (1 .. 3) {
        ($ok, $msg) = $Server->start(
            daemon          => $daemon,
            wait            => $wait,
            suppress_stderr => has($block, 'suppress_stderr'),
        );
        last if $ok;
        last unless $msg =~ /Address already in use/;
        sleep 0.5;
        unlink $Server->stderr_path;
    }
    if (!$ok) {
        bail_out("$name - Cannot start nginx using command \""
                 . join(' ', $Server->valgrind_argv, $Server->nginx_argv)
                 . "\": $msg");
    }
    if ($Run{valgrind}) {
        # valgrind is slow to get to the event loop
        sleep($Run{sleep} > 0.5 ? $Run{sleep} : 0.5);
    }
    return 1;
}

# ------------------------------------------------------------ must_die

sub run_must_die_block {
    my ($block, $name) = @_;

    my $expect = trim(section($block, 'must_die'));
    $expect = undef if defined $expect && $expect eq '';

    stop_server() if $Server->running;

    for my $rep (0 .. $Opt{repeat_each} - 1) {
        my $conf = config_text($block, $name, daemon => 1);
        prepare_files($block, $name, $conf);

        my $r = $Server->run_must_die(
            wait            => 10,
            suppress_stderr => has($block, 'suppress_stderr'),
        );

        if (!$r->{died}) {
            Test::More::fail("$name - die as expected");
            Test::More::diag("nginx started although --- must_die was"
                             . " given");
            warn "WARNING: $name - nginx must die but it does not;"
                . " killing it (req $rep)\n";
        }
        elsif (defined $expect) {
            Test::More::is($r->{status}, $expect, "$name - die as expected");
        }
        else {
            Test::More::ok(1, "$name - die as expected");
        }

        my $log = $Server->read_file($Server->error_log_path);
        $log .= $r->{output} unless $Server->supports_e_flag;

        check_grep($block, $name, $log, $rep);
        check_log_patterns($block, $name, 'error_log', 'no_error_log',
                           $log, $rep, 'error.log');
    }
    return;
}

# ------------------------------------------------------------ requests

sub request_source {
    my ($block, $name) = @_;

    for my $sec (qw(pipelined_requests raw_request request request_eval)) {
        next unless has($block, $sec);
        my $v = section($block, $sec);
        if ($sec eq 'request_eval') {
            $v = eval "package main; $v";
            die "compat runner: --- request_eval failed in $name: $@" if $@;
            $sec = 'request';
        }
        return ($sec, $v);
    }
    bail_out("$name - No '--- request' section is specified");
}

sub more_headers {
    my ($block, $i) = @_;
    my $v = section($block, 'more_headers');
    return [] unless defined $v;
    $v = $v->[$i] if ref $v eq 'ARRAY';
    return [] unless defined $v;
    my @h;
    for my $line (split /\n/, $v) {
        $line =~ s/\r\z//;
        next unless $line =~ /\S/;
        if ($line =~ /^\s*([^:]+?)\s*:\s*(.*?)\s*$/) {
            push @h, [$1, $2];
        }
        else {
            die "compat runner: bad --- more_headers line \"$line\"\n";
        }
    }
    return \@h;
}

sub sent_chunked {
    my $hdrs = shift;
    return scalar grep { lc $_->[0] eq 'transfer-encoding' } @$hdrs;
}

# Build the list of exchanges for one repetition:
# [ { packets, methods => [..], count => N } ... ]
sub build_exchanges {
    my ($block, $name) = @_;

    my ($kind, $v) = request_source($block, $name);
    my @ex;

    if ($kind eq 'raw_request') {
        my @packets = ref $v eq 'ARRAY'
            ? map { ref $_ eq 'HASH'
                    ? { value => $_->{value}, delay => $_->{delay_before} }
                    : { value => $_ } } @$v
            : ({ value => $v });
        my ($method) = ($packets[0]{value} =~ /^\s*(\S+)/);
        push @ex, { packets => \@packets, methods => [$method || 'GET'],
                    count => 1 };
    }
    elsif ($kind eq 'pipelined_requests') {
        my @reqs = ref $v eq 'ARRAY' ? @$v : ($v);
        my $data = '';
        my @methods;
        for my $i (0 .. $#reqs) {
            my $hdrs = more_headers($block, $i);
            my $req = Test::Nginx::Compat::Client::parse_request_spec(
                $reqs[$i], keep_body => sent_chunked($hdrs));
            my $conn = $i == $#reqs ? 'close' : 'keep-alive';
            my $pk = Test::Nginx::Compat::Client::build_request(
                $req, $hdrs, $conn);
            $data .= join '', map { $_->{value} } @$pk;
            push @methods, $req->{method};
        }
        push @ex, { packets => [{ value => $data }], methods => \@methods,
                    count => scalar @reqs };
    }
    else {
        my @reqs = ref $v eq 'ARRAY' ? @$v : ($v);
        for my $i (0 .. $#reqs) {
            my $hdrs = more_headers($block, $i);
            my $req = Test::Nginx::Compat::Client::parse_request_spec(
                $reqs[$i], keep_body => sent_chunked($hdrs));
            my $pk = Test::Nginx::Compat::Client::build_request(
                $req, $hdrs, 'close');
            push @ex, { packets => $pk, methods => [$req->{method}],
                        count => 1 };
        }
    }
    return \@ex;
}

sub print_curl {
    my ($block, $name) = @_;
    my ($kind, $v) = request_source($block, $name);
    return unless $kind eq 'request';
    my $spec = ref $v eq 'ARRAY' ? $v->[0] : $v;
    my $req = Test::Nginx::Compat::Client::parse_request_spec($spec);
    my @args = ('curl', '-i', '-sS');
    push @args, '-X', $req->{method} unless $req->{method} eq 'GET';
    for my $h (@{ more_headers($block, 0) }) {
        push @args, '-H', "'$h->[0]: $h->[1]'";
    }
    push @args, '--data-binary', "'$req->{body}'" if length $req->{body};
    push @args, "'http://127.0.0.1:$Run{client_port}$req->{uri}'";
    print STDERR "# ", join(' ', @args), "\n";
    return;
}

sub run_requests {
    my ($block, $name, $rep, $from_start, $accum_offset, $accum_aoffset) = @_;

    my $timeout = parse_time(section($block, 'timeout'), 'timeout');
    $timeout = $Run{timeout} unless defined $timeout;
    my $wait = parse_time(section($block, 'wait'), 'wait');
    my $middle = parse_time(section($block, 'raw_request_middle_delay'),
                            'raw_request_middle_delay');
    my $shutdown = section($block, 'shutdown');
    $shutdown = has($block, 'shutdown')
        ? (defined $shutdown && $shutdown =~ /(\d)/ ? $1 : 1) : undef;
    my $host = trim(section($block, 'server_addr_for_client')) || '127.0.0.1';

    print_curl($block, $name) if $rep == 0 && has($block, 'curl');

    my $exchanges = build_exchanges($block, $name);
    my $nreq = 0;
    $nreq += $_->{count} for @$exchanges;

    my $req_idx = 0;
    my $first = $from_start;
    for my $ex (@$exchanges) {
        my $offset = $first ? 0 : $Server->log_size;
        my $aoffset = $first
            ? 0 : $Server->log_size($Server->access_log_path);
        $first = 0;

        my @methods = @{ $ex->{methods} };
        my $complete = sub {
            my $data = shift;
            my $pos = 0;
            for my $m (@methods) {
                my $r = Test::Nginx::Compat::Client::parse_response(
                    substr($data, $pos), head => $m eq 'HEAD');
                return 0 if !$r->{complete} || $r->{until_close};
                $pos += $r->{consumed};
            }
            return 1;
        };

        my $res = Test::Nginx::Compat::Client::exchange(
            host     => $host,
            port     => $Run{client_port},
            packets  => $ex->{packets},
            timeout  => $timeout,
            sleep    => defined $middle ? $middle : $Run{sleep},
            shutdown => $shutdown,
            complete => $complete,
        );

        if ($res->{error}) {
            Test::More::fail("ERROR: $res->{error} - $name");
        }
        elsif ($res->{timed_out} && !has($block, 'abort')) {
            Test::More::fail("ERROR: client socket timed out - $name");
        }

        my $pos = 0;
        my @responses;
        for my $m (@methods) {
            my $r = Test::Nginx::Compat::Client::parse_response(
                substr($res->{data}, $pos), head => $m eq 'HEAD',
                http09 => has($block, 'http09'));
            $pos += $r->{consumed};
            push @responses, $r;
        }
        if ($pos < length $res->{data}) {
            warn "WARNING: $name - unexpected extra bytes after the last"
                . " response: " . esc(substr($res->{data}, $pos, 200)) . "\n";
        }

        sleep $wait if $wait;
        $Server->settle_log(0.02, 0.2) unless $Run{no_manager};

        for my $r (@responses) {
            my $aborted = $res->{timed_out} && has($block, 'abort');
            if ($r->{chunked} && !$r->{complete} && !$aborted) {
                # like Test::Nginx: a chunked response without its last
                # chunk is a failure and nothing of it is checked
                Test::More::fail("$name - no last chunk found - "
                                 . ($r->{warning} || 'truncated'));
                Test::More::diag("body so far: " . esc($r->{body}));
                $r = { %$r, status => undef, headers => {}, body => '',
                       raw_headers => '' };
            }
            elsif ($r->{warning} && !$aborted) {
                warn "WARNING: $name - $r->{warning}\n";
            }
            check_response($block, $name, $r, $req_idx, $nreq, $rep)
                unless has($block, 'ignore_response');
            $req_idx++;
        }

        my $log = $Server->read_log_from(
            $Opt{check_accum} ? $accum_offset : $offset);
        log_warnings($name, $log);
        check_grep($block, $name, $log, $rep);
        check_log_patterns($block, $name, 'error_log', 'no_error_log',
                           $log, $rep, 'error.log');
        if (has($block, 'access_log') || has($block, 'no_access_log')) {
            my $alog = $Server->read_log_from(
                $Opt{check_accum} ? $accum_aoffset : $aoffset,
                $Server->access_log_path);
            check_log_patterns($block, $name, 'access_log', 'no_access_log',
                               $alog, $rep, 'access.log');
        }
    }
    return;
}

# the expected value of a per-request section for request $i
sub expected {
    my ($block, $name, $sec, $i, $nreq) = @_;
    return undef unless has($block, $sec);
    my $v = section($block, $sec);
    if ($nreq > 1) {
        if (ref $v ne 'ARRAY') {
            bail_out("$name - You asked for many requests, the expected"
                     . " results should be arrays as well.");
        }
        return $v->[$i];
    }
    return ref $v eq 'ARRAY' ? $v->[0] : $v;
}

sub check_response {
    my ($block, $name, $r, $i, $nreq, $rep) = @_;

    my $status = defined $r->{status} ? $r->{status} : '';

    # status: always one assertion
    if (has($block, 'error_code_like')) {
        my $p = expected($block, $name, 'error_code_like', $i, $nreq);
        $p = trim($p) unless ref $p;
        Test::More::like($status, ref $p ? $p : qr/$p/,
                         "$name - status code ok");
    }
    else {
        my $e = expected($block, $name, 'error_code', $i, $nreq);
        $e = trim($e) if defined $e;
        $e = 200 unless defined $e && length $e;
        Test::More::is($status, $e, "$name - status code ok");
    }

    for my $sec (qw(raw_response_headers_like raw_response_headers_unlike)) {
        next unless has($block, $sec);
        my $p = expected($block, $name, $sec, $i, $nreq);
        next unless defined $p;
        my $re = ref $p ? $p : qr/$p/s;
        if ($sec =~ /unlike/) {
            Test::More::unlike($r->{raw_headers}, $re,
                               "$name - raw resp headers unlike");
        }
        else {
            Test::More::like($r->{raw_headers}, $re,
                             "$name - raw resp headers like");
        }
    }

    for my $sec (qw(response_headers response_headers_like)) {
        next unless has($block, $sec);
        my $v = expected($block, $name, $sec, $i, $nreq);
        next unless defined $v;
        check_headers($name, $r, $v, $sec eq 'response_headers_like');
        last;
    }

    my $body = $r->{body};
    $body = apply_body_filters($block, $name, $body, $i);

    if (has($block, 'response_body') || has($block, 'response_body_eval')) {
        my $sec = has($block, 'response_body') ? 'response_body'
                                               : 'response_body_eval';
        my $e = expected($block, $name, $sec, $i, $nreq);
        if ($sec eq 'response_body_eval' && defined $e) {
            $e = eval "package main; $e";
            die "compat runner: --- response_body_eval failed: $@" if $@;
        }
        if (defined $e) {
            $e = expand_env($e, $name) unless ref $e;
            local $Test::Builder::Level = $Test::Builder::Level + 1;
            is_str($body, $e, "$name - response_body - response is expected"
                              . " (repeated req $rep, req $i)");
        }
    }
    elsif (has($block, 'response_body_like')) {
        my $p = expected($block, $name, 'response_body_like', $i, $nreq);
        if (defined $p) {
            Test::More::like($body, ref $p ? $p : qr/$p/s,
                             "$name - response_body_like - response is"
                             . " expected (" . short_body($body) . ")");
        }
    }
    elsif (has($block, 'response_body_unlike')) {
        my $p = expected($block, $name, 'response_body_unlike', $i, $nreq);
        if (defined $p) {
            Test::More::unlike($body, ref $p ? $p : qr/$p/s,
                               "$name - response_body_unlike - response is"
                               . " expected (" . short_body($body) . ")");
        }
    }

    for my $check (@{ $Opt{body_checks} }) {
        $check->($block, $body, $i, $rep, 0);
    }
    return;
}

my %BODY_FILTERS = (
    md5_hex  => sub { require Digest::MD5; Digest::MD5::md5_hex($_[0]) },
    sha1_hex => sub { require Digest::SHA; Digest::SHA::sha1_hex($_[0]) },
    length   => sub { length $_[0] },
    uc       => sub { uc $_[0] },
    lc       => sub { lc $_[0] },
    ucfirst  => sub { ucfirst $_[0] },
    lcfirst  => sub { lcfirst $_[0] },
);

sub apply_body_filters {
    my ($block, $name, $body, $i) = @_;

    return $body unless has($block, 'response_body_filters');
    my $f = section($block, 'response_body_filters');
    return $body unless defined $f;

    my @filters;
    if (ref $f eq 'ARRAY') {
        # a two-dimensional array applies per request
        @filters = (@$f && ref $f->[0] eq 'ARRAY') ? @{ $f->[$i] || [] } : @$f;
    }
    elsif (ref $f eq 'CODE') {
        @filters = ($f);
    }
    else {
        @filters = split ' ', $f;
    }

    for my $filter (@filters) {
        my $code = ref $filter eq 'CODE' ? $filter : $BODY_FILTERS{$filter}
            or die "compat runner: unknown response_body_filters filter"
                   . " \"$filter\" in $name\n";
        $body = $code->($body);
    }
    return $body;
}

sub check_headers {
    my ($name, $r, $spec, $like) = @_;

    my @lines = ref $spec eq 'ARRAY' ? @$spec : split /\n/, $spec;
    for my $line (@lines) {
        $line =~ s/\r\z//;
        next unless $line =~ /\S/;

        my ($hname, $value, $absent, $bang);
        if ($line =~ /^\s*!\s*([^:\s]+)\s*$/) {
            ($hname, $absent, $bang) = ($1, 1, 1);
        }
        elsif ($line =~ /^\s*([^:]+?)\s*:\s*(.*?)\s*$/) {
            ($hname, $value) = ($1, $2);
            $absent = 1 if $value eq '';
        }
        else {
            die "compat runner: bad response header line \"$line\" in"
                . " $name\n";
        }

        my $vals = $r->{headers}{ lc $hname };
        my $got = $vals ? join(', ', @$vals) : undef;

        if ($bang) {
            Test::More::ok(!defined $got, "$name - header $hname not present"
                                          . " in the raw headers");
        }
        elsif ($absent) {
            Test::More::is($got, undef, "$name - header $hname ok");
        }
        elsif ($like) {
            Test::More::like(defined $got ? $got : '', qr/$value/,
                             "$name - header $hname like ok");
        }
        else {
            Test::More::is($got, $value, "$name - header $hname ok");
        }
    }
    return;
}

# ------------------------------------------------------------ logs

sub log_warnings {
    my ($name, $log) = @_;
    for my $line (split /\n/, $log) {
        if ($line =~ /\[(?:alert|crit|emerg)\]/) {
            warn "WARNING: $name - $line\n";
        }
        if ($line =~ /Assertion .* failed/) {
            Test::More::fail("$name - assertion failure in error.log");
            Test::More::diag($line);
        }
    }
    return;
}

# patterns of a log section: list of strings / Regexp
sub log_patterns {
    my $v = shift;
    return () unless defined $v;
    return @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v;
    return grep { length } map { s/\r\z//r } split /\n/, $v;
}

sub check_log_patterns {
    my ($block, $name, $pos_sec, $neg_sec, $log, $rep, $file) = @_;

    my @lines = split /\n/, $log;

    my $match = sub {
        my $p = shift;
        if (ref $p eq 'Regexp') {
            for (@lines) { return 1 if $_ =~ $p }
            return 0;
        }
        for (@lines) { return 1 if index($_, $p) >= 0 }
        return 0;
    };

    for my $p (log_patterns(section($block, $pos_sec))) {
        if ($match->($p)) {
            Test::More::pass("$name - pattern \"$p\" matches a line in"
                             . " $file (req $rep)");
        }
        else {
            Test::More::fail("$name - pattern \"$p\" should match a line in"
                             . " $file (req $rep)");
        }
    }

    for my $p (log_patterns(section($block, $neg_sec))) {
        if (!$match->($p)) {
            Test::More::pass("$name - pattern \"$p\" does not match a line"
                             . " in $file (req $rep)");
        }
        else {
            my ($hit) = grep {
                ref $p eq 'Regexp' ? $_ =~ $p : index($_, $p) >= 0
            } @lines;
            (my $q = $hit) =~ s/(["\\])/\\$1/g;
            Test::More::fail("$name - pattern \"$p\" should not match any"
                             . " line in $file but matches line \"$q\""
                             . " (req $rep)");
        }
    }
    return;
}

sub check_grep {
    my ($block, $name, $log, $rep) = @_;

    return unless has($block, 'grep_error_log');
    my $p = section($block, 'grep_error_log');
    return unless defined $p;

    my @found;
    for my $line (split /\n/, $log) {
        if (ref $p eq 'Regexp') {
            while ($line =~ /$p/g) {
                push @found, $&;
                last if length($&) == 0;
            }
        }
        else {
            next unless length $p;
            my $at = 0;
            while ((my $i = index($line, $p, $at)) >= 0) {
                push @found, $p;
                $at = $i + length $p;
            }
        }
    }
    my $got = join '', map { "$_\n" } @found;

    return unless has($block, 'grep_error_log_out');
    my $e = section($block, 'grep_error_log_out');
    $e = $e->[$rep] if ref $e eq 'ARRAY';
    $e = '' unless defined $e;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is_str($got, $e, "$name - grep_error_log_out (req $rep)");
    return;
}

1;
