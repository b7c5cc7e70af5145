package Test::Nginx::Compat::Server;

# Part of the clean-room Test::Nginx::Socket compatible runner (see
# t/compat-lib/Test/Nginx/Socket.pm).  This package owns the nginx side:
# the server root, the generated nginx.conf, starting and stopping the
# server and reading its logs.  Written from Test::Nginx's documentation
# and observed behaviour only.

use strict;
use warnings;

use Cwd qw(cwd);
use File::Path qw(mkpath rmtree);
use File::Spec;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

# environment variables nginx keeps by default (documented list)
our @DEFAULT_ENV = qw(
    MOCKEAGAIN_VERBOSE MOCKEAGAIN MOCKEAGAIN_WRITE_TIMEOUT_PATTERN
    LD_PRELOAD LD_LIBRARY_PATH DYLD_INSERT_LIBRARIES
    DYLD_FORCE_FLAT_NAMESPACE ASAN_OPTIONS MOCKNOEAGAIN_VERBOSE MOCKNOEAGAIN
);

our @TEMP_DIRS = qw(client_body_temp proxy_temp fastcgi_temp scgi_temp
                    uwsgi_temp);

sub new {
    my ($class, %args) = @_;

    my $self = bless {
        binary    => $args{binary},
        servroot  => $args{servroot},
        port      => $args{port},
        verbose   => $args{verbose},
        valgrind  => $args{valgrind},    # option string or undef
        pid       => undef,              # nginx (master or single) pid
        child     => undef,              # pid of our child when not daemon
        version   => undef,
    }, $class;

    return $self;
}

sub servroot { $_[0]{servroot} }
sub port     { $_[0]{port} }
sub binary   { $_[0]{binary} }

sub path {
    my ($self, @parts) = @_;
    return File::Spec->catfile($self->{servroot}, @parts);
}

sub error_log_path { $_[0]->path('logs', 'error.log') }
sub access_log_path { $_[0]->path('logs', 'access.log') }
sub stderr_path { $_[0]->path('logs', 'nginx-stderr.log') }
sub pid_path { $_[0]->path('logs', 'nginx.pid') }
sub conf_path { $_[0]->path('conf', 'nginx.conf') }
sub html_dir { $_[0]->path('html') }

# "nginx version: nginx/1.22.1" -> (1, 22, 1); cached
sub version {
    my $self = shift;

    return @{ $self->{version} } if $self->{version};

    my $bin = $self->{binary};
    my $out = `\Q$bin\E -v 2>&1`;
    if ($? != 0 || !defined $out
        || $out !~ m{nginx version: [^/\s]+/(\d+)\.(\d+)\.(\d+)})
    {
        $out = '' unless defined $out;
        die "compat runner: cannot run \"$bin -v\" (set TEST_NGINX_BINARY):"
            . " $out\n";
    }
    $self->{version} = [$1, $2, $3];
    return @{ $self->{version} };
}

sub version_num {
    my $self = shift;
    my @v = $self->version;
    return $v[0] * 1000000 + $v[1] * 1000 + $v[2];
}

# "-e" (error log at startup) exists since nginx 1.19.5
sub supports_e_flag {
    my $self = shift;
    return $self->version_num >= 1019005;
}

# (re)create the directory skeleton; logs and conf are emptied, html
# is recreated, temp directories are kept
sub prepare_servroot {
    my $self = shift;

    my $root = $self->{servroot};
    mkpath($root) unless -d $root;

    for my $dir ('conf', 'logs', @TEMP_DIRS) {
        my $p = $self->path($dir);
        mkpath($p) unless -d $p;
    }

    for my $dir ('conf', 'logs') {
        my $p = $self->path($dir);
        opendir(my $dh, $p) or die "compat runner: opendir $p: $!\n";
        for my $f (readdir $dh) {
            next if $f eq '.' || $f eq '..';
            my $fp = File::Spec->catfile($p, $f);
            if (-d $fp && !-l $fp) {
                rmtree($fp);
            }
            else {
                unlink $fp;
            }
        }
        closedir $dh;
    }

    my $html = $self->html_dir;
    rmtree($html) if -d $html;
    mkpath($html);
    return;
}

# $files: [[name, content, mtime-or-undef], ...]
sub write_user_files {
    my ($self, $files) = @_;

    for my $f (@$files) {
        my ($name, $content, $mtime) = @$f;
        my $path = File::Spec->catfile($self->html_dir, $name);
        my ($vol, $dir) = File::Spec->splitpath($path);
        mkpath($dir) if length $dir && !-d $dir;
        open my $fh, '>', $path
            or die "compat runner: cannot write $path: $!\n";
        binmode $fh;
        print $fh $content;
        close $fh;
        if (defined $mtime) {
            utime $mtime, $mtime, $path;
        }
    }
    return;
}

sub write_file {
    my ($self, $path, $content) = @_;
    open my $fh, '>', $path or die "compat runner: cannot write $path: $!\n";
    binmode $fh;
    print $fh $content;
    close $fh or die "compat runner: cannot write $path: $!\n";
    return;
}

sub read_file {
    my ($self, $path) = @_;
    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    my $data = <$fh>;
    close $fh;
    return defined $data ? $data : '';
}

# Build nginx.conf following the documented skeleton.  %a keys:
# workers master daemon log_level env (arrayref of env lines)
# load_modules (arrayref) main_config http_config config post_main_config
# server_name root_location preamble worker_connections event_type
# postpone_output reuse_port user
sub build_config {
    my ($self, %a) = @_;

    my $root = $self->{servroot};
    my $logs = $self->path('logs');
    my $out = '';

    $out .= "worker_processes  $a{workers};\n";
    $out .= "daemon $a{daemon};\n";
    $out .= "master_process $a{master};\n";
    $out .= "error_log $logs/error.log $a{log_level};\n";
    $out .= "pid       $logs/nginx.pid;\n";

    for my $e (@{ $a{env} || [] }) {
        $out .= "env $e;\n";
    }
    $out .= "\n";

    for my $m (@{ $a{load_modules} || [] }) {
        $out .= "load_module $m;\n";
    }
    $out .= "\n";

    $out .= "$a{main_config}\n" if defined $a{main_config};

    my @temp = map { "${_}_path $root/$_;" } @TEMP_DIRS;

    $out .= "http {\n";
    $out .= "    access_log $logs/access.log;\n";
    $out .= "    $_\n" for @temp;
    $out .= "\n";
    $out .= "    default_type text/plain;\n";
    $out .= "    keepalive_timeout  68000ms;\n";
    $out .= "    postpone_output $a{postpone_output};\n"
        if defined $a{postpone_output} && length $a{postpone_output};
    $out .= "\n";
    $out .= "$a{http_config}\n" if defined $a{http_config};
    $out .= "\n";
    $out .= "    server {\n";
    $out .= "        listen          $self->{port}"
        . ($a{reuse_port} ? ' reuseport' : '') . ";\n";
    $out .= "        server_name     '$a{server_name}';\n";
    $out .= "\n";
    $out .= "        client_max_body_size 30M;\n";
    $out .= "\n";
    $out .= "        # Begin preamble config...\n";
    $out .= "$a{preamble}\n" if defined $a{preamble} && length $a{preamble};
    $out .= "        # End preamble config...\n";
    $out .= "\n";
    $out .= "        # Begin test case config...\n";
    $out .= "$a{config}\n" if defined $a{config};
    $out .= "        # End test case config.\n";
    $out .= "\n";

    if ($a{root_location}) {
        $out .= "        location / {\n";
        $out .= "            root $root/html;\n";
        $out .= "            index index.html index.htm;\n";
        $out .= "        }\n";
    }

    $out .= "    }\n";
    $out .= "}\n";
    $out .= "\n";
    $out .= "$a{post_main_config}\n" if defined $a{post_main_config};
    $out .= "\n";
    $out .= "events {\n";
    $out .= "    accept_mutex off;\n";
    $out .= "    worker_connections  $a{worker_connections};\n";
    $out .= "    use $a{event_type};\n" if $a{event_type};
    $out .= "}\n";
    $out .= "user $a{user};\n" if $a{user};

    return $out;
}

# the argv that runs nginx (without valgrind)
sub nginx_argv {
    my $self = shift;

    my @argv = ($self->{binary});
    push @argv, '-e', $self->error_log_path if $self->supports_e_flag;
    push @argv, '-p', "$self->{servroot}/", '-c', $self->conf_path;
    return @argv;
}

sub valgrind_argv {
    my $self = shift;

    my $opts = $self->{valgrind};
    return () unless defined $opts;

    my @argv = ('valgrind', '-q', split(' ', $opts),
                '--gen-suppressions=all');
    push @argv, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
    if ($ENV{TEST_NGINX_VALGRIND_EXIT_ON_FIRST_ERR}) {
        push @argv, '--exit-on-first-error=yes', '--error-exitcode=1';
    }
    return @argv;
}

# fork + exec; stdout to /dev/null, stderr to $stderr_file (appended)
# or inherited when undef
sub spawn {
    my ($self, $argv, $stderr_file) = @_;

    my $pid = fork;
    die "compat runner: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        if (defined $stderr_file) {
            open STDERR, '>>', $stderr_file;
        }
        { no warnings 'exec'; exec { $argv->[0] } @$argv; }
        print STDERR "compat runner: exec $argv->[0]: $!\n";
        POSIX::_exit(127);
    }

    return $pid;
}

# wait up to $timeout for $pid (our child) to exit; returns the wait
# status or undef if still running
sub wait_child {
    my ($self, $pid, $timeout) = @_;

    my $deadline = time + $timeout;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        return -1 if $r == -1;    # not our child / already reaped
        return undef if time >= $deadline;
        sleep 0.01;
    }
}

sub read_pid_file {
    my $self = shift;
    my $data = $self->read_file($self->pid_path);
    return $data =~ /^\s*(\d+)/ ? $1 : undef;
}

sub alive {
    my ($self, $pid) = @_;
    return 0 unless $pid;
    if ($self->{child} && $self->{child} == $pid) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid || $r == -1) {
            $self->{child} = undef;
            return 0;
        }
        return 1;
    }
    return 0 unless kill(0, $pid);

    # a daemon that exited stays a zombie until init reaps it
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh>;
        close $fh;
        return 0 if defined $stat && $stat =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

sub running {
    my $self = shift;
    return $self->{pid} && $self->alive($self->{pid});
}

# Start nginx.  Returns (1) on success or (0, $message) on failure.
# Options: daemon (bool), wait (seconds to wait for the pid file),
# suppress_stderr.
sub start {
    my ($self, %o) = @_;

    unlink $self->pid_path;
    my $stderr = $self->stderr_path;

    if ($o{daemon}) {
        my $pid = $self->spawn([$self->nginx_argv], $stderr);
        my $status = $self->wait_child($pid, $o{wait} || 10);
        if (!defined $status) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            return (0, "nginx did not daemonize in time");
        }
        $self->echo_stderr unless $o{suppress_stderr};
        if ($status != 0) {
            return (0, sprintf("nginx exited with status %d: %s",
                               $status >> 8, $self->startup_output));
        }
    }
    else {
        my @argv = ($self->valgrind_argv, $self->nginx_argv);
        # valgrind reports and nginx's own stderr stay on our stderr
        $self->{child} = $self->spawn(\@argv, undef);
    }

    my $deadline = time + ($o{wait} || 10);
    while (time < $deadline) {
        my $pid = $self->read_pid_file;
        if ($pid && $self->alive($pid)) {
            $self->{pid} = $pid;
            return (1);
        }
        if ($self->{child} && !$self->alive($self->{child})) {
            return (0, "nginx exited during startup: "
                       . $self->startup_output);
        }
        sleep 0.01;
    }

    if ($self->{child}) {
        kill 'KILL', $self->{child};
        waitpid($self->{child}, 0);
        $self->{child} = undef;
    }
    return (0, "no pid file after startup: " . $self->startup_output);
}

sub startup_output {
    my $self = shift;
    my $out = $self->read_file($self->stderr_path);
    my $log = $self->read_file($self->error_log_path);
    my @lines = grep { /\[(?:emerg|alert|crit)\]/ } split /\n/, $log;
    my $text = $out;
    $text .= join("\n", @lines) . "\n" if @lines && index($out, $lines[0]) < 0;
    $text =~ s/\s+\z//;
    return $text;
}

sub echo_stderr {
    my $self = shift;
    my $out = $self->read_file($self->stderr_path);
    print STDERR $out if length $out;
    return;
}

# Run nginx expecting it to fail (must_die).  Returns a hashref:
# { died => bool, status => exit code or undef, output => stderr text }
sub run_must_die {
    my ($self, %o) = @_;

    unlink $self->pid_path;
    my $stderr = $self->stderr_path;
    my $pid = $self->spawn([$self->nginx_argv], $stderr);
    my $status = $self->wait_child($pid, $o{wait} || 10);
    $self->echo_stderr unless $o{suppress_stderr};

    my %r = (output => $self->read_file($stderr));

    if (!defined $status) {
        # still in the foreground (daemon off): it did not die
        kill 'QUIT', $pid;
        if (!defined $self->wait_child($pid, 3)) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
        $r{died} = 0;
        return \%r;
    }

    $r{status} = $status >> 8;
    if ($status == 0) {
        # daemonized: stop the daemon
        sleep 0.1;
        my $dpid = $self->read_pid_file;
        if ($dpid) {
            $self->{pid} = $dpid;
            $self->stop;
        }
        $r{died} = 0;
        return \%r;
    }

    $r{died} = 1;
    return \%r;
}

# QUIT (or TERM), then KILL after $timeout seconds
sub stop {
    my ($self, %o) = @_;

    my $pid = $self->{pid} || $self->{child};
    return unless $pid;

    my $timeout = $o{timeout} || 5;
    my $sig = $ENV{TEST_NGINX_FAST_SHUTDOWN} ? 'TERM' : 'QUIT';

    if ($self->alive($pid)) {
        kill $sig, $pid;
        my $deadline = time + $timeout;
        while ($self->alive($pid) && time < $deadline) {
            sleep 0.01;
        }
        if ($self->alive($pid)) {
            warn "WARNING: nginx (pid $pid) did not exit after $sig in "
                . "${timeout}s; killing it\n";
            kill 'KILL', $pid;
            my $d2 = time + 5;
            while ($self->alive($pid) && time < $d2) {
                sleep 0.01;
            }
        }
    }

    if ($self->{child}) {
        waitpid($self->{child}, 0);
        $self->{child} = undef;
    }
    $self->{pid} = undef;
    unlink $self->pid_path;
    return;
}

# an nginx left running by an earlier run in the same server root
sub kill_stale {
    my $self = shift;

    my $pid = $self->read_pid_file;
    return unless $pid && kill(0, $pid);

    my $cmdline = $self->read_file("/proc/$pid/cmdline");
    if (-e "/proc/$pid" && $cmdline !~ /nginx|valgrind/) {
        return;    # the pid was reused by something else
    }

    warn "compat runner: stopping nginx (pid $pid) left running in "
        . "$self->{servroot}\n" if $self->{verbose};
    $self->{pid} = $pid;
    $self->stop(timeout => 3);
    return;
}

sub log_size {
    my ($self, $path) = @_;
    $path ||= $self->error_log_path;
    my @st = stat $path;
    return @st ? $st[7] : 0;
}

# the bytes of $path from $offset on
sub read_log_from {
    my ($self, $offset, $path) = @_;

    $path ||= $self->error_log_path;
    open my $fh, '<', $path or return '';
    binmode $fh;
    seek $fh, $offset, 0 if $offset;
    local $/;
    my $data = <$fh>;
    close $fh;
    return defined $data ? $data : '';
}

# wait until the log has not grown for $quiet seconds (at most $max)
sub settle_log {
    my ($self, $quiet, $max) = @_;

    my $deadline = time + $max;
    my $size = $self->log_size;
    my $since = time;
    while (time < $deadline) {
        sleep 0.01;
        my $now = $self->log_size;
        if ($now != $size) {
            $size = $now;
            $since = time;
        }
        elsif (time - $since >= $quiet) {
            last;
        }
    }
    return;
}

# a free TCP port on 127.0.0.1 not in %$taken
sub free_port {
    my ($class, $taken) = @_;

    for (1 .. 1000) {
        my $port = 20000 + int(rand(40000));
        next if $taken && $taken->{$port};
        my $ok = 1;
        for my $addr ('127.0.0.1', '0.0.0.0') {
            my $s = IO::Socket::INET->new(
                LocalAddr => $addr,
                LocalPort => $port,
                Proto     => 'tcp',
                Listen    => 1,
                ReuseAddr => 0,
            );
            if (!$s) {
                $ok = 0;
                last;
            }
            close $s;
        }
        return $port if $ok;
    }
    die "compat runner: cannot find a free port\n";
}

1;
