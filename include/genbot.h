/*  genbot.h — the supervisor: every actor of one genbot, started in
    dependency order and stopped in reverse.

    genbot run, genbot sandbox and the end-to-end tests all go through
    genbot_start / genbot_stop, so they run the same wiring:
      ledger → notifier → session shards → key workers → poller
    and stop: poller first (no new updates), shards, workers (task ids are
    durable already), notifier, and the ledger last.
*/
#ifndef GENBOT_GENBOT_H
#define GENBOT_GENBOT_H

#include <stdbool.h>
#include "config.h"

typedef struct genbot_s genbot_t;

typedef struct {
    const config_t *config;
    //  endpoints get this prefix so that several genbots can share one
    //  process (tests); NULL = the defaults
    const char *prefix;
    bool no_poller;  //  tests that feed the shards themselves
    bool no_workers; //  tests without KIE
    //  called on an actor's thread when genbot can't go on (a revoked token)
    void (*fatal)(const char *why, void *arg);
    void *fatal_arg;
} genbot_opts_t;

//  NULL (logged) when an actor failed to start; those started are stopped.
genbot_t *genbot_start(const genbot_opts_t *opts);
void genbot_stop(genbot_t **self_p);

#endif
