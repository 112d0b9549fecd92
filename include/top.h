/*  top.h — `genbot top [--once] [ENDPOINT]`: a terminal dashboard of a
    running genbot's stats feed (stats.h, docs/stats.md).

    It subscribes to "stats" and "event." on ENDPOINT (default: the
    GENBOT_STATS_BIND of the environment, a host of * or 0.0.0.0 read as
    127.0.0.1) and redraws every TOP_REDRAW_MS: rates per second from the
    counters' differences between two samples (averages since start until
    there are two), latency percentiles, jobs, keys with their health,
    queue depths and the last events. ZeroMQ reconnects by itself, so it
    survives genbot restarting; after TOP_SILENCE_MS without a message it
    shows "waiting for genbot at ENDPOINT…".

    On a terminal: raw keys (q quits, as does Ctrl-C), the terminal is
    restored on exit. When stdout is not a terminal it prints one plain
    snapshot per TOP_REDRAW_MS instead; --once prints one snapshot (after
    the first sample, or the waiting line after TOP_ONCE_WAIT_MS) and exits
    with 0, or 1 when nothing came.

    The dashboard's state and drawing are a pure module (top_feed,
    top_render: no I/O but the FILE given, time passed in) for tests.
*/
#ifndef GENBOT_TOP_H
#define GENBOT_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TOP_REDRAW_MS    1000
#define TOP_SILENCE_MS   3000
#define TOP_ONCE_WAIT_MS 5000
#define TOP_EVENTS       8   //  events shown
#define TOP_WIDTH        100 //  lines are cut here when the width is unknown

typedef struct top_s top_t;

//  endpoint: shown in the header and the waiting line.
top_t *top_new(const char *endpoint);
void top_destroy(top_t **self_p);

//  One message of the feed, received at now_ms (any monotonic clock in ms).
//  Returns 0, or -1 when it is not a stats or event message of a known
//  schema (then nothing changes).
int top_feed(top_t *self, const char *topic, const void *data, size_t size, int64_t now_ms);
//  True once a stats sample has been fed.
int top_samples(const top_t *self);

//  Draws the dashboard into out, lines cut at width columns (0 = TOP_WIDTH).
void top_render(top_t *self, FILE *out, int64_t now_ms, int width);

//  The subcommand (argv[0] = "top").
int top_main(int argc, char **argv);

#endif
