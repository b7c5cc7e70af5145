package OllaMock;

# A mock LLM backend (Docker Model Runner, Ollama, llama.cpp, vLLM, ...)
# for the Test::Nginx suites.  Core Perl only, so it runs under
# openresty's Test::Nginx and under the compatible runner alike.
#
#   use lib 't/lib';
#   use OllaMock;
#   my @ports = OllaMock::start(names => ['dmr-a', 'dmr-b']);
#   # $ENV{TEST_NGINX_MOCK_PORT_1}, $ENV{TEST_NGINX_MOCK_PORT_2} are set
#
# One forked server process listens on every port (127.0.0.1) and forks
# a handler per connection (HTTP/1.1 keep-alive, chunked request
# bodies).  Behaviour settings and counters live in files in a state
# directory so that every handler sees them.  Everything is killed in
# END (of the process that called start()).
#
# Models answer: GET of a path ending in "/models" or "/api/tags" answers
# the port's models settings: 200 {"object":"list","data":[]}
# ({"models":[]} for /api/tags) application/json by default.
#
# Control API, on every port (controls for port P may go to any port;
# without port= they apply to the port that received them):
#   GET /_mock/set?port=P&models_status=500&models_body=...
#       &models_content_type=...&models_delay=0.5&retry_after=2
#       &models_header=Name:%20value (repeatable)
#       &mode=normal|up|down|hang|close|reset
#   GET /_mock/reset[?port=P]     defaults, counters and logs (all ports)
#   GET /_mock/stats[?port=P]     counters as JSON
#   GET /_mock/log[?port=P][&n=N] the last N non-control requests
#   GET /_mock/sleep?s=1.5        answers after s seconds
#   GET /_mock/until?url=U&endpoint=NAME&status=S&min_probes=N&timeout=T
#       answers once GET U (a path on the test nginx, default
#       /internal/status/endpoints, or an http:// URL) shows it: the record
#       of endpoint NAME has every given field (status=..., circuit=...,
#       any field of the record) equal to the value, and every min_FIELD
#       at least the number; or, with match=REGEX, the body matches.
#       200 {"matched":true,...}, or 504 with the last body after T seconds
#       (default 10).  A block's request list waits with it for a state
#       (a probe's verdict) instead of sleeping.
#   GET /_mock/ports              [{"port":P,"name":NAME}, ...]
# Modes: "down" closes the listening socket (connections are refused;
# kept-alive connections are dropped at their next request) until "up"
# (or "normal", or a reset); "hang" reads requests and never answers;
# "close" closes the connection after reading a request; "reset" does
# the same with a TCP RST.  Modes apply to every non-control request.
#
# Any other request is answered according to its X-Mock-* headers:
#   (none)                 200 application/json echo: {"mock":NAME,
#                          "port":P,"method":..,"uri":..,"headers":{..},
#                          "body_length":N,"body_sha256":HEX,"model":..}
#   X-Mock-Status: N       status code
#   X-Mock-Body: text      literal body (application/json)
#   X-Mock-Content-Type: t content type
#   X-Mock-Header: N: v    extra response header (repeatable)
#   X-Mock-Delay: S        seconds before the response header
#   X-Mock-SSE: N          text/event-stream, chunked: N OpenAI
#                          chat.completion.chunk events ("tok0".."tokN-1"),
#                          a finish_reason "stop" event, data: [DONE]
#   X-Mock-Interval: S     seconds between events (default 0)
#   X-Mock-First-Delay: S  seconds between the response header and the
#                          first event (a prompt being read)
#   X-Mock-Cut: K          close the connection after K events (no
#                          terminating chunk)
#   X-Mock-Cut-Reset: 1    with a cut: a TCP RST instead of a close
#   X-Mock-Cut-Bytes: N    close the connection after N bytes of events
#                          (within an event, a line)
#   X-Mock-Replay: path    replay a file (relative to the repository
#                          root): *.sse one event (blank-line separated
#                          block) per chunk, else the file as the body
#   X-Mock-Lines: 1        with X-Mock-Replay: one line of the file per
#                          chunk, as a stream (NDJSON)
#   X-Mock-Stream-Bytes: N an SSE stream of about N bytes, as fast as
#                          possible, then finish_reason "stop" + [DONE]

use strict;
use warnings;

use Cwd qw(cwd);
use Digest::SHA ();
use Errno qw(EINTR EAGAIN EWOULDBLOCK);
use Fcntl qw(:flock);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Socket qw(SOL_SOCKET SO_LINGER IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep time);

our $VERSION = '1.0';

our $ServerPid;        # the forked server
our $OwnerPid;         # the process that called start()
our $StateDir;
our @Ports;
our %Name;             # port => name
our $Root;             # for X-Mock-Replay

my $JSON = JSON::PP->new->canonical(1)->allow_nonref(1)->ascii(1);

my %DEFAULT_CONF = (
    mode                => 'normal',
    models_status       => 200,
    models_body         => undef,     # per-path default
    models_content_type => 'application/json',
    models_delay        => 0,
    retry_after         => undef,
    models_header       => [],
);

my $MODELS_BODY = '{"object":"list","data":[]}';
my $TAGS_BODY = '{"models":[]}';

my %REASON = (
    100 => 'Continue', 200 => 'OK', 201 => 'Created', 202 => 'Accepted',
    204 => 'No Content', 301 => 'Moved Permanently', 302 => 'Found',
    304 => 'Not Modified', 400 => 'Bad Request', 401 => 'Unauthorized',
    403 => 'Forbidden', 404 => 'Not Found', 405 => 'Method Not Allowed',
    408 => 'Request Timeout', 409 => 'Conflict', 413 => 'Payload Too Large',
    422 => 'Unprocessable Entity', 429 => 'Too Many Requests',
    500 => 'Internal Server Error', 501 => 'Not Implemented',
    502 => 'Bad Gateway', 503 => 'Service Unavailable',
    504 => 'Gateway Timeout',
);

# ------------------------------------------------------------ public

# start(names => [...], ports => [...], state_dir => DIR, root => DIR)
# Returns the ports, in the order of names; sets TEST_NGINX_MOCK_PORT_i.
sub start {
    my (%o) = @_;

    die "OllaMock::start: already started\n" if $ServerPid;

    my @names = @{ $o{names} || [] };
    my @want = @{ $o{ports} || [] };
    if (!@names) {
        my $n = $o{count} || scalar(@want) || 1;
        @names = map { "mock-$_" } 1 .. $n;
    }

    $Root = $o{root} || $ENV{TEST_NGINX_OLLA_ROOT} || cwd();
    $StateDir = $o{state_dir} || tempdir('ollamock-XXXXXX', TMPDIR => 1,
                                         CLEANUP => 1);
    -d $StateDir or mkdir $StateDir or die "OllaMock: mkdir $StateDir: $!\n";

    my @listeners;
    for my $i (0 .. $#names) {
        my $sock = listen_on($want[$i] || 0)
            or die "OllaMock: cannot listen on 127.0.0.1:"
                   . ($want[$i] || 0) . ": $!\n";
        push @listeners, $sock;
        push @Ports, $sock->sockport;
        $Name{ $sock->sockport } = $names[$i];
    }

    write_json('ports.json',
               [map { { port => $_, name => $Name{$_} } } @Ports]);
    for my $p (@Ports) {
        write_json("conf-$p.json", { %DEFAULT_CONF });
        write_json("stats-$p.json", empty_stats($p));
        write_file("listening-$p", "1");
        unlink state_path("log-$p.jsonl");
    }

    $OwnerPid = $$;
    my $pid = fork;
    die "OllaMock: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        run_server(\@listeners);
        POSIX::_exit(0);
    }
    $ServerPid = $pid;
    close $_ for @listeners;

    for my $i (0 .. $#Ports) {
        $ENV{ 'TEST_NGINX_MOCK_PORT_' . ($i + 1) } = $Ports[$i];
    }
    $ENV{TEST_NGINX_MOCK_STATE_DIR} = $StateDir;

    return @Ports;
}

sub stop {
    return unless $ServerPid && defined $OwnerPid && $$ == $OwnerPid;
    kill 'TERM', $ServerPid;
    my $deadline = time + 5;
    while (time < $deadline) {
        my $r = waitpid($ServerPid, WNOHANG);
        last if $r == $ServerPid || $r == -1;
        sleep 0.01;
    }
    if (kill 0, $ServerPid) {
        kill 'KILL', $ServerPid;
        waitpid($ServerPid, 0);
    }
    $ServerPid = undef;
    return;
}

END {
    my $status = $?;
    stop();
    $? = $status;
}

sub state_dir { $StateDir }
sub ports { @Ports }

# port(1) -> first port; port('dmr-b') -> the port named dmr-b
sub port {
    my $which = shift;
    return $Ports[$which - 1] if $which =~ /^\d+$/ && $which <= @Ports;
    for my $p (@Ports) {
        return $p if $Name{$p} eq $which;
    }
    return undef;
}

# Control helpers for Perl code in test files (--- init and friends);
# each talks to the mock over HTTP, like any client.
sub set {
    my ($port, %kv) = @_;
    my @q = ("port=$port");
    for my $k (sort keys %kv) {
        my @v = ref $kv{$k} eq 'ARRAY' ? @{ $kv{$k} } : ($kv{$k});
        push @q, map { "$k=" . uri_escape($_) } @v;
    }
    return control($port, '/_mock/set?' . join('&', @q));
}

sub reset {
    my ($port) = @_;
    return control(defined $port ? $port : $Ports[0], '/_mock/reset'
                              . (defined $port ? "?port=$port" : ''));
}

# (stats and logs are asked from another port, so that asking does not
# count as a connection to the port itself)
sub stats {
    my ($port) = @_;
    return control(other_port($port), "/_mock/stats?port=$port");
}

sub requests_log {
    my ($port, $n) = @_;
    return control(other_port($port),
                   "/_mock/log?port=$port&n=" . ($n || 20));
}

sub other_port {
    my ($port) = @_;
    my ($other) = grep { $_ != $port } @Ports;
    return defined $other ? $other : $port;
}

# GET a control URI from a port that is listening (the one given, else
# any); returns the decoded JSON answer (dies on errors)
sub control {
    my ($port, $uri) = @_;

    for my $p ($port, @Ports) {
        my $l = read_file("listening-$p");
        if (defined $l && $l eq '1') {
            $port = $p;
            last;
        }
    }

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => 5)
        or die "OllaMock: connect to $port: $!\n";
    print $sock "GET $uri HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n\r\n";
    local $/;
    my $res = <$sock>;
    close $sock;
    die "OllaMock: no answer to $uri\n" unless defined $res;
    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    die "OllaMock: $uri: $head\n" unless $head =~ m{^HTTP/1\.\d 200};
    return $JSON->decode($body);
}

# A self-signed certificate and key (openssl CLI) for a TLS mock server;
# returns (cert path, key path).
sub tls_cert {
    my ($dir) = @_;
    $dir ||= $StateDir || tempdir('ollamock-tls-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    my $crt = File::Spec->catfile($dir, 'ollamock.crt');
    my $key = File::Spec->catfile($dir, 'ollamock.key');
    return ($crt, $key) if -s $crt && -s $key;

    my $pid = fork;
    die "OllaMock: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        no warnings 'exec';
        exec 'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
             '-days', '2', '-subj', '/CN=localhost',
             '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
             '-keyout', $key, '-out', $crt;
        POSIX::_exit(127);
    }
    waitpid($pid, 0);
    die "OllaMock: openssl could not make a certificate (status $?)\n"
        unless $? == 0 && -s $crt && -s $key;
    return ($crt, $key);
}

# ------------------------------------------------------------ state files

sub state_path { File::Spec->catfile($StateDir, $_[0]) }

sub write_file {
    my ($name, $data) = @_;
    my $path = state_path($name);
    my $tmp = "$path.$$.tmp";
    open my $fh, '>', $tmp or die "OllaMock: write $tmp: $!\n";
    binmode $fh;
    print $fh $data;
    close $fh;
    rename $tmp, $path or die "OllaMock: rename $tmp: $!\n";
    return;
}

sub read_file {
    my ($name) = @_;
    open my $fh, '<', state_path($name) or return undef;
    binmode $fh;
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data;
}

sub write_json { write_file($_[0], $JSON->encode($_[1])) }

sub read_json {
    my $data = read_file($_[0]);
    return undef unless defined $data && length $data;
    return eval { $JSON->decode($data) };
}

sub with_lock {
    my ($code) = @_;
    open my $lk, '>>', state_path('lock') or die "OllaMock: lock: $!\n";
    flock($lk, LOCK_EX) or die "OllaMock: flock: $!\n";
    my @r = $code->();
    close $lk;
    return wantarray ? @r : $r[0];
}

sub empty_stats {
    my ($port) = @_;
    return {
        port          => $port + 0,
        name          => $Name{$port},
        requests      => 0,
        paths         => {},
        models_gets   => 0,
        connections   => 0,
        in_flight     => 0,
        max_in_flight => 0,
    };
}

sub update_stats {
    my ($port, $fn) = @_;
    with_lock(sub {
        my $s = read_json("stats-$port.json") || empty_stats($port);
        $fn->($s);
        write_json("stats-$port.json", $s);
    });
    return;
}

sub conf_for {
    my ($port) = @_;
    my $c = read_json("conf-$port.json");
    return { %DEFAULT_CONF, %{ $c || {} } };
}

# ------------------------------------------------------------ server

sub listen_on {
    my ($port) = @_;
    return IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $port,
        Proto     => 'tcp',
        Listen    => 128,
        ReuseAddr => 1,
    );
}

my %Children;     # pid => 1 (handlers)
my $Stop = 0;
my $Sync = 0;

sub run_server {
    my ($listeners) = @_;

    $0 = 'ollamock';
    # never hold the test's TAP output open
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', '/dev/null';
    my %listener;                       # port => socket or undef
    $listener{ $_->sockport } = $_ for @$listeners;

    $SIG{TERM} = $SIG{INT} = sub { $Stop = 1 };
    $SIG{USR1} = sub { $Sync = 1 };
    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = 'DEFAULT';

    # the test's parent dies: stop too
    my $owner = getppid();
    my $last_sync = 0;

    while (!$Stop) {
        if ($Sync || time - $last_sync > 0.1) {
            $Sync = 0;
            $last_sync = time;
            sync_listeners(\%listener);
            last if getppid() != $owner;
        }

        my $sel = IO::Select->new(grep { defined } values %listener);
        my @ready = $sel->count ? $sel->can_read(0.1) : do { sleep 0.1; () };

        for my $l (@ready) {
            my $port = $l->sockport;
            my $c = $l->accept or next;
            update_stats($port, sub { $_[0]{connections}++ });

            my $pid = fork;
            if (!defined $pid) {
                close $c;
                next;
            }
            if ($pid == 0) {
                $SIG{TERM} = $SIG{INT} = 'DEFAULT';
                $SIG{USR1} = 'IGNORE';
                close $_ for grep { defined } values %listener;
                handle_connection($c, $port);
                POSIX::_exit(0);
            }
            $Children{$pid} = 1;
            close $c;
        }

        while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
            delete $Children{$pid};
        }
    }

    kill 'TERM', keys %Children;
    my $deadline = time + 2;
    while (%Children && time < $deadline) {
        my $pid = waitpid(-1, WNOHANG);
        if ($pid > 0) {
            delete $Children{$pid};
        }
        else {
            sleep 0.01;
        }
    }
    kill 'KILL', keys %Children;
    POSIX::_exit(0);
}

# close the listeners of "down" ports, reopen the others
sub sync_listeners {
    my ($listener) = @_;

    for my $port (sort keys %$listener) {
        my $mode = conf_for($port)->{mode};
        if ($mode eq 'down' && defined $listener->{$port}) {
            close $listener->{$port};
            $listener->{$port} = undef;
            write_file("listening-$port", "0");
        }
        elsif ($mode ne 'down' && !defined $listener->{$port}) {
            my $s = listen_on($port);
            if ($s) {
                $listener->{$port} = $s;
                write_file("listening-$port", "1");
            }
        }
    }
    return;
}

# ask the server to apply listen modes now and wait until it did
sub sync_server {
    my ($ports) = @_;

    kill 'USR1', getppid();
    my $deadline = time + 3;
    while (time < $deadline) {
        my $done = 1;
        for my $p (@$ports) {
            my $want = conf_for($p)->{mode} eq 'down' ? '0' : '1';
            my $is = read_file("listening-$p");
            $done = 0 unless defined $is && $is eq $want;
        }
        return 1 if $done;
        sleep 0.01;
    }
    return 0;
}

# ------------------------------------------------------------ connections

my $InFlight;     # port whose in_flight counter this handler holds

sub begin_request {
    my ($port, $path, $is_models) = @_;
    update_stats($port, sub {
        my $s = shift;
        $s->{requests}++;
        $s->{paths}{$path}++;
        $s->{models_gets}++ if $is_models;
        $s->{in_flight}++;
        $s->{max_in_flight} = $s->{in_flight}
            if $s->{in_flight} > $s->{max_in_flight};
    });
    $InFlight = $port;
    return;
}

sub end_request {
    return unless defined $InFlight;
    my $port = $InFlight;
    $InFlight = undef;
    update_stats($port, sub { $_[0]{in_flight}-- if $_[0]{in_flight} > 0 });
    return;
}

sub handle_connection {
    my ($sock, $port) = @_;

    binmode $sock;
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);
    $SIG{TERM} = sub { end_request(); POSIX::_exit(0) };

    my $buf = '';
    while (1) {
        my $req = read_request($sock, \$buf);
        last unless $req;

        if ($req->{path} =~ m{^/_mock/}) {
            my $keep = control_request($sock, $port, $req);
            last unless $keep;
            next;
        }

        my $conf = conf_for($port);
        my $mode = $conf->{mode};

        # a "down" server does not answer on old connections either
        last if $mode eq 'down';

        my $is_models = $req->{method} eq 'GET'
            && $req->{path} =~ m{(?:/models|/api/tags)$};

        begin_request($port, $req->{path}, $is_models);
        log_request($port, $req);

        if ($mode eq 'hang') {
            hang($sock);
            last;
        }
        if ($mode eq 'close') {
            last;
        }
        if ($mode eq 'reset') {
            setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
            last;
        }

        my $keep = $is_models && !exists $req->{headers}{'x-mock-sse'}
            ? models_response($sock, $port, $req, $conf)
            : mock_response($sock, $port, $req);
        end_request();
        if (!$keep && $req->{headers}{'x-mock-cut-reset'}) {
            setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        }
        last unless $keep;
    }

    end_request();
    close $sock;
    return;
}

# wait until the peer goes away
sub hang {
    my ($sock) = @_;
    my $sel = IO::Select->new($sock);
    while (1) {
        next unless $sel->can_read(1);
        my $n = sysread($sock, my $junk, 65536);
        next if !defined $n && ($! == EINTR || $! == EAGAIN);
        last unless $n;
    }
    return;
}

# read one request; undef on EOF/error.  Returns { method, uri, path,
# query, proto, headers (lc => value), header_lines, body, keep_alive }
sub read_request {
    my ($sock, $buf) = @_;

    my $end;
    while (($end = index($$buf, "\r\n\r\n")) < 0) {
        return undef unless fill($sock, $buf);
    }

    my $head = substr($$buf, 0, $end);
    substr($$buf, 0, $end + 4, '');

    my @lines = split /\r\n/, $head;
    my $line = shift @lines;
    my ($method, $uri, $proto) = split ' ', $line;
    return undef unless defined $uri;
    $proto = 'HTTP/1.0' unless defined $proto;

    my (%h, @hl);
    for my $l (@lines) {
        next unless $l =~ /^([^:]+?)\s*:\s*(.*?)\s*$/;
        push @hl, [$1, $2];
        my $k = lc $1;
        $h{$k} = exists $h{$k} ? "$h{$k}, $2" : $2;
    }

    if (($h{expect} || '') =~ /100-continue/i) {
        write_all($sock, "HTTP/1.1 100 Continue\r\n\r\n");
    }

    my $body = '';
    if (($h{'transfer-encoding'} || '') =~ /chunked/i) {
        while (1) {
            my $eol;
            while (($eol = index($$buf, "\r\n")) < 0) {
                return undef unless fill($sock, $buf);
            }
            my ($size) = substr($$buf, 0, $eol) =~ /^([0-9a-fA-F]+)/;
            return undef unless defined $size;
            $size = hex $size;
            substr($$buf, 0, $eol + 2, '');
            if ($size == 0) {
                # trailers up to an empty line
                while (1) {
                    my $e;
                    while (($e = index($$buf, "\r\n")) < 0) {
                        return undef unless fill($sock, $buf);
                    }
                    my $t = substr($$buf, 0, $e);
                    substr($$buf, 0, $e + 2, '');
                    last if $t eq '';
                }
                last;
            }
            while (length($$buf) < $size + 2) {
                return undef unless fill($sock, $buf);
            }
            $body .= substr($$buf, 0, $size);
            substr($$buf, 0, $size + 2, '');
        }
    }
    elsif (defined $h{'content-length'} && $h{'content-length'} =~ /^(\d+)/) {
        my $len = $1;
        while (length($$buf) < $len) {
            return undef unless fill($sock, $buf);
        }
        $body = substr($$buf, 0, $len);
        substr($$buf, 0, $len, '');
    }

    my ($path, $query) = split /\?/, $uri, 2;
    my $conn = lc($h{connection} || '');
    my $keep = $proto eq 'HTTP/1.1' ? $conn !~ /close/ : $conn =~ /keep-alive/;

    return {
        method       => $method,
        uri          => $uri,
        path         => $path,
        query        => defined $query ? $query : '',
        proto        => $proto,
        headers      => \%h,
        header_lines => \@hl,
        body         => $body,
        keep_alive   => $keep,
    };
}

sub fill {
    my ($sock, $buf) = @_;
    while (1) {
        my $n = sysread($sock, my $chunk, 65536);
        if (!defined $n) {
            next if $! == EINTR;
            return 0;
        }
        return 0 if $n == 0;
        $$buf .= $chunk;
        return 1;
    }
}

sub write_all {
    my ($sock, $data) = @_;
    while (length $data) {
        my $n = syswrite($sock, $data);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN || $! == EWOULDBLOCK;
            return 0;
        }
        substr($data, 0, $n, '');
    }
    return 1;
}

sub log_request {
    my ($port, $req) = @_;
    my %e = (
        time        => time,
        method      => $req->{method},
        uri         => $req->{uri},
        headers     => $req->{headers},
        body_length => length $req->{body},
        body_sha256 => Digest::SHA::sha256_hex($req->{body}),
    );
    $e{body} = $req->{body} if length $req->{body} < 65536;
    my $line = $JSON->encode(\%e) . "\n";
    with_lock(sub {
        open my $fh, '>>', state_path("log-$port.jsonl") or return;
        binmode $fh;
        print $fh $line;
        close $fh;
    });
    return;
}

# ------------------------------------------------------------ responses

sub send_response {
    my ($sock, $req, $status, $headers, $body) = @_;

    my $keep = $req->{keep_alive};
    my $head = "HTTP/1.1 $status " . ($REASON{$status} || 'Status') . "\r\n";
    $head .= "Server: ollamock\r\n";
    for my $h (@$headers) {
        $head .= "$h->[0]: $h->[1]\r\n";
    }
    $head .= "Content-Length: " . length($body) . "\r\n";
    $head .= "Connection: " . ($keep ? 'keep-alive' : 'close') . "\r\n";
    $head .= "\r\n";

    my $ok = write_all($sock, $head . ($req->{method} eq 'HEAD' ? '' : $body));
    return $ok && $keep;
}

sub json_response {
    my ($sock, $req, $status, $data) = @_;
    return send_response($sock, $req, $status,
                         [['Content-Type', 'application/json']],
                         $JSON->encode($data));
}

sub models_response {
    my ($sock, $port, $req, $conf) = @_;

    sleep $conf->{models_delay} if $conf->{models_delay};

    my $body = $conf->{models_body};
    $body = $req->{path} =~ m{/api/tags$} ? $TAGS_BODY : $MODELS_BODY
        unless defined $body;

    my @h = (['Content-Type', $conf->{models_content_type}]);
    push @h, ['Retry-After', $conf->{retry_after}]
        if defined $conf->{retry_after} && length $conf->{retry_after};
    for my $line (@{ $conf->{models_header} || [] }) {
        push @h, [$1, $2] if $line =~ /^([^:]+?)\s*:\s*(.*)$/;
    }

    return send_response($sock, $req, $conf->{models_status} || 200, \@h,
                         $body);
}

sub request_model {
    my ($body) = @_;
    return undef unless length $body && $body =~ /^\s*\{/;
    if (length $body <= 4 * 1024 * 1024) {
        my $d = eval { JSON::PP->new->utf8->decode($body) };
        return undef unless ref $d eq 'HASH';
        return ref $d->{model} ? undef : $d->{model};
    }
    return $body =~ /"model"\s*:\s*"((?:[^"\\]|\\.)*)"/ ? $1 : undef;
}

sub mock_response {
    my ($sock, $port, $req) = @_;

    my $h = $req->{headers};
    my $status = $h->{'x-mock-status'} && $h->{'x-mock-status'} =~ /^(\d{3})/
        ? $1 : 200;

    my @extra;
    for my $hl (@{ $req->{header_lines} }) {
        next unless lc $hl->[0] eq 'x-mock-header';
        push @extra, [$1, $2] if $hl->[1] =~ /^([^:]+?)\s*:\s*(.*)$/;
    }

    my $delay = num($h->{'x-mock-delay'});
    sleep $delay if $delay;

    if (defined $h->{'x-mock-sse'}) {
        my $n = int(num($h->{'x-mock-sse'}) || 0);
        my $model = request_model($req->{body});
        my @events = map { sse_chunk($model, { content => "tok$_" }, undef) }
                     0 .. $n - 1;
        push @events, sse_chunk($model, {}, 'stop'), "data: [DONE]\n\n";
        return stream_events($sock, $req, $status, \@extra, \@events);
    }

    if (defined $h->{'x-mock-stream-bytes'}) {
        return stream_bytes($sock, $req, $status, \@extra,
                            int(num($h->{'x-mock-stream-bytes'}) || 0));
    }

    if (defined $h->{'x-mock-replay'}) {
        return replay($sock, $req, $status, \@extra, $h->{'x-mock-replay'});
    }

    my $ctype = $h->{'x-mock-content-type'} || 'application/json';
    my $body = $h->{'x-mock-body'};
    $body = echo_body($port, $req) unless defined $body;

    return send_response($sock, $req, $status,
                         [['Content-Type', $ctype], @extra], $body);
}

sub num {
    my $v = shift;
    return 0 unless defined $v && $v =~ /^\s*(\d+(?:\.\d+)?)/;
    return $1;
}

sub echo_body {
    my ($port, $req) = @_;
    my $model = request_model($req->{body});
    return '{"mock":' . $JSON->encode($Name{$port})
         . ',"port":' . ($port + 0)
         . ',"method":' . $JSON->encode($req->{method})
         . ',"uri":' . $JSON->encode($req->{uri})
         . ',"headers":' . $JSON->encode($req->{headers})
         . ',"body_length":' . length($req->{body})
         . ',"body_sha256":"' . Digest::SHA::sha256_hex($req->{body}) . '"'
         . ',"model":' . (defined $model ? $JSON->encode($model) : 'null')
         . '}';
}

my $Created = 1700000000;

# one OpenAI chat.completion.chunk event, fields in OpenAI's order
sub sse_chunk {
    my ($model, $delta, $finish) = @_;
    return 'data: {"id":"chatcmpl-ollamock","object":"chat.completion.chunk"'
         . ',"created":' . $Created
         . ',"model":' . $JSON->encode(defined $model ? $model : 'mock')
         . ',"choices":[{"index":0,"delta":' . $JSON->encode($delta)
         . ',"finish_reason":' . (defined $finish ? $JSON->encode($finish)
                                                  : 'null')
         . '}]}' . "\n\n";
}

# the response header of a stream; chunked unless the client is HTTP/1.0
sub stream_head {
    my ($sock, $req, $status, $extra, $ctype) = @_;

    my $chunked = $req->{proto} eq 'HTTP/1.1';
    my $head = "HTTP/1.1 $status " . ($REASON{$status} || 'Status') . "\r\n";
    $head .= "Server: ollamock\r\n";
    $head .= "Content-Type: $ctype\r\n";
    $head .= "Cache-Control: no-cache\r\n";
    $head .= "$_->[0]: $_->[1]\r\n" for @$extra;
    $head .= $chunked ? "Transfer-Encoding: chunked\r\n"
                      : "Connection: close\r\n";
    $head .= "\r\n";
    return (write_all($sock, $head), $chunked);
}

sub chunk {
    my ($data, $chunked) = @_;
    return $data unless $chunked;
    return sprintf("%x\r\n", length $data) . $data . "\r\n";
}

# send events one by one (X-Mock-Interval apart, X-Mock-Cut aborts)
sub stream_events {
    my ($sock, $req, $status, $extra, $events, $ctype) = @_;

    my $h = $req->{headers};
    my $interval = num($h->{'x-mock-interval'});
    my $first = num($h->{'x-mock-first-delay'});
    my $cut = defined $h->{'x-mock-cut'} ? int(num($h->{'x-mock-cut'})) : undef;
    my $bytes = defined $h->{'x-mock-cut-bytes'}
        ? int(num($h->{'x-mock-cut-bytes'})) : undef;

    my ($ok, $chunked) = stream_head($sock, $req, $status, $extra,
                                     $ctype || 'text/event-stream');
    return 0 unless $ok;

    for my $i (0 .. $#$events) {
        return 0 if defined $cut && $i >= $cut;
        sleep $first if $first && $i == 0;
        sleep $interval if $interval && $i > 0;
        my $ev = $events->[$i];
        if (defined $bytes && length $ev >= $bytes) {
            write_all($sock, chunk(substr($ev, 0, $bytes), $chunked))
                if $bytes;
            return 0;
        }
        $bytes -= length $ev if defined $bytes;
        write_all($sock, chunk($ev, $chunked)) or return 0;
    }
    return 0 if defined $cut && $cut < @$events;

    return 0 unless $chunked;
    write_all($sock, "0\r\n\r\n") or return 0;
    return $req->{keep_alive};
}

sub stream_bytes {
    my ($sock, $req, $status, $extra, $total) = @_;

    my ($ok, $chunked) = stream_head($sock, $req, $status, $extra,
                                     'text/event-stream');
    return 0 unless $ok;

    my $model = request_model($req->{body});
    my $text = join '', map { chr(ord('a') + $_ % 26) } 0 .. 4095;
    my $event = sse_chunk($model, { content => $text }, undef);
    my $piece = chunk($event, $chunked);
    my $batch = $piece x 16;
    my $per_batch = length($event) * 16;

    my $sent = 0;
    while ($sent + $per_batch <= $total) {
        write_all($sock, $batch) or return 0;
        $sent += $per_batch;
    }
    while ($sent < $total) {
        write_all($sock, $piece) or return 0;
        $sent += length $event;
    }

    write_all($sock, chunk(sse_chunk($model, {}, 'stop'), $chunked)
                     . chunk("data: [DONE]\n\n", $chunked)) or return 0;
    return 0 unless $chunked;
    write_all($sock, "0\r\n\r\n") or return 0;
    return $req->{keep_alive};
}

sub replay {
    my ($sock, $req, $status, $extra, $rel) = @_;

    my $path = File::Spec->file_name_is_absolute($rel)
        ? $rel : File::Spec->catfile($Root, $rel);
    my $data;
    if (open my $fh, '<', $path) {
        binmode $fh;
        local $/;
        $data = <$fh>;
        close $fh;
    }
    if (!defined $data) {
        return json_response($sock, $req, 500,
                             { error => "X-Mock-Replay: cannot read $path" });
    }

    my $ctype = $req->{headers}{'x-mock-content-type'};
    if ($req->{headers}{'x-mock-lines'}) {
        my @lines = map { "$_\n" } grep { /\S/ } split /\r?\n/, $data;
        return stream_events($sock, $req, $status, $extra, \@lines,
                             $ctype || 'application/x-ndjson');
    }
    if ($rel =~ /\.sse$/) {
        (my $norm = $data) =~ s/\r\n/\n/g;
        my @events = map { "$_\n\n" } grep { /\S/ } split /\n\n+/, $norm;
        return stream_events($sock, $req, $status, $extra, \@events,
                             $ctype || 'text/event-stream');
    }

    return send_response($sock, $req, $status,
                         [['Content-Type', $ctype || 'application/json'],
                          @$extra], $data);
}

# ------------------------------------------------------------ until

# GET an http URL (or a path on the test nginx); returns (status, body)
sub http_get {
    my ($url, $timeout) = @_;

    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    my ($host, $path) = ('127.0.0.1', $url);
    if ($url =~ m{^http://([^/:]+)(?::(\d+))?(/.*)?$}) {
        ($host, $port, $path) = ($1, $2 || 80, $3 // '/');
    }

    my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout)
        or return (0, "connect: $!");
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    my $res = '';
    my $sel = IO::Select->new($s);
    my $end = time + $timeout;
    while ((my $left = $end - time) > 0) {
        last unless $sel->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $res .= $buf;
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    my ($status) = defined $head ? $head =~ m{^HTTP/1\.\d (\d+)} : ();
    return ($status // 0, $body // '');
}

# does the answer show what /_mock/until waits for?
sub until_matches {
    my ($q, $status, $body) = @_;

    return 0 unless $status == 200;

    if (defined $q->{match}) {
        return $body =~ /$q->{match}/s ? 1 : 0;
    }

    my $st = eval { JSON::PP->new->decode($body) };
    return 0 unless ref $st eq 'HASH' && ref $st->{endpoints} eq 'ARRAY';
    my ($e) = grep { $_->{name} eq $q->{endpoint} } @{ $st->{endpoints} };
    return 0 unless $e;

    for my $k (sort keys %$q) {
        next if $k =~ /^(?:url|endpoint|timeout|match)$/;
        if ($k =~ /^min_(.+)$/) {
            return 0 unless ($e->{$1} // -1) >= $q->{$k};
        }
        else {
            my $v = $e->{$k};
            return 0 unless defined $v && !ref $v && "$v" eq $q->{$k};
        }
    }
    return 1;
}

sub until_request {
    my ($sock, $req, $q) = @_;

    if (!defined $q->{match} && !defined $q->{endpoint}) {
        return json_response($sock, $req, 400,
                             { error => 'until: endpoint= or match= needed' });
    }

    my $url = defined $q->{url} && length $q->{url}
        ? $q->{url} : '/internal/status/endpoints';
    my $timeout = num($q->{timeout}) || 10;
    my $start = time;
    my ($status, $body) = (0, '');

    while (1) {
        ($status, $body) = http_get($url, 5);
        if (until_matches($q, $status, $body)) {
            return json_response($sock, $req, 200,
                                 { matched => JSON::PP::true(),
                                   waited => sprintf('%.2f', time - $start) + 0 });
        }
        last if time - $start > $timeout;
        sleep 0.02;
    }

    return json_response($sock, $req, 504,
                         { matched => JSON::PP::false(), url => $url,
                           last_status => $status + 0, last => $body });
}

# ------------------------------------------------------------ control

sub uri_unescape {
    my $s = shift;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9a-fA-F]{2})/chr hex $1/ge;
    return $s;
}

sub uri_escape {
    my $s = shift;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub parse_query {
    my $q = shift;
    my @kv;
    for my $pair (split /&/, $q) {
        next unless length $pair;
        my ($k, $v) = split /=/, $pair, 2;
        push @kv, [uri_unescape($k), uri_unescape(defined $v ? $v : '')];
    }
    return @kv;
}

my %SETTABLE = map { $_ => 1 } qw(mode models_status models_body
    models_content_type models_delay retry_after models_header port);
my %MODES = map { $_ => 1 } qw(normal up down hang close reset);

sub control_request {
    my ($sock, $port, $req) = @_;

    my @kv = parse_query($req->{query});
    my %q = map { $_->[0] => $_->[1] } @kv;
    my $target = defined $q{port} && length $q{port} ? $q{port} : $port;
    my $what = $req->{path};

    if ($what ne '/_mock/reset' && $what ne '/_mock/sleep'
        && $what ne '/_mock/ports' && $what ne '/_mock/until'
        && !exists $Name{$target})
    {
        return json_response($sock, $req, 404,
                             { error => "no mock on port $target" });
    }

    if ($what eq '/_mock/set') {
        my @bad = grep { !$SETTABLE{$_} } map { $_->[0] } @kv;
        push @bad, map { "mode=$_->[1]" }
                   grep { $_->[0] eq 'mode' && !$MODES{ $_->[1] } } @kv;
        if (@bad) {
            return json_response($sock, $req, 400,
                                 { error => "unknown setting: @bad" });
        }
        my $conf = with_lock(sub {
            my $c = conf_for($target);
            my $headers_given = 0;
            for my $p (@kv) {
                my ($k, $v) = @$p;
                next if $k eq 'port';
                if ($k eq 'mode') {
                    $c->{mode} = $v eq 'up' ? 'normal' : $v;
                }
                elsif ($k eq 'models_header') {
                    $c->{models_header} = [] unless $headers_given++;
                    push @{ $c->{models_header} }, $v;
                }
                elsif ($k =~ /^models_(?:status|delay)$/ && $v =~ /^\d+(?:\.\d+)?$/) {
                    $c->{$k} = $v + 0;
                }
                else {
                    $c->{$k} = $v;
                }
            }
            write_json("conf-$target.json", $c);
            return $c;
        });
        sync_server([$target]) if exists $q{mode};
        return json_response($sock, $req, 200,
                             { port => $target + 0, %$conf });
    }

    if ($what eq '/_mock/reset') {
        my @targets = defined $q{port} ? ($q{port}) : (sort keys %Name);
        with_lock(sub {
            for my $p (@targets) {
                next unless exists $Name{$p};
                write_json("conf-$p.json", { %DEFAULT_CONF });
                my $old = read_json("stats-$p.json") || {};
                my $s = empty_stats($p);
                # requests being served now are still in flight
                $s->{in_flight} = $old->{in_flight} || 0;
                $s->{max_in_flight} = $s->{in_flight};
                write_json("stats-$p.json", $s);
                unlink state_path("log-$p.jsonl");
            }
        });
        sync_server([grep { exists $Name{$_} } @targets]);
        return json_response($sock, $req, 200, { reset => [map { $_ + 0 } @targets] });
    }

    if ($what eq '/_mock/stats') {
        my $s = read_json("stats-$target.json") || empty_stats($target);
        return json_response($sock, $req, 200, $s);
    }

    if ($what eq '/_mock/log') {
        my $n = defined $q{n} && $q{n} =~ /^(\d+)$/ ? $1 : 20;
        my $data = read_file("log-$target.jsonl");
        my @lines = defined $data ? split /\n/, $data : ();
        @lines = @lines[-$n .. -1] if @lines > $n;
        @lines = () if $n == 0;
        return send_response($sock, $req, 200,
                             [['Content-Type', 'application/json']],
                             '[' . join(',', @lines) . ']');
    }

    if ($what eq '/_mock/sleep') {
        my $s = num($q{s});
        sleep $s if $s;
        return json_response($sock, $req, 200, { slept => $s + 0 });
    }

    if ($what eq '/_mock/until') {
        return until_request($sock, $req, \%q);
    }

    if ($what eq '/_mock/ports') {
        return json_response($sock, $req, 200,
                             [map { { port => $_ + 0, name => $Name{$_} } }
                              sort { $a <=> $b } keys %Name]);
    }

    return json_response($sock, $req, 404,
                         { error => "unknown control $what" });
}

1;
