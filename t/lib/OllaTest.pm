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

# http(METHOD, PATH_OR_URL, headers => {...}, body => '...', timeout => s)
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

    $req .= "Content-Length: " . length($body) . "\r\n"
        if length $body || $method eq 'POST';
    $req .= "\r\n" . $body;

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
sub wait_until {
    my ($cond, $limit) = @_;
    my $end = time + ($limit // 10);

    while (time < $end) {
        return 1 if $cond->();
        sleep 0.05;
    }

    return 0;
}

# until the mock on PORT has answered N health probes (model list GETs)
sub wait_probes {
    my ($port, $n, $limit) = @_;
    require OllaMock;
    return wait_until(sub {
        my $st = OllaMock::stats($port);
        return ref $st eq 'HASH' && ($st->{models_gets} // 0) >= ($n // 1);
    }, $limit // 20);
}

# until no endpoint in /internal/status/endpoints is still "unknown"
sub wait_status_settled {
    my ($path, $limit) = @_;
    return wait_until(sub {
        my $r = http(GET => $path // '/internal/status/endpoints');
        return $r->{status} == 200 && $r->{body} !~ /"status":"unknown"/;
    }, $limit // 20);
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
