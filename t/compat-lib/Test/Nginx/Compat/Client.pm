package Test::Nginx::Compat::Client;

# Part of the clean-room Test::Nginx::Socket compatible runner: the HTTP
# client side (building requests from "--- request" values, sending them
# in packets, reading and parsing responses, chunked decoding).

use strict;
use warnings;

use Errno qw(EAGAIN EINTR EWOULDBLOCK EINPROGRESS);
use IO::Select;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

# Parse one "--- request" value (a string, or an arrayref of packets
# where each packet is a string or { value => ..., delay_before => N }).
# %o: keep_body (do not drop the body's trailing newline).
# Returns { method, uri, proto, packets => [ { value, delay } ... ] }
# where packets hold the body split as given; the first packet holds
# the request line.
sub parse_request_spec {
    my ($spec, %o) = @_;

    my @parts;
    if (ref $spec eq 'ARRAY') {
        for my $p (@$spec) {
            if (ref $p eq 'HASH') {
                my $v = defined $p->{value} ? $p->{value} : '';
                push @parts, { value => $v, delay => $p->{delay_before} };
            }
            else {
                push @parts, { value => defined $p ? $p : '' };
            }
        }
    }
    else {
        @parts = ({ value => defined $spec ? $spec : '' });
    }

    # everything is one text; remember where the packet boundaries are
    my $text = join '', map { $_->{value} } @parts;
    my @bounds;
    my $pos = 0;
    for my $p (@parts) {
        push @bounds, $pos;
        $pos += length $p->{value};
    }

    # skip leading blank lines, whitespace and "# comment" lines
    my $skip = 0;
    while (1) {
        if (substr($text, $skip) =~ /\A([ \t]*(?:#[^\n]*)?\r?\n)/) {
            $skip += length $1;
            next;
        }
        last;
    }
    if (substr($text, $skip) =~ /\A([ \t]+)/) {
        $skip += length $1;
    }

    my $rest = substr($text, $skip);
    my ($line, $body);
    if ($rest =~ /\A([^\n]*)\n(.*)\z/s) {
        ($line, $body) = ($1, $2);
    }
    else {
        ($line, $body) = ($rest, '');
    }
    my $line_len = length($line) + ($rest =~ /\A[^\n]*\n/ ? 1 : 0);

    $line =~ s/\r\z//;
    $line =~ s/\s+\z//;
    my ($method, $uri, $proto) = split ' ', $line, 3;
    die "compat runner: empty request\n" unless defined $method;
    $uri = '/' unless defined $uri && length $uri;
    $proto = 'HTTP/1.1' unless defined $proto && length $proto;

    # one trailing newline (from the section text) is not body, unless
    # the body is sent chunked by hand (Transfer-Encoding in more_headers)
    $body =~ s/\r?\n\z// unless $o{keep_body};
    my $body_len = length $body;

    # split the body at the packet boundaries (relative to body start)
    my $body_start = $skip + $line_len;
    my @packets;
    for my $i (0 .. $#parts) {
        my $from = $bounds[$i] - $body_start;
        my $to = ($i < $#parts ? $bounds[$i + 1] : length $text) - $body_start;
        $from = 0 if $from < 0;
        $to = $body_len if $to > $body_len;
        my $chunk = $to > $from ? substr($body, $from, $to - $from) : '';
        if ($i == 0 || $bounds[$i] >= $body_start) {
            push @packets, { value => $chunk, delay => $parts[$i]{delay} };
        }
        elsif (@packets) {
            # a boundary inside the request line: fold into the first
            $packets[0]{value} .= $chunk;
        }
    }

    return {
        method  => $method,
        uri     => $uri,
        proto   => $proto,
        body    => $body,
        packets => \@packets,
    };
}

# Build the wire packets for a parsed request.  $headers: arrayref of
# [name, value]; $connection: "close" or "keep-alive".
sub build_request {
    my ($req, $headers, $connection, $host) = @_;

    my %have = map { lc($_->[0]) => 1 } @$headers;

    my $head = "$req->{method} $req->{uri} $req->{proto}\r\n";
    $head .= "Host: " . (defined $host ? $host : 'localhost') . "\r\n"
        unless $have{host};
    $head .= "Connection: $connection\r\n" unless $have{connection};
    for my $h (@$headers) {
        $head .= "$h->[0]: $h->[1]\r\n";
    }
    if (length $req->{body} && !$have{'content-length'}
        && !$have{'transfer-encoding'})
    {
        $head .= "Content-Length: " . length($req->{body}) . "\r\n";
    }
    $head .= "\r\n";

    my @packets = map { { %$_ } } @{ $req->{packets} };
    $packets[0]{value} = $head . $packets[0]{value};
    return \@packets;
}

# Send packets over a new connection and read until EOF.
# %o: host port packets timeout sleep shutdown (undef or 0/1/2)
#     complete (coderef: given the bytes so far, true when done)
# Returns { data, timed_out, error }
sub exchange {
    my (%o) = @_;

    my %r = (data => '', timed_out => 0, error => undef);
    my $timeout = $o{timeout};

    my $sock = IO::Socket::INET->new(
        PeerAddr => $o{host},
        PeerPort => $o{port},
        Proto    => 'tcp',
        Timeout  => $timeout,
    );
    if (!$sock) {
        $r{error} = "connect() to $o{host}:$o{port} failed: $@";
        return \%r;
    }
    binmode $sock;
    $sock->blocking(0);
    my $sel = IO::Select->new($sock);

    my $first = 1;
    for my $p (@{ $o{packets} }) {
        if (!$first) {
            my $d = defined $p->{delay} ? $p->{delay} : $o{sleep};
            sleep $d if $d && $d > 0;
        }
        $first = 0;
        my $buf = $p->{value};
        while (length $buf) {
            if (!$sel->can_write($timeout)) {
                $r{timed_out} = 1;
                close $sock;
                return \%r;
            }
            my $n = syswrite($sock, $buf);
            if (!defined $n) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $r{error} = "send() failed: $!";
                last;
            }
            substr($buf, 0, $n, '');
        }
        last if $r{error};
    }

    if (defined $o{shutdown}) {
        shutdown($sock, $o{shutdown});
    }

    while (1) {
        if (!$sel->can_read($timeout)) {
            $r{timed_out} = 1
                unless $o{complete} && $o{complete}->($r{data});
            last;
        }
        my $n = sysread($sock, my $chunk, 65536);
        if (!defined $n) {
            next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            # connection reset: keep what we got
            $r{reset} = "$!";
            last;
        }
        last if $n == 0;
        $r{data} .= $chunk;
    }

    close $sock;
    return \%r;
}

# Parse one HTTP response at the start of $data.  %o: head (bool: the
# request was HEAD), http09.  Returns a hashref: status, proto, reason,
# headers (lowercased name => [values]), header_order ([name, value]),
# raw_headers, body (decoded), consumed (bytes used), complete (bool),
# chunked (bool), warning (text or undef)
sub parse_response {
    my ($data, %o) = @_;

    my %r = (
        status => undef, headers => {}, header_order => [],
        raw_headers => '', body => '', consumed => length $data,
        complete => 0, warning => undef,
    );

    if ($o{http09}) {
        $r{body} = $data;
        $r{complete} = 1;
        return \%r;
    }

    my $end = index($data, "\r\n\r\n");
    my $sep = 4;
    if ($end < 0) {
        $end = index($data, "\n\n");
        $sep = 2;
    }
    if ($end < 0) {
        $r{raw_headers} = $data;
        $r{warning} = 'incomplete response header' if length $data;
        if ($data =~ m{\AHTTP/(\d\.\d)\s+(\d{3})}) {
            $r{proto} = $1;
            $r{status} = $2;
        }
        return \%r;
    }

    my $head = substr($data, 0, $end);
    $r{raw_headers} = substr($data, 0, $end + $sep);
    my @lines = split /\r?\n/, $head;
    my $status_line = shift @lines;
    if (defined $status_line
        && $status_line =~ m{\AHTTP/(\d\.\d)\s+(\d{3})(?:\s+(.*))?\z})
    {
        $r{proto} = $1;
        $r{status} = $2;
        $r{reason} = $3;
    }
    else {
        $r{warning} = "bad status line: "
            . (defined $status_line ? $status_line : '');
    }

    for my $l (@lines) {
        if ($l =~ /\A([^:\s]+)\s*:\s*(.*?)\s*\z/) {
            push @{ $r{headers}{ lc $1 } }, $2;
            push @{ $r{header_order} }, [$1, $2];
        }
    }

    my $pos = $end + $sep;
    my $status = defined $r{status} ? $r{status} : 0;
    my $te = join ',', @{ $r{headers}{'transfer-encoding'} || [] };
    my $cl = $r{headers}{'content-length'} ? $r{headers}{'content-length'}[0]
                                           : undef;

    if ($o{head} || $status == 204 || $status == 304
        || ($status >= 100 && $status < 200))
    {
        $r{consumed} = $pos;
        $r{complete} = 1;
    }
    elsif ($te =~ /chunked/i) {
        $r{chunked} = 1;
        my ($body, $used, $done, $err) = decode_chunked($data, $pos);
        $r{body} = $body;
        $r{consumed} = $used;
        $r{complete} = $done;
        $r{warning} = $err if $err;
    }
    elsif (defined $cl && $cl =~ /^\d+$/) {
        my $avail = length($data) - $pos;
        if ($avail >= $cl) {
            $r{body} = substr($data, $pos, $cl);
            $r{consumed} = $pos + $cl;
            $r{complete} = 1;
        }
        else {
            $r{body} = substr($data, $pos);
            $r{consumed} = length $data;
            $r{warning} = "response body truncated: got $avail of $cl bytes";
        }
    }
    else {
        # delimited by connection close
        $r{body} = substr($data, $pos);
        $r{consumed} = length $data;
        $r{complete} = 1;
        $r{until_close} = 1;
    }

    return \%r;
}

# Decode a chunked body starting at $pos.  Returns (body, consumed,
# complete, error)
sub decode_chunked {
    my ($data, $pos) = @_;

    my $body = '';
    while (1) {
        my $eol = index($data, "\r\n", $pos);
        if ($eol < 0) {
            return ($body, length $data, 0,
                    'incomplete chunked body (missing chunk size line)');
        }
        my $line = substr($data, $pos, $eol - $pos);
        if ($line !~ /\A\s*([0-9a-fA-F]+)\s*(?:;.*)?\z/) {
            return ($body, length $data, 0,
                    "bad chunk size line: \"$line\"");
        }
        my $size = hex $1;
        $pos = $eol + 2;

        if ($size == 0) {
            # trailers, then an empty line
            while (1) {
                my $e = index($data, "\r\n", $pos);
                if ($e < 0) {
                    return ($body, length $data, 0,
                            'incomplete chunked body (no final CRLF)');
                }
                my $t = substr($data, $pos, $e - $pos);
                $pos = $e + 2;
                last if $t eq '';
            }
            return ($body, $pos, 1, undef);
        }

        if (length($data) - $pos < $size) {
            $body .= substr($data, $pos);
            return ($body, length $data, 0,
                    'incomplete chunked body (truncated chunk)');
        }
        $body .= substr($data, $pos, $size);
        $pos += $size;
        if (substr($data, $pos, 2) ne "\r\n") {
            return ($body, length $data, 0,
                    'bad chunked body (no CRLF after chunk data)');
        }
        $pos += 2;
    }
}

1;
