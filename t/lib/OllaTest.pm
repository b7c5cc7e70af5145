package OllaTest;

# Small helpers for the suites: plain HTTP requests from Perl (for
# "--- init" code and checks that need timing or concurrency), requests in
# the background, the test nginx's pid, waiting for a condition.  Core Perl
# only, so the suites run under openresty's Test::Nginx and under the
# repository's compatible runner alike.

use strict;
use warnings;

use Cwd qw(cwd);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

our @children;

sub root {
    return $ENV{TEST_NGINX_OLLA_ROOT} || cwd();
}

sub port {
    return $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
}

# BODY in HTTP/1.1 chunked framing, SIZE bytes a chunk, the last chunk too

sub chunks {
    my ($body, $size) = @_;
    return join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) }
                    unpack "(a$size)*", $body) . "0\r\n\r\n";
}

# http(METHOD, PATH_OR_URL, headers => {...}, body => '...', timeout => s,
#      chunked => SIZE (the body sent chunked, SIZE bytes a chunk))
# returns { status => n, headers => { lc name => value }, body => '...',
#           events => [ [t, bytes], ... ] } (arrival time of each read)

sub http {
    my ($method, $url, %o) = @_;

    my ($host, $port, $path) = ('127.0.0.1', port(), $url);

    if ($url =~ m{^http://([^/:]+):(\d+)(/.*)?$}) {
        ($host, $port, $path) = ($1, $2, $3 // '/');
    }

    my $timeout = $o{timeout} // 10;
    my $start = time;

    my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                     Proto => 'tcp', Timeout => $timeout)
        or return { status => 0, error => "connect: $!" };

    my $body = $o{body} // '';
    my $proto = $o{http10} ? 'HTTP/1.0' : 'HTTP/1.1';
    my $req = "$method $path $proto\r\nHost: localhost\r\n"
            . "Connection: close\r\n";

    for my $k (sort keys %{ $o{headers} || {} }) {
        $req .= "$k: $o{headers}{$k}\r\n";
    }

    if ($o{chunked}) {
        # the body in chunks of that many bytes, a buffer each in nginx
        $req .= "Transfer-Encoding: chunked\r\n\r\n" . chunks($body, $o{chunked});

    } else {
        $req .= "Content-Length: " . length($body) . "\r\n"
            if length $body || $method eq 'POST';
        $req .= "\r\n" . $body;
    }

    print $sock $req;

    my ($raw, @events) = ('');
    my $sel = '';
    vec($sel, fileno($sock), 1) = 1;

    while (1) {
        my $left = $timeout - (time - $start);
        last if $left <= 0;

        my $r = $sel;
        last unless select($r, undef, undef, $left);

        my $n = sysread($sock, my $buf, 65536);
        last unless $n;

        if ($o{discard}) {
            # count, keep the head and the tail only (long streams)
            $o{discard}{bytes} += $n;
            $raw .= $buf if length $raw < 4096;
            $o{discard}{tail} = substr(($o{discard}{tail} // '') . $buf, -4096);
            next;
        }

        push @events, [time - $start, $buf];
        $raw .= $buf;
    }

    close $sock;

    my ($head, $rest) = split /\r\n\r\n/, $raw, 2;
    return { status => 0, error => 'no response', raw => $raw }
        unless defined $head && $head =~ m{^HTTP/1\.\d (\d+)};

    my %res = (status => $1, headers => {}, events => \@events);

    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*)$/;
        $res{headers}{ lc $1 } = $2;
    }

    $rest //= '';

    if (($res{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $decoded = '';
        while ($rest =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $len = hex $1;
            last if $len == 0;
            $decoded .= substr($rest, 0, $len, '');
            $rest =~ s/^\r\n//;
        }
        $rest = $decoded;
    }

    $res{body} = $rest;

    return \%res;
}

# a request in a child process; returns at once
sub background {
    my (@args) = @_;

    my $pid = fork();
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        http(@args);
        POSIX::_exit(0);
    }

    push @children, $pid;
    return $pid;
}

# peak and current resident memory of a process, in kB
sub memory {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return (0, 0);
    my ($hwm, $rss) = (0, 0);
    while (<$fh>) {
        $hwm = $1 if /^VmHWM:\s+(\d+)/;
        $rss = $1 if /^VmRSS:\s+(\d+)/;
    }
    close $fh;
    return ($hwm, $rss);
}

sub nginx_pid {
    my $servroot = $ENV{TEST_NGINX_SERVROOT} || root() . '/t/servroot';
    open my $fh, '<', "$servroot/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    chomp $pid if defined $pid;
    return $pid;
}

# wait_until(sub { ... true when done ... }, seconds)
#
# "--- no_error_log eval" for blocks with an endpoint meant to be down:
# no [error] line but the module's own report of an endpoint going offline
# or answering with a configuration error (logged at error on purpose)
our $NoError = qr/\[error\](?!\s+\d+#\d+: olla: endpoint "[^"]*" \([^)]*\) is (?:offline|config_error), was )/;

# Tests wait for a state they can observe (a field of olla_status, a
# mock's counter, a log line, a process), never a fixed time hoping that a
# probe, a timer or a request has happened by then.

sub wait_until {
    my ($cond, $limit) = @_;
    my $end = time + ($limit // 10);

    while (time < $end) {
        return 1 if $cond->();
        sleep 0.05;
    }

    return 0;
}

# the status path the waits below read (a location with "olla_status")
our $StatusPath = '/internal/status/endpoints';

# the decoded JSON of GET PATH (default: $StatusPath); undef unless 200
sub status_json {
    my ($path) = @_;
    my $r = http(GET => $path // $StatusPath, timeout => 5);
    return undef unless $r->{status} == 200;
    require JSON::PP;
    return eval { JSON::PP::decode_json($r->{body}) };
}

# the record of endpoint NAME in status/endpoints; undef if none
sub endpoint {
    my ($name, $path) = @_;
    my $st = status_json($path);
    return undef unless ref $st eq 'HASH' && ref $st->{endpoints} eq 'ARRAY';
    my ($e) = grep { $_->{name} eq $name } @{ $st->{endpoints} };
    return $e;
}

# wait_endpoint(NAME, sub { my $e = shift; ... }, seconds, path): until the
# record of NAME satisfies the condition; returns the record, or undef
# (with a diagnostic naming what was awaited and the last record)
sub wait_endpoint {
    my ($name, $cond, $limit, $path, $what) = @_;
    my $last;
    my $ok = wait_until(sub {
        $last = endpoint($name, $path);
        return $last && $cond->($last);
    }, $limit // 20);
    return $last if $ok;
    require JSON::PP;
    Test::More::diag("timed out waiting for endpoint \"$name\""
                     . (defined $what ? " ($what)" : '') . "; last: "
                     . (defined $last ? JSON::PP->new->canonical->encode($last)
                                      : 'none'));
    return undef;
}

# the health probes (model list GETs) the mock on PORT has counted since
# its last reset
sub mock_probes {
    my ($port) = @_;
    require OllaMock;
    my $st = OllaMock::stats($port);
    return ref $st eq 'HASH' ? ($st->{models_gets} // 0) : 0;
}

# until the mock on PORT has answered N health probes (model list GETs):
# N counted, and none in flight any more, so the answers were written (and
# logged by the mock) before this returns
sub wait_probes {
    my ($port, $n, $limit) = @_;
    require OllaMock;
    return wait_until(sub {
        my $st = OllaMock::stats($port);
        return ref $st eq 'HASH' && ($st->{models_gets} // 0) >= ($n // 1)
            && ($st->{in_flight} // 0) == 0;
    }, $limit // 20);
}

# how many requests for PATH the mock on PORT (or on each port of an array
# ref, added up) has started serving since its last reset
sub mock_requests {
    my ($ports, $path) = @_;
    require OllaMock;
    my $n = 0;
    for my $port (ref $ports ? @$ports : ($ports)) {
        my $st = OllaMock::stats($port);
        $n += ref $st eq 'HASH' ? ($st->{paths}{$path} // 0) : 0;
    }
    return $n;
}

# until N requests for PATH have reached the mock on PORT (or the mocks of
# an array ref of ports, added up): a request sent through nginx is then
# in flight there
sub wait_mock_requests {
    my ($ports, $path, $n, $limit) = @_;
    my $got = 0;
    my $ok = wait_until(sub {
        $got = mock_requests($ports, $path);
        return $got >= ($n // 1);
    }, $limit // 10);
    Test::More::diag("timed out waiting for $n request(s) of $path at the"
                     . " mock(s) on " . join(',', ref $ports ? @$ports : $ports)
                     . " (got $got)") unless $ok;
    return $ok;
}

# until no endpoint in status/endpoints is still "unknown" (each has had
# its first probe, and its model list is stored)
sub wait_status_settled {
    my ($path, $limit) = @_;
    return wait_until(sub {
        my $r = http(GET => $path // $StatusPath);
        return $r->{status} == 200 && $r->{body} !~ /"status":"unknown"/;
    }, $limit // 20);
}

# the pids of the processes whose parent is PID (nginx's workers)
sub children_of {
    my ($pid) = @_;
    my @kids;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $st = <$fh>;
        close $fh;
        # pid (comm) state ppid ...; comm may hold spaces and parens
        push @kids, $p if defined $st && $st =~ /.*\)\s+\S+\s+(\d+)/s
                          && $1 == $pid;
    }
    closedir $d;
    return sort { $a <=> $b } @kids;
}

# nginx_lacks(directive => NAME, server => 'NAME ...;' or location => ...,
#             module => WHY, block => NAME, quiet => 0|1): true (with a
#             diagnostic saying why, unless quiet) when the
# nginx under test, with TEST_NGINX_LOAD_MODULES loaded, does not know the
# directive: an optional module (not built by default) is missing.  For
# "--- skip_eval: N: OllaTest::nginx_lacks(...)", which openresty's
# Test::Nginx and the compat runner both support.  Any other failure of
# "nginx -t" is not a reason to skip: the block runs and says what fails.
our %Lacks;

sub nginx_lacks {
    my (%o) = @_;
    my $d = $o{directive};

    if (!exists $Lacks{$d}) {
        require File::Temp;
        my $nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
        my $dir = File::Temp::tempdir('olla-lacks-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);
        open my $fh, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!";
        print $fh map { "load_module $_;\n" }
                  split ' ', $ENV{TEST_NGINX_LOAD_MODULES} // '';
        print $fh "error_log $dir/error.log;\npid $dir/nginx.pid;\n"
                . "events {}\nhttp {\n"
                . join('', map { "    ${_}_temp_path $dir/$_;\n" }
                               qw(client_body proxy fastcgi uwsgi scgi))
                . "    server {\n        listen 127.0.0.1:1;\n"
                . "        " . ($o{server} // '') . "\n"
                . "        location / { " . ($o{location} // '') . " }\n"
                . "    }\n}\n";
        close $fh;
        my $out = `\Q$nginx\E -t -p \Q$dir\E/ -c \Q$dir\E/nginx.conf 2>&1`;
        $Lacks{$d} = $? != 0 && $out =~ /unknown directive "\Q$d\E"/ ? 1 : 0;
    }

    if ($Lacks{$d} && !$o{quiet}) {
        Test::More::diag(($o{block} ? "$o{block}: " : '')
            . "skipped: this nginx has no \"$d\" directive"
            . ($o{module} ? " ($o{module})" : ''));
    }

    return $Lacks{$d};
}

# a self-signed certificate for a TLS mock; returns (cert, key)
sub tls_cert {
    my ($dir) = @_;

    my ($crt, $key) = ("$dir/olla-test.crt", "$dir/olla-test.key");

    unless (-s $crt && -s $key) {
        system("openssl req -x509 -newkey rsa:2048 -nodes -days 2"
               . " -subj /CN=localhost -keyout $key -out $crt"
               . " >/dev/null 2>&1") == 0
            or die "openssl could not make a test certificate";
    }

    return ($crt, $key);
}

END {
    local $?;    # waitpid must not change the test's exit status

    for my $pid (@children) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

1;
