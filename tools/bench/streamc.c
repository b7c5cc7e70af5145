/*
 * streamc: the streaming client of `make bench` (tools/bench/run.sh).
 *
 *   streamc -m lat  -p PORT -u PATH -b BODY [-n STREAMS] [-H 'K: v']...
 *   streamc -m hold -p PORT -u PATH -b BODY [-c CONNS]   [-H 'K: v']...
 *
 * lat:  STREAMS streams one after another on one keep-alive connection to
 *       127.0.0.1:PORT.  For each: the time from the request's write to
 *       the first complete SSE event (TTFE), and for every event whose text
 *       carries the backend's "t=<CLOCK_MONOTONIC ns>" mark its transit
 *       time: arrival (clock read right after the read(2) that completed
 *       it) minus the moment the backend wrote it.  Prints medians and p99.
 * hold: CONNS streams at once (epoll); reads them all to their end and
 *       prints how many were open at the same time, bytes and events, and
 *       the streams' time to first event (p50, p99, max).
 *       Prints "OPEN <n>" on stderr when every stream has its first event.
 *
 * The body is sent with Content-Length.  Responses may be chunked or have
 * a Content-Length; SSE events end at a blank line ("\n\n" or "\r\n\r\n").
 * Output is one line of key=value pairs on stdout.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int       fd;
    int       status;
    int       state;           /* 0 head, 1 body-cl, 2 chunk size, 3 chunk
                                  data, 4 chunk crlf, 5 trailer, 6 done */
    int       chunked;
    long      clen;            /* -1: until close */
    size_t    need;
    char     *hbuf;            /* header / chunk-size line accumulation */
    size_t    hlen, hcap;
    char     *ev;              /* the SSE event being assembled */
    size_t    evlen, evcap;
    uint64_t  t_sent;
    uint64_t  t_first;
    long      events;
    long      marked;
    long      bytes;
    int       first_seen;
    int       ended;
    size_t    woff;
    size_t    evbytes;
    int       prevnl;
} resp_t;

static char      *req;
static size_t     reqlen;

static uint64_t  *ttfe;
static size_t     nttfe, cttfe;
static uint64_t  *transit;
static size_t     ntransit, ctransit;

static long       open_now, open_max, ended_ok, failed;


static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}


static void
push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *a = realloc(*a, *cap * sizeof(uint64_t));
        if (*a == NULL) {
            fprintf(stderr, "streamc: out of memory\n");
            exit(1);
        }
    }
    (*a)[(*n)++] = v;
}


static void
append(char **p, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n) {
            c *= 2;
        }
        *p = realloc(*p, c);
        if (*p == NULL) {
            fprintf(stderr, "streamc: out of memory\n");
            exit(1);
        }
        *cap = c;
    }
    memcpy(*p + *len, s, n);
    *len += n;
}


static int
cmp64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}


static double
pct(uint64_t *a, size_t n, double p)
{
    size_t i;

    if (n == 0) {
        return -1;
    }
    i = (size_t) (p * (double) (n - 1) + 0.5);
    return (double) a[i] / 1000.0;     /* microseconds */
}


static void
on_event(resp_t *r, uint64_t t)
{
    char     *m;
    uint64_t  sent;

    r->events++;
    if (!r->first_seen) {
        r->first_seen = 1;
        r->t_first = t;
    }
    m = memmem(r->ev, r->evlen, "t=", 2);
    while (m) {
        char *e = m + 2;
        sent = 0;
        while (e < r->ev + r->evlen && *e >= '0' && *e <= '9') {
            sent = sent * 10 + (uint64_t) (*e - '0');
            e++;
        }
        if (e > m + 2 && sent) {
            r->marked++;
            if (t > sent) {
                push(&transit, &ntransit, &ctransit, t - sent);
            } else {
                push(&transit, &ntransit, &ctransit, 0);
            }
            break;
        }
        m = memmem(e, (size_t) (r->ev + r->evlen - e), "t=", 2);
    }
}


/* body bytes: cut into SSE events (kept whole only when collecting) */
static void
body(resp_t *r, const char *p, size_t n, uint64_t t, int collect)
{
    size_t i;

    r->bytes += (long) n;
    for (i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\r') {
            continue;
        }
        if (ch == '\n' && r->prevnl) {
            if (r->evbytes > 1) {
                on_event(r, t);
            }
            r->evlen = 0;
            r->evbytes = 0;
            r->prevnl = 0;
            continue;
        }
        if (collect) {
            append(&r->ev, &r->evlen, &r->evcap, &ch, 1);
        }
        r->prevnl = (ch == '\n');
        r->evbytes++;
    }
}


/* feed received bytes; returns 1 when the response has ended */
static int
feed(resp_t *r, const char *p, size_t n, uint64_t t, int collect)
{
    size_t k;

    while (n && r->state != 6) {
        switch (r->state) {
        case 0: {
            char *e;
            append(&r->hbuf, &r->hlen, &r->hcap, p, n);
            e = memmem(r->hbuf, r->hlen, "\r\n\r\n", 4);
            if (e == NULL) {
                return 0;
            }
            {
                size_t hl = (size_t) (e + 4 - r->hbuf);
                size_t rest = r->hlen - hl;
                char *cl, *te;

                r->status = atoi(r->hbuf + 9);
                r->hbuf[hl - 2] = '\0';
                cl = strcasestr(r->hbuf, "\r\ncontent-length:");
                te = strcasestr(r->hbuf, "\r\ntransfer-encoding:");
                r->chunked = te && strncasecmp(te + 20 + strspn(te + 20, " "),
                                               "chunked", 7) == 0;
                r->clen = cl ? atol(cl + 17) : -1;
                if (r->status == 100) {  /* the real answer follows */
                    p = p + n - rest;
                    n = rest;
                    r->hlen = 0;
                    break;
                }
                r->state = r->chunked ? 2 : (r->clen >= 0 ? 1 : 7);
                r->need = r->clen >= 0 ? (size_t) r->clen : 0;
                if (r->state == 1 && r->need == 0) {
                    r->state = 6;
                }
                /* the bytes after the header */
                p = p + n - rest;
                n = rest;
                r->hlen = 0;
            }
            break;
        }
        case 1:
            k = n < r->need ? n : r->need;
            body(r, p, k, t, collect);
            p += k; n -= k; r->need -= k;
            if (r->need == 0) {
                r->state = 6;
            }
            break;
        case 7:                        /* until close */
            body(r, p, n, t, collect);
            n = 0;
            break;
        case 2:
        case 5: {
            char *e;
            append(&r->hbuf, &r->hlen, &r->hcap, p, n);
            e = memmem(r->hbuf, r->hlen, "\r\n", 2);
            if (e == NULL) {
                return 0;
            }
            {
                size_t ll = (size_t) (e + 2 - r->hbuf);
                size_t rest = r->hlen - ll;
                if (r->state == 2) {
                    r->need = strtoul(r->hbuf, NULL, 16);
                    r->state = r->need ? 3 : 5;
                } else if (ll == 2) {
                    r->state = 6;
                }
                p = p + n - rest;
                n = rest;
                r->hlen = 0;
            }
            break;
        }
        case 3:
            k = n < r->need ? n : r->need;
            body(r, p, k, t, collect);
            p += k; n -= k; r->need -= k;
            if (r->need == 0) {
                r->state = 4;
                r->need = 2;
            }
            break;
        case 4:
            k = n < r->need ? n : r->need;
            p += k; n -= k; r->need -= k;
            if (r->need == 0) {
                r->state = 2;
            }
            break;
        }
    }
    return r->state == 6;
}


static void
reset(resp_t *r)
{
    r->status = 0;
    r->state = 0;
    r->hlen = 0;
    r->evlen = 0;
    r->evbytes = 0;
    r->prevnl = 0;
    r->events = 0;
    r->marked = 0;
    r->bytes = 0;
    r->first_seen = 0;
    r->ended = 0;
    r->woff = 0;
}


static int
connect_to(int port, int nonblock)
{
    int                 fd, one = 1;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        perror("streamc: socket");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }
    return fd;
}


static int
write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t) w;
    }
    return 0;
}


static int
run_lat(int port, long streams)
{
    resp_t    r;
    int       fd = -1;
    long      i, bad = 0, events = 0;
    char      buf[65536];
    ssize_t   n;
    uint64_t  t;

    memset(&r, 0, sizeof(r));
    for (i = 0; i < streams; i++) {
        if (fd < 0) {
            fd = connect_to(port, 0);
            if (fd < 0) {
                perror("streamc: connect");
                return 1;
            }
        }
        reset(&r);
        r.t_sent = now_ns();
        if (write_all(fd, req, reqlen) < 0) {
            close(fd);
            fd = -1;
            bad++;
            continue;
        }
        for ( ;; ) {
            n = read(fd, buf, sizeof(buf));
            t = now_ns();
            if (n <= 0) {
                if (r.state == 7) {
                    r.state = 6;
                }
                close(fd);
                fd = -1;
                break;
            }
            if (feed(&r, buf, (size_t) n, t, 1)) {
                break;
            }
        }
        if (r.state != 6 || r.status != 200 || r.events == 0) {
            bad++;
            if (bad < 4) {
                fprintf(stderr, "streamc: stream %ld: status %d, %ld events,"
                        " state %d\n", i, r.status, r.events, r.state);
            }
            continue;
        }
        events += r.events;
        push(&ttfe, &nttfe, &cttfe, r.t_first - r.t_sent);
    }
    if (fd >= 0) {
        close(fd);
    }

    qsort(ttfe, nttfe, sizeof(uint64_t), cmp64);
    qsort(transit, ntransit, sizeof(uint64_t), cmp64);
    printf("streams=%zu failed=%ld events=%ld marked=%zu "
           "ttfe_p50_us=%.1f ttfe_p99_us=%.1f "
           "transit_p50_us=%.1f transit_p90_us=%.1f transit_p99_us=%.1f\n",
           nttfe, bad, events, ntransit,
           pct(ttfe, nttfe, 0.5), pct(ttfe, nttfe, 0.99),
           pct(transit, ntransit, 0.5), pct(transit, ntransit, 0.9),
           pct(transit, ntransit, 0.99));
    return bad ? 1 : 0;
}


static int
run_hold(int port, long conns)
{
    int                 ep, i, n, all_open_said = 0;
    long                live, firsts = 0, events = 0, bytes = 0;
    resp_t             *rs;
    struct epoll_event  ev, evs[256];
    char                buf[65536];
    uint64_t            t0 = now_ns(), t_open = 0;

    rs = calloc((size_t) conns, sizeof(resp_t));
    ep = epoll_create1(0);
    for (i = 0; i < conns; i++) {
        rs[i].fd = connect_to(port, 1);
        if (rs[i].fd < 0) {
            perror("streamc: connect");
            return 1;
        }
        ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
        ev.data.ptr = &rs[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, rs[i].fd, &ev);
        rs[i].t_sent = now_ns();
    }
    live = conns;

    while (live > 0) {
        n = epoll_wait(ep, evs, 256, 60000);
        if (n <= 0) {
            fprintf(stderr, "streamc: nothing for 60 s, %ld still open\n",
                    live);
            break;
        }
        for (i = 0; i < n; i++) {
            resp_t *r = evs[i].data.ptr;
            if (r->ended) {
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && r->woff < reqlen) {
                ssize_t w = write(r->fd, req + r->woff, reqlen - r->woff);
                if (w > 0) {
                    r->woff += (size_t) w;
                }
                if (r->woff == reqlen) {
                    ev.events = EPOLLIN | EPOLLRDHUP;
                    ev.data.ptr = r;
                    epoll_ctl(ep, EPOLL_CTL_MOD, r->fd, &ev);
                }
                if (w < 0 && errno != EAGAIN) {
                    goto fail;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP
                                 | EPOLLERR))
            {
                for ( ;; ) {
                    ssize_t m = read(r->fd, buf, sizeof(buf));
                    uint64_t t = now_ns();
                    if (m > 0) {
                        int had = r->first_seen;
                        if (feed(r, buf, (size_t) m, t, 0)) {
                            goto done;
                        }
                        if (!had && r->first_seen) {
                            firsts++;
                            open_now++;
                            if (open_now > open_max) {
                                open_max = open_now;
                            }
                        }
                        continue;
                    }
                    if (m < 0 && errno == EAGAIN) {
                        break;
                    }
                    if (m == 0 && r->state == 7) {
                        r->state = 6;
                        goto done;
                    }
                    goto fail;
                }
                continue;
            }
            continue;
        done:
            if (!r->first_seen && r->events) {
                firsts++;
            }
            if (r->first_seen) {
                push(&ttfe, &nttfe, &cttfe, r->t_first - r->t_sent);
            }
            if (r->first_seen) {
                open_now--;
            }
            r->ended = 1;
            live--;
            events += r->events;
            bytes += r->bytes;
            if (r->status == 200 && r->events) {
                ended_ok++;
            } else {
                failed++;
            }
            close(r->fd);
            continue;
        fail:
            if (r->first_seen) {
                open_now--;
            }
            r->ended = 1;
            live--;
            failed++;
            bytes += r->bytes;
            events += r->events;
            if (failed < 4) {
                fprintf(stderr, "streamc: a stream failed: status %d, "
                        "%ld events\n", r->status, r->events);
            }
            close(r->fd);
        }
        if (!all_open_said && firsts == conns) {
            all_open_said = 1;
            t_open = now_ns();
            fprintf(stderr, "OPEN %ld\n", open_now);
        }
    }

    qsort(ttfe, nttfe, sizeof(uint64_t), cmp64);
    printf("conns=%ld ok=%ld failed=%ld open_max=%ld events=%ld bytes=%ld "
           "all_open_after_ms=%.1f total_ms=%.1f "
           "ttfe_p50_ms=%.1f ttfe_p99_ms=%.1f ttfe_max_ms=%.1f\n",
           conns, ended_ok, failed, open_max, events, bytes,
           t_open ? (double) (t_open - t0) / 1e6 : -1.0,
           (double) (now_ns() - t0) / 1e6,
           pct(ttfe, nttfe, 0.5) / 1000, pct(ttfe, nttfe, 0.99) / 1000,
           nttfe ? (double) ttfe[nttfe - 1] / 1e6 : 0.0);
    return failed ? 1 : 0;
}


int
main(int argc, char **argv)
{
    int          opt, port = 0;
    const char  *mode = "lat", *path = NULL, *bodyf = NULL;
    const char  *hdrs[32];
    int          nh = 0, i;
    long         streams = 100, conns = 1;
    char        *bodyp;
    FILE        *f;
    struct stat  st;
    size_t       cap = 0, hl;
    char         head[8192];

    while ((opt = getopt(argc, argv, "m:p:u:b:n:c:H:")) != -1) {
        switch (opt) {
        case 'm': mode = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'u': path = optarg; break;
        case 'b': bodyf = optarg; break;
        case 'n': streams = atol(optarg); break;
        case 'c': conns = atol(optarg); break;
        case 'H':
            if (nh < 32) {
                hdrs[nh++] = optarg;
            }
            break;
        default:
            goto usage;
        }
    }
    if (port <= 0 || path == NULL || bodyf == NULL) {
        goto usage;
    }

    f = fopen(bodyf, "rb");
    if (f == NULL || fstat(fileno(f), &st) < 0) {
        perror(bodyf);
        return 1;
    }
    bodyp = malloc((size_t) st.st_size + 1);
    if (fread(bodyp, 1, (size_t) st.st_size, f) != (size_t) st.st_size) {
        perror(bodyf);
        return 1;
    }
    fclose(f);

    hl = (size_t) snprintf(head, sizeof(head),
            "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            "Content-Length: %lld\r\n", path, port, (long long) st.st_size);
    for (i = 0; i < nh; i++) {
        hl += (size_t) snprintf(head + hl, sizeof(head) - hl, "%s\r\n",
                                hdrs[i]);
    }
    hl += (size_t) snprintf(head + hl, sizeof(head) - hl, "\r\n");
    append(&req, &reqlen, &cap, head, hl);
    append(&req, &reqlen, &cap, bodyp, (size_t) st.st_size);
    free(bodyp);

    if (strcmp(mode, "lat") == 0) {
        return run_lat(port, streams);
    }
    if (strcmp(mode, "hold") == 0) {
        return run_hold(port, conns);
    }

usage:
    fprintf(stderr, "usage: streamc -m lat|hold -p PORT -u PATH -b BODY "
                    "[-n streams] [-c conns] [-H 'Name: value']...\n");
    return 2;
}
