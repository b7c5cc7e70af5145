/*
 * benchd: a fast, dependency-free stand-in for Docker Model Runner, for
 * `make bench` (tools/bench/run.sh).
 *
 *   benchd -p 20001-20030[,20050...] [-t threads]
 *
 * One process listens on every port given (1, 3 or 30 "endpoints" are just
 * ports of the same process).  Each thread runs its own level-triggered
 * epoll loop over all the listening sockets (EPOLLEXCLUSIVE) and owns the
 * connections it accepts.  HTTP/1.1 with keep-alive and pipelining.
 *
 *   GET|HEAD  .../models                  {"object":"list","data":[]}
 *   GET       /engines/ps                 ai/smollm2 loaded (DMR's running
 *                                         models)
 *   POST      .../chat/completions,
 *             .../completions             a canned chat completion, or
 *                                         with "stream":true an SSE stream
 *                                         of chat.completion.chunk events
 *   POST      /anthropic/v1/messages      a canned Anthropic message, or
 *                                         its SSE stream (message_start ...
 *                                         message_stop)
 *   POST      .../count_tokens            {"input_tokens":N}
 *
 * The whole request body is read first (Content-Length or chunked); a
 * top-level "stream": true (found by a small depth-tracking JSON scan)
 * asks for a stream.  Stream controls, from a header or the query string:
 *
 *   X-Bench-Events    / events=N     content events (default 20)
 *   X-Bench-Delay-Us  / delay_us=N   microseconds between events (default 0)
 *   X-Bench-Bytes     / bytes=N      instead of N events: content events
 *                                    until the body reaches N bytes
 *
 * Every event is one HTTP chunk written with its own write(2).  Content
 * events carry "t=<CLOCK_MONOTONIC ns> " as their text, the moment the
 * event was written, so a client on the same machine measures each event's
 * transit time even through a proxy that rewrites the events (the
 * Anthropic translation keeps the text).
 *
 * SIGTERM / SIGINT stop it.  Written for the benchmark, not for the world:
 * requests are trusted to be sane (bounded, but not hardened).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS       256
#define HEAD_MAX        (64 * 1024)
#define BODY_MAX        (256u * 1024 * 1024)
#define BURST           64          /* events written back to back before
                                       yielding to other connections */

enum { K_LISTEN = 1, K_CONN, K_TIMER };

enum {
    S_HEAD, S_BODY_CL, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_CRLF,
    S_CHUNK_TRAILER, S_RESPOND, S_STREAM
};

enum { API_OPENAI = 1, API_ANTHROPIC };

typedef struct conn_s conn_t;

typedef struct {
    int      kind;
    int      fd;
    conn_t  *c;
} tag_t;

struct conn_s {
    tag_t     tag;
    tag_t     ttag;            /* its timerfd, when streaming with delay */
    int       ep;
    int       state;
    int       keepalive;
    int       head_only;

    char     *rbuf;            /* received, not yet consumed */
    size_t    rlen, rcap;

    char     *body;            /* the request body */
    size_t    blen, bcap;
    size_t    need;            /* body bytes still expected (CL / chunk) */

    char     *wbuf;            /* to write */
    size_t    wlen, woff, wcap;
    int       want_out;        /* EPOLLOUT registered */

    /* request */
    char      path[2048];
    long      events;
    long      delay_us;
    long      bytes;

    /* stream */
    int       api;
    long      seq;             /* next event number */
    long      sent;            /* body bytes sent */
    int       done_content;
    int       phase;           /* 0 prelude, 1 content, 2 trailer, 3 end */
};

static volatile sig_atomic_t  stop;
static int   lfds[MAX_PORTS];
static int   nlfds;

static const char CHAT[] =
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\","
    "\"created\":1700000000,\"model\":\"ai/smollm2\","
    "\"system_fingerprint\":\"b1\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"Hello! This is the "
    "benchmark backend's canned answer; it has about the length of a short "
    "reply from a small model.\"},\"logprobs\":null,"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":24,"
    "\"completion_tokens\":24,\"total_tokens\":48}}";

static const char MESSAGE[] =
    "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"ai/smollm2\",\"content\":[{\"type\":\"text\",\"text\":"
    "\"Hello! This is the benchmark backend's canned answer; it has about "
    "the length of a short reply from a small model.\"}],"
    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":24,\"output_tokens\":24}}";

static const char MODELS[] = "{\"object\":\"list\",\"data\":[]}";


static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}


static void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "benchd: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, ": %s\n", strerror(errno));
    va_end(ap);
    exit(1);
}


static void
grow(char **p, size_t *cap, size_t need)
{
    size_t n;

    if (need <= *cap) {
        return;
    }
    n = *cap ? *cap : 4096;
    while (n < need) {
        n *= 2;
    }
    *p = realloc(*p, n);
    if (*p == NULL) {
        fprintf(stderr, "benchd: out of memory\n");
        exit(1);
    }
    *cap = n;
}


static void
out(conn_t *c, const char *p, size_t len)
{
    grow(&c->wbuf, &c->wcap, c->wlen + len);
    memcpy(c->wbuf + c->wlen, p, len);
    c->wlen += len;
}


static void
outf(conn_t *c, const char *fmt, ...)
{
    char     tmp[4096];
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    out(c, tmp, (size_t) n);
}


static void
set_out(conn_t *c, int on)
{
    struct epoll_event ev;

    if (c->want_out == on) {
        return;
    }
    c->want_out = on;
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
    ev.data.ptr = &c->tag;
    epoll_ctl(c->ep, EPOLL_CTL_MOD, c->tag.fd, &ev);
}


static void
conn_close(conn_t *c)
{
    if (c->ttag.fd >= 0) {
        close(c->ttag.fd);
    }
    close(c->tag.fd);
    free(c->rbuf);
    free(c->body);
    free(c->wbuf);
    free(c);
}


/* write what is buffered; 1: all written, 0: would block, -1: error */
static int
flush(conn_t *c)
{
    ssize_t n;

    while (c->woff < c->wlen) {
        n = write(c->tag.fd, c->wbuf + c->woff, c->wlen - c->woff);
        if (n > 0) {
            c->woff += (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            set_out(c, 1);
            return 0;
        }
        return -1;
    }
    c->woff = c->wlen = 0;
    return 1;
}


/* ------------------------------------------------------------ requests */

static long
query_arg(const char *path, const char *name)
{
    const char *q = strchr(path, '?');
    size_t      n = strlen(name);

    while (q) {
        q++;
        if (strncmp(q, name, n) == 0 && q[n] == '=') {
            return atol(q + n + 1);
        }
        q = strchr(q, '&');
    }
    return -1;
}


static int
path_ends(const char *path, const char *suffix)
{
    size_t  pl, sl = strlen(suffix);
    const char *q = strchr(path, '?');

    pl = q ? (size_t) (q - path) : strlen(path);
    return pl >= sl && memcmp(path + pl - sl, suffix, sl) == 0;
}


/* a top-level "stream": true in a JSON object */
static int
wants_stream(const char *p, size_t len)
{
    size_t  i, j;
    int     depth = 0;

    for (i = 0; i < len; i++) {
        switch (p[i]) {
        case '{': case '[':
            depth++;
            break;
        case '}': case ']':
            depth--;
            break;
        case '"':
            /* the closing quote: memchr, then skip escaped ones */
            j = i + 1;
            for ( ;; ) {
                const char *q = memchr(p + j, '"', len - j);
                size_t      bs = 0;
                if (q == NULL) {
                    return 0;
                }
                j = (size_t) (q - p);
                while (j - bs > i + 1 && p[j - bs - 1] == '\\') {
                    bs++;
                }
                if (bs % 2 == 0) {
                    break;
                }
                j++;
            }
            if (depth == 1 && j - i - 1 == 6
                && memcmp(p + i + 1, "stream", 6) == 0)
            {
                size_t k = j + 1;
                while (k < len && (p[k] == ' ' || p[k] == '\t'
                                   || p[k] == '\r' || p[k] == '\n'))
                {
                    k++;
                }
                if (k < len && p[k] == ':') {
                    k++;
                    while (k < len && (p[k] == ' ' || p[k] == '\t'
                                       || p[k] == '\r' || p[k] == '\n'))
                    {
                        k++;
                    }
                    return k + 4 <= len && memcmp(p + k, "true", 4) == 0;
                }
            }
            i = j;
            break;
        }
    }
    return 0;
}


static void
respond_json(conn_t *c, int status, const char *json, size_t len)
{
    outf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %zu\r\n%s\r\n",
         status, status == 200 ? "OK" : "Not Found", len,
         c->keepalive ? "" : "Connection: close\r\n");
    if (!c->head_only) {
        out(c, json, len);
    }
}


static void
chunk(conn_t *c, const char *p, size_t len)
{
    outf(c, "%zx\r\n", len);
    out(c, p, len);
    out(c, "\r\n", 2);
    c->sent += (long) len;
}


/* the next stream event into wbuf; returns 0 when the stream has ended */
static int
next_event(conn_t *c)
{
    char  ev[1024];
    int   n;
    int   more;

    if (c->phase == 0) {
        if (c->api == API_ANTHROPIC) {
            if (c->seq == 0) {
                n = snprintf(ev, sizeof(ev), "event: message_start\ndata: "
                    "{\"type\":\"message_start\",\"message\":{\"id\":"
                    "\"msg_bench\",\"type\":\"message\",\"role\":"
                    "\"assistant\",\"model\":\"ai/smollm2\",\"content\":[],"
                    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":"
                    "{\"input_tokens\":24,\"output_tokens\":1}}}\n\n");
                chunk(c, ev, (size_t) n);
                c->seq++;
                return 1;
            }
            n = snprintf(ev, sizeof(ev), "event: content_block_start\ndata: "
                "{\"type\":\"content_block_start\",\"index\":0,"
                "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
            chunk(c, ev, (size_t) n);
        }
        c->phase = 1;
        c->seq = 0;
        if (c->api == API_ANTHROPIC) {
            return 1;
        }
    }

    if (c->phase == 1) {
        unsigned long long t = (unsigned long long) now_ns();

        if (c->api == API_ANTHROPIC) {
            n = snprintf(ev, sizeof(ev), "event: content_block_delta\ndata: "
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
                "{\"type\":\"text_delta\",\"text\":\"t=%llu \"}}\n\n", t);
        } else {
            n = snprintf(ev, sizeof(ev), "data: {\"id\":\"chatcmpl-bench\","
                "\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                "\"model\":\"ai/smollm2\",\"system_fingerprint\":\"b1\","
                "\"choices\":[{\"index\":0,\"delta\":{%s\"content\":"
                "\"t=%llu \"},\"logprobs\":null,\"finish_reason\":null}]}"
                "\n\n", c->seq == 0 ? "\"role\":\"assistant\"," : "", t);
        }
        chunk(c, ev, (size_t) n);
        c->seq++;
        more = c->bytes > 0 ? c->sent < c->bytes : c->seq < c->events;
        if (!more) {
            c->phase = 2;
            c->seq = 0;
        }
        return 1;
    }

    if (c->phase == 2) {
        if (c->api == API_ANTHROPIC) {
            switch (c->seq++) {
            case 0:
                n = snprintf(ev, sizeof(ev), "event: content_block_stop\n"
                    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
                break;
            case 1:
                n = snprintf(ev, sizeof(ev), "event: message_delta\ndata: "
                    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                    "\"end_turn\",\"stop_sequence\":null},\"usage\":"
                    "{\"output_tokens\":%ld}}\n\n", c->events);
                break;
            default:
                n = snprintf(ev, sizeof(ev), "event: message_stop\n"
                    "data: {\"type\":\"message_stop\"}\n\n");
                c->phase = 3;
                break;
            }
            chunk(c, ev, (size_t) n);
        } else {
            if (c->seq++ == 0) {
                n = snprintf(ev, sizeof(ev), "data: {\"id\":\"chatcmpl-bench\","
                    "\"object\":\"chat.completion.chunk\","
                    "\"created\":1700000000,\"model\":\"ai/smollm2\","
                    "\"system_fingerprint\":\"b1\",\"choices\":[{\"index\":0,"
                    "\"delta\":{},\"logprobs\":null,\"finish_reason\":"
                    "\"stop\"}],\"usage\":{\"prompt_tokens\":24,"
                    "\"completion_tokens\":%ld,\"total_tokens\":%ld}}\n\n",
                    c->events, c->events + 24);
                chunk(c, ev, (size_t) n);
            } else {
                chunk(c, "data: [DONE]\n\n", 14);
                c->phase = 3;
            }
        }
        if (c->phase == 3) {
            out(c, "0\r\n\r\n", 5);
        }
        return 1;
    }

    return 0;
}


static int process(conn_t *c);


static void
stream_end(conn_t *c)
{
    if (c->ttag.fd >= 0) {
        epoll_ctl(c->ep, EPOLL_CTL_DEL, c->ttag.fd, NULL);
        close(c->ttag.fd);
        c->ttag.fd = -1;
    }
    c->state = S_HEAD;
}


static void
arm_timer(conn_t *c)
{
    struct itimerspec  its;
    struct epoll_event ev;

    if (c->ttag.fd < 0) {
        c->ttag.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        if (c->ttag.fd < 0) {
            die("timerfd_create");
        }
        c->ttag.kind = K_TIMER;
        c->ttag.c = c;
        ev.events = EPOLLIN;
        ev.data.ptr = &c->ttag;
        epoll_ctl(c->ep, EPOLL_CTL_ADD, c->ttag.fd, &ev);
    }
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = c->delay_us / 1000000;
    its.it_value.tv_nsec = (c->delay_us % 1000000) * 1000;
    timerfd_settime(c->ttag.fd, 0, &its, NULL);
}


/*
 * Push the stream on: with a delay one event per call (the timer calls
 * again), else events back to back while the socket takes them.
 * Returns -1 to close the connection.
 */
static int
stream_step(conn_t *c)
{
    int i, r;

    for (i = 0; i < (c->delay_us > 0 ? 1 : BURST); i++) {
        if (c->wlen) {
            r = flush(c);
            if (r <= 0) {
                return r;         /* EPOLLOUT brings us back */
            }
        }
        if (!next_event(c)) {
            break;
        }
        r = flush(c);
        if (r < 0) {
            return -1;
        }
        if (c->phase == 3 && r == 1) {
            break;
        }
        if (r == 0) {
            return 0;
        }
    }

    if (c->phase == 3) {
        if (c->wlen) {
            return 0;             /* the rest after EPOLLOUT */
        }
        stream_end(c);
        if (!c->keepalive) {
            return -1;
        }
        return process(c);        /* a pipelined request may wait */
    }

    if (c->delay_us > 0) {
        arm_timer(c);
    } else {
        set_out(c, 1);            /* level-triggered: back at once */
    }
    return 0;
}


static void
header_value(const char *h, const char *end, const char *name, char *v,
    size_t vsz)
{
    size_t      n = strlen(name);
    const char *p = h, *e, *s;

    v[0] = '\0';
    while (p < end) {
        e = memchr(p, '\n', (size_t) (end - p));
        if (e == NULL) {
            e = end;
        }
        if ((size_t) (e - p) > n && strncasecmp(p, name, n) == 0
            && p[n] == ':')
        {
            s = p + n + 1;
            while (s < e && (*s == ' ' || *s == '\t')) {
                s++;
            }
            n = (size_t) (e - s);
            while (n && (s[n - 1] == '\r' || s[n - 1] == ' ')) {
                n--;
            }
            if (n >= vsz) {
                n = vsz - 1;
            }
            memcpy(v, s, n);
            v[n] = '\0';
            return;
        }
        p = e + 1;
    }
}


static void
respond(conn_t *c)
{
    int   stream = wants_stream(c->body, c->blen);
    int   api;

    if (path_ends(c->path, "/count_tokens")) {
        respond_json(c, 200, "{\"input_tokens\":24}", 19);
        return;
    }

    if (path_ends(c->path, "/models")) {
        respond_json(c, 200, MODELS, sizeof(MODELS) - 1);
        return;
    }

    if (path_ends(c->path, "/engines/ps")) {
        /* DMR's running models: the bench's model is loaded */
        static const char ps[] =
            "[{\"backend_name\":\"llama.cpp\",\"model_name\":\"ai/smollm2\","
            "\"mode\":\"completion\",\"last_used\":\"2026-12-07T10:00:00Z\"}]";
        respond_json(c, 200, ps, sizeof(ps) - 1);
        return;
    }

    if (path_ends(c->path, "/anthropic/v1/messages")
        || path_ends(c->path, "/v1/messages"))
    {
        api = API_ANTHROPIC;

    } else if (path_ends(c->path, "/completions")) {
        api = API_OPENAI;

    } else {
        static const char nf[] =
            "{\"error\":{\"message\":\"not found\",\"type\":\"not_found\"}}";
        respond_json(c, 404, nf, sizeof(nf) - 1);
        return;
    }

    if (!stream) {
        if (api == API_ANTHROPIC) {
            respond_json(c, 200, MESSAGE, sizeof(MESSAGE) - 1);
        } else {
            respond_json(c, 200, CHAT, sizeof(CHAT) - 1);
        }
        return;
    }

    outf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n%s\r\n",
         c->keepalive ? "" : "Connection: close\r\n");
    c->api = api;
    c->seq = 0;
    c->sent = 0;
    c->phase = 0;
    c->state = S_STREAM;
}


/* consume rbuf; returns -1 to close */
static int
process(conn_t *c)
{
    char   *p, *eoh, v[64];
    size_t  used = 0, n;
    long    q;

    for ( ;; ) {
        p = c->rbuf + used;
        n = c->rlen - used;

        switch (c->state) {

        case S_HEAD: {
            char  *sp, *sp2;
            char   te[64], cl[32];

            eoh = memmem(p, n, "\r\n\r\n", 4);
            if (eoh == NULL) {
                if (n > HEAD_MAX) {
                    return -1;
                }
                goto more;
            }
            sp = memchr(p, ' ', (size_t) (eoh - p));
            sp2 = sp ? memchr(sp + 1, ' ', (size_t) (eoh - sp - 1)) : NULL;
            if (sp2 == NULL || (size_t) (sp2 - sp - 1) >= sizeof(c->path)) {
                return -1;
            }
            memcpy(c->path, sp + 1, (size_t) (sp2 - sp - 1));
            c->path[sp2 - sp - 1] = '\0';
            c->head_only = (sp - p == 4 && memcmp(p, "HEAD", 4) == 0);
            c->keepalive = memcmp(sp2 + 1, "HTTP/1.1", 8) == 0;

            header_value(p, eoh + 2, "Connection", v, sizeof(v));
            if (strcasecmp(v, "close") == 0) {
                c->keepalive = 0;
            } else if (strcasecmp(v, "keep-alive") == 0) {
                c->keepalive = 1;
            }

            c->events = 20;
            c->delay_us = 0;
            c->bytes = 0;
            if ((q = query_arg(c->path, "events")) >= 0) c->events = q;
            if ((q = query_arg(c->path, "delay_us")) >= 0) c->delay_us = q;
            if ((q = query_arg(c->path, "bytes")) >= 0) c->bytes = q;
            header_value(p, eoh + 2, "X-Bench-Events", v, sizeof(v));
            if (v[0]) c->events = atol(v);
            header_value(p, eoh + 2, "X-Bench-Delay-Us", v, sizeof(v));
            if (v[0]) c->delay_us = atol(v);
            header_value(p, eoh + 2, "X-Bench-Bytes", v, sizeof(v));
            if (v[0]) c->bytes = atol(v);
            if (c->events < 1) c->events = 1;

            header_value(p, eoh + 2, "Expect", v, sizeof(v));
            if (strcasecmp(v, "100-continue") == 0) {
                out(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            }

            header_value(p, eoh + 2, "Transfer-Encoding", te, sizeof(te));
            header_value(p, eoh + 2, "Content-Length", cl, sizeof(cl));
            c->blen = 0;
            used += (size_t) (eoh + 4 - p);

            if (strcasestr(te, "chunked")) {
                c->state = S_CHUNK_SIZE;
            } else if (cl[0]) {
                c->need = strtoul(cl, NULL, 10);
                if (c->need > BODY_MAX) {
                    return -1;
                }
                c->state = c->need ? S_BODY_CL : S_RESPOND;
            } else {
                c->state = S_RESPOND;
            }
            break;
        }

        case S_BODY_CL:
            if (n == 0) {
                goto more;
            }
            if (n > c->need) {
                n = c->need;
            }
            grow(&c->body, &c->bcap, c->blen + n);
            memcpy(c->body + c->blen, p, n);
            c->blen += n;
            c->need -= n;
            used += n;
            if (c->need == 0) {
                c->state = S_RESPOND;
            }
            break;

        case S_CHUNK_SIZE:
            eoh = memmem(p, n, "\r\n", 2);
            if (eoh == NULL) {
                if (n > 1024) {
                    return -1;
                }
                goto more;
            }
            c->need = strtoul(p, NULL, 16);
            used += (size_t) (eoh + 2 - p);
            if (c->blen + c->need > BODY_MAX) {
                return -1;
            }
            c->state = c->need ? S_CHUNK_DATA : S_CHUNK_TRAILER;
            break;

        case S_CHUNK_DATA:
            if (n == 0) {
                goto more;
            }
            if (n > c->need) {
                n = c->need;
            }
            grow(&c->body, &c->bcap, c->blen + n);
            memcpy(c->body + c->blen, p, n);
            c->blen += n;
            c->need -= n;
            used += n;
            if (c->need == 0) {
                c->state = S_CHUNK_CRLF;
            }
            break;

        case S_CHUNK_CRLF:
            if (n < 2) {
                goto more;
            }
            used += 2;
            c->state = S_CHUNK_SIZE;
            break;

        case S_CHUNK_TRAILER:
            eoh = memmem(p, n, "\r\n", 2);
            if (eoh == NULL) {
                goto more;
            }
            used += (size_t) (eoh + 2 - p);
            if (eoh == p) {
                c->state = S_RESPOND;
            }
            break;

        case S_RESPOND:
            c->state = S_HEAD;
            respond(c);
            if (c->state == S_STREAM) {
                /* keep unread pipelined bytes for after the stream */
                memmove(c->rbuf, c->rbuf + used, c->rlen - used);
                c->rlen -= used;
                return stream_step(c);
            }
            if (flush(c) < 0) {
                return -1;
            }
            if (!c->keepalive && c->wlen == 0) {
                return -1;
            }
            break;

        case S_STREAM:
            goto more;        /* reading waits for the stream's end */
        }
    }

more:
    if (used) {
        memmove(c->rbuf, c->rbuf + used, c->rlen - used);
        c->rlen -= used;
    }
    return 0;
}


static int
on_read(conn_t *c)
{
    ssize_t n;

    for ( ;; ) {
        grow(&c->rbuf, &c->rcap, c->rlen + 65536);
        n = read(c->tag.fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n > 0) {
            c->rlen += (size_t) n;
            if (c->state != S_STREAM && process(c) < 0) {
                return -1;
            }
            if (c->state == S_STREAM && c->rlen > HEAD_MAX) {
                return -1;
            }
            if ((size_t) n < 65536) {
                return 0;
            }
            continue;
        }
        if (n == 0) {
            return -1;
        }
        if (errno == EINTR) {
            continue;
        }
        return errno == EAGAIN ? 0 : -1;
    }
}


static void
on_accept(int ep, int lfd)
{
    int                 fd, one = 1;
    conn_t             *c;
    struct epoll_event  ev;

    for ( ;; ) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = calloc(1, sizeof(conn_t));
        if (c == NULL) {
            close(fd);
            return;
        }
        c->tag.kind = K_CONN;
        c->tag.fd = fd;
        c->tag.c = c;
        c->ttag.fd = -1;
        c->ep = ep;
        c->state = S_HEAD;
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.ptr = &c->tag;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
        }
    }
}


static void *
loop(void *arg)
{
    int                 ep, i, n, r;
    tag_t              *t, ltags[MAX_PORTS];
    conn_t             *c;
    uint64_t            exp;
    struct epoll_event  ev, evs[256];

    (void) arg;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        die("epoll_create1");
    }
    for (i = 0; i < nlfds; i++) {
        ltags[i].kind = K_LISTEN;
        ltags[i].fd = lfds[i];
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.ptr = &ltags[i];
        if (epoll_ctl(ep, EPOLL_CTL_ADD, lfds[i], &ev) < 0) {
            die("epoll_ctl");
        }
    }

    while (!stop) {
        n = epoll_wait(ep, evs, 256, 500);
        for (i = 0; i < n; i++) {
            t = evs[i].data.ptr;
            if (t == NULL) {
                continue;         /* its connection was closed */
            }
            if (t->kind == K_LISTEN) {
                on_accept(ep, t->fd);
                continue;
            }
            c = t->c;
            r = 0;
            if (t->kind == K_TIMER) {
                if (read(t->fd, &exp, sizeof(exp)) < 0 && errno == EAGAIN) {
                    continue;
                }
                r = stream_step(c);
            } else {
                if (evs[i].events & EPOLLOUT) {
                    if (c->state == S_STREAM) {
                        set_out(c, 0);
                        r = stream_step(c);
                    } else {
                        r = flush(c);
                        if (r == 1) {
                            set_out(c, 0);
                            r = c->keepalive ? process(c) : -1;
                        } else {
                            r = r < 0 ? -1 : 0;
                        }
                    }
                }
                if (r >= 0 && (evs[i].events & (EPOLLIN | EPOLLRDHUP
                                                 | EPOLLHUP | EPOLLERR)))
                {
                    r = on_read(c);
                }
            }
            if (r < 0) {
                /* the other events of this batch may name it: forget them */
                int j;
                for (j = i + 1; j < n; j++) {
                    tag_t *o = evs[j].data.ptr;
                    if (o->kind != K_LISTEN && o->c == c) {
                        evs[j].data.ptr = NULL;
                        evs[j].events = 0;
                    }
                }
                conn_close(c);
            }
        }
    }
    return NULL;
}


static void
on_signal(int sig)
{
    (void) sig;
    stop = 1;
}


static void
listen_port(int port)
{
    int                 fd, one = 1;
    struct sockaddr_in  sin;

    if (nlfds == MAX_PORTS) {
        fprintf(stderr, "benchd: too many ports\n");
        exit(1);
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        die("socket");
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0) {
        die("bind 127.0.0.1:%d", port);
    }
    if (listen(fd, 4096) < 0) {
        die("listen");
    }
    lfds[nlfds++] = fd;
}


int
main(int argc, char **argv)
{
    int               opt, threads = 1, i, a, b;
    char             *ports = NULL, *tok, *save, *dash;
    pthread_t         tid[64];
    struct sigaction  sa;

    while ((opt = getopt(argc, argv, "p:t:")) != -1) {
        switch (opt) {
        case 'p': ports = optarg; break;
        case 't': threads = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: benchd -p PORT[-PORT][,...] "
                            "[-t threads]\n");
            return 2;
        }
    }
    if (ports == NULL || threads < 1 || threads > 64) {
        fprintf(stderr, "usage: benchd -p PORT[-PORT][,...] [-t threads]\n");
        return 2;
    }

    for (tok = strtok_r(ports, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
    {
        a = atoi(tok);
        dash = strchr(tok, '-');
        b = dash ? atoi(dash + 1) : a;
        for (i = a; i <= b; i++) {
            listen_port(i);
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fprintf(stderr, "benchd: %d ports, %d thread(s), pid %d\n", nlfds,
            threads, (int) getpid());

    for (i = 1; i < threads; i++) {
        pthread_create(&tid[i], NULL, loop, NULL);
    }
    loop(NULL);
    for (i = 1; i < threads; i++) {
        pthread_join(tid[i], NULL);
    }
    return 0;
}
