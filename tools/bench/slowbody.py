#!/usr/bin/env python3
# tools/bench/slowbody.py BODY NAME:PORT[,NAME:PORT...] N PIECE GAP [PATH]
#
# A request body that arrives over time, as from a client across a
# network: N requests to each target (alternating which goes first), each
# sending its head, then BODY in PIECE-byte writes GAP seconds apart, and
# timing the answer's first bytes.  Prints, per target, the median, mean
# and deciles in microseconds of
#   MODE=total (default)  the whole request, connect to answer;
#   MODE=last             the time from the last write to the answer
#                         (what the server does once the body is in; the
#                         kernel may still hold some of the body then).
# Every answer must be 200.  PATH defaults to the routed chat path.
# CHUNKED=1 sends the body chunked, a chunk a write (a buffer a chunk in
# nginx; GAP may be 0), as a client whose body has no known length does.
#
# The servers are those of a `make bench` or `make bench-ab` run, started
# by hand from its run directory (their configs say daemon off), e.g.
#   run=$(ls -d build/bench/run.*)
#   build/bench/benchd -p 20001-20030 &
#   /usr/sbin/nginx -p $run/olla -c nginx.conf &
#   /usr/sbin/nginx -p $run/base -c nginx.conf &
#   tools/bench/slowbody.py $run/bodies/oai-1m.json this:20103,base:21103 \
#       400 65536 0.001
# (ports: tools/bench/callgrind.sh; the base build's are 1000 up).

import os
import socket
import statistics
import sys
import time


def one(port, body, path, piece, gap, mode, chunked):
    ts = time.perf_counter()
    s = socket.create_connection(('127.0.0.1', port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    length = ("Transfer-Encoding: chunked" if chunked
              else "Content-Length: %d" % len(body))
    head = ("POST %s HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/json\r\n%s\r\n"
            "Connection: close\r\n\r\n" % (path, length)).encode()
    s.sendall(head)
    for i in range(0, len(body), piece):
        p = body[i:i + piece]
        s.sendall(b'%x\r\n%s\r\n' % (len(p), p) if chunked else p)
        if i + piece < len(body) and gap > 0:
            time.sleep(gap)
    if chunked:
        s.sendall(b'0\r\n\r\n')
    t0 = time.perf_counter()
    d = s.recv(65536)
    t1 = time.perf_counter()
    ok = d.startswith(b'HTTP/1.1 200')
    while d:
        d = s.recv(65536)
    s.close()
    return ((t1 - t0) if mode == 'last' else (t1 - ts)) * 1e6, ok


def main():
    if len(sys.argv) < 6:
        sys.stderr.write(open(__file__).read().split('\n\n')[0] + '\n')
        sys.exit(2)
    body = open(sys.argv[1], 'rb').read()
    targets = [(t.split(':')[0], int(t.split(':')[1]))
               for t in sys.argv[2].split(',')]
    n, piece, gap = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    path = sys.argv[6] if len(sys.argv) > 6 \
        else '/olla/dmr/engines/v1/chat/completions'
    mode = os.environ.get('MODE', 'total')
    chunked = os.environ.get('CHUNKED', '') not in ('', '0')
    res = {name: [] for name, _ in targets}
    for k in range(n):
        for name, port in (targets if k % 2 == 0 else targets[::-1]):
            us, ok = one(port, body, path, piece, gap, mode, chunked)
            if not ok:
                sys.exit("slowbody: an answer from %s was not 200" % name)
            res[name].append(us)
    for name, _ in targets:
        v = sorted(res[name])
        print("%s: median %.0f us, mean %.0f, deciles %s (n=%d)"
              % (name, statistics.median(v), statistics.mean(v),
                 ' '.join('%.0f' % v[len(v) * k // 10] for k in range(1, 10)),
                 len(v)))


main()
