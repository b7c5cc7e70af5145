
/*
 * Copyright (C) ngx_olla_dmr_module authors
 *
 * What an answer says about its tokens, read from its bytes as they pass
 * (an SSE stream or a JSON body, in pieces of any size), without parsing
 * it: the counts of the usage objects of every API the gateway speaks
 * and llama.cpp's timings, whichever come last, and whether the answer
 * reached its end.
 *
 *   OpenAI chat:   usage.{prompt_tokens, completion_tokens,
 *                  prompt_tokens_details.cached_tokens}, the final usage
 *                  chunk of a stream (stream_options.include_usage);
 *                  llama.cpp / DMR timings.{prompt_n, cache_n,
 *                  predicted_n, predicted_ms, predicted_per_second}; the
 *                  end: "data: [DONE]" or a non-null finish_reason; an
 *                  error of its own: "error": {...}
 *   Anthropic:     usage.{input_tokens, output_tokens,
 *                  cache_read_input_tokens} of message_start and
 *                  message_delta; the end: message_stop; an error of its
 *                  own: "type": "error"
 *   Responses:     usage.{input_tokens, output_tokens,
 *                  input_tokens_details.cached_tokens}; the end:
 *                  response.completed or response.incomplete; an error of
 *                  its own: response.failed or "type": "error"; the last
 *                  sequence_number
 *   Ollama:        prompt_eval_count, eval_count, eval_duration (ns);
 *                  the end: "done": true; an error: "error": "..."
 *
 * Each key is looked for wherever it appears, the last value wins (the
 * counts of a stream only grow).  Cost: with SSE2, one pass sixteen
 * bytes a step and a few comparisons per key (a key is found by its
 * closing quote); elsewhere a few comparisons per quote.  No nginx
 * headers.
 */


#ifndef _OLLA_USAGE_H_INCLUDED_
#define _OLLA_USAGE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define OLLA_USAGE_CARRY  64          /* bytes kept between pieces */


typedef struct {
    /* the counts, -1 when the answer did not say */
    int64_t        prompt;          /* every prompt token, cached ones too */
    int64_t        completion;
    int64_t        cached;          /* prompt tokens read from a cache */
    double         tokens_per_second;   /* generation; < 0: not said */

    int64_t        seq;             /* the last sequence_number, or -1 */

    unsigned       done:1;          /* the answer's end marker was seen */
    unsigned       failed:1;        /* it ended with an error of its own */

    /* private: what each key said */
    int64_t        v[12];
    double         predicted_ms;
    double         per_second;
    double         eval_ns;
    char           carry[OLLA_USAGE_CARRY];
    size_t         carry_len;
} olla_usage_t;


void olla_usage_init(olla_usage_t *u);
void olla_usage_feed(olla_usage_t *u, const char *p, size_t n);

/* the counts settled: prompt from its parts, tokens per second */
void olla_usage_finish(olla_usage_t *u);


#endif /* _OLLA_USAGE_H_INCLUDED_ */
