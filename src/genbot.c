/*  genbot.c — the supervisor (genbot.h). */
#include "genbot.h"

#include <assert.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "fsm.h"
#include "ledger.h"
#include "log.h"
#include "notifier.h"
#include "poller.h"
#include "kie.h"
#include "shard.h"
#include "stats.h"
#include "worker.h"

#define S_MAX_SHARDS  64
#define S_MAX_WORKERS CONFIG_MAX_KEYS

struct genbot_s {
    genbot_opts_t opts;
    char ledger_ep[96], notifier_ep[96], ack_ep[96];
    char shard_ep[S_MAX_SHARDS][96];
    const char *shard_eps[S_MAX_SHARDS];
    catalog_t *catalog;
    fsm_model_t models[FSM_MODELS_MAX];
    fsm_config_t fsm;
    ledger_args_t ledger_args;
    notifier_args_t notifier_args;
    shard_args_t shard_args[S_MAX_SHARDS];
    poller_args_t poller_args;
    zactor_t *ledger, *notifier, *poller;
    zactor_t *shards[S_MAX_SHARDS];
    int shard_count;
    char fingerprint[S_MAX_WORKERS][KIE_FINGERPRINT_MAX];
    const char *fingerprints[S_MAX_WORKERS];
    worker_args_t worker_args[S_MAX_WORKERS];
    zactor_t *workers[S_MAX_WORKERS];
    size_t worker_count;
    stats_args_t stats_args;
    zactor_t *stats; //  first started, last stopped: it sees every actor's life
};

//  The FSM sees the catalog's models as its own small table.
static int s_models(genbot_t *self) {
    char err[512] = "";
    const config_t *config = self->opts.config;
    self->catalog =
        config->catalog_path ? catalog_load_file(config->catalog_path, err) : catalog_new_default();
    if (!self->catalog) {
        log_error("main", "catalog refused", "error=\"%s\"", err);
        return -1;
    }
    fsm_config_defaults(&self->fsm);
    size_t n = 0;
    for (size_t i = 0; i < catalog_count(self->catalog) && n < FSM_MODELS_MAX; i++) {
        const catalog_model_t *model = catalog_at(self->catalog, i);
        self->models[n++] = (fsm_model_t){.id = catalog_model_id(model),
                                          .title_ru = catalog_model_title(model, "ru"),
                                          .title_en = catalog_model_title(model, "en"),
                                          .price = catalog_model_price(model),
                                          .enabled = catalog_model_enabled(model)};
    }
    self->fsm.models = self->models;
    self->fsm.model_count = n;
    self->fsm.max_attempts = config->max_attempts;
    self->fsm.limit_active = config->limit_active;
    self->fsm.flood_per_10s = config->flood_per_10s;
    self->fsm.support_contact = config->support_contact;
    return 0;
}

genbot_t *genbot_start(const genbot_opts_t *opts) {
    assert(opts && opts->config);
    genbot_t *self = (genbot_t *)calloc(1, sizeof(genbot_t));
    assert(self);
    self->opts = *opts;
    const config_t *config = opts->config;
    const char *prefix = opts->prefix ? opts->prefix : "";
    snprintf(self->ledger_ep, sizeof self->ledger_ep, "inproc://%sledger", prefix);
    snprintf(self->notifier_ep, sizeof self->notifier_ep, "inproc://%snotifier", prefix);
    snprintf(self->ack_ep, sizeof self->ack_ep, "inproc://%spoller-acks", prefix);
    self->shard_count = (int)(config->sessions < S_MAX_SHARDS ? config->sessions : S_MAX_SHARDS);
    for (int i = 0; i < self->shard_count; i++) {
        snprintf(self->shard_ep[i], sizeof self->shard_ep[i], "inproc://%sshard-%d", prefix, i);
        self->shard_eps[i] = self->shard_ep[i];
    }
    if (s_models(self)) {
        genbot_stop(&self);
        return NULL;
    }
    self->stats_args = (stats_args_t){.config = config, .ledger_endpoint = self->ledger_ep};
    self->stats = stats_start(&self->stats_args); //  NULL (logged): genbot runs without
    self->ledger_args = (ledger_args_t){.config = config, .endpoint = self->ledger_ep};
    self->ledger = ledger_start(&self->ledger_args);
    if (!self->ledger) {
        genbot_stop(&self);
        return NULL;
    }
    self->notifier_args = (notifier_args_t){
        .config = config, .endpoint = self->notifier_ep, .ledger_endpoint = self->ledger_ep};
    self->notifier = notifier_start(&self->notifier_args);
    if (!self->notifier) {
        genbot_stop(&self);
        return NULL;
    }
    for (int i = 0; i < self->shard_count; i++) {
        self->shard_args[i] = (shard_args_t){.config = config,
                                             .fsm = &self->fsm,
                                             .index = i,
                                             .count = self->shard_count,
                                             .endpoint = self->shard_ep[i],
                                             .ledger_endpoint = self->ledger_ep,
                                             .notifier_endpoint = self->notifier_ep,
                                             .ack_endpoint = self->ack_ep};
        self->shards[i] = shard_start(&self->shard_args[i]);
        if (!self->shards[i]) {
            genbot_stop(&self);
            return NULL;
        }
    }
    //  one worker per KIE key; the first that starts also does the fleet's
    //  chores (queue expiry, jobs of keys no longer configured)
    size_t keys = opts->no_workers ? 0 : config->kie_api_key_count;
    for (size_t i = 0; i < keys && i < S_MAX_WORKERS; i++) {
        kie_key_fingerprint(config->kie_api_keys[i], self->fingerprint[i],
                            sizeof self->fingerprint[i]);
        self->fingerprints[i] = self->fingerprint[i];
    }
    for (size_t i = 0; i < keys && i < S_MAX_WORKERS; i++) {
        self->worker_args[i] = (worker_args_t){.config = config,
                                               .key = config->kie_api_keys[i],
                                               .catalog = self->catalog,
                                               .ledger_endpoint = self->ledger_ep,
                                               .shard_endpoints = self->shard_eps,
                                               .shard_count = (size_t)self->shard_count,
                                               .index = self->worker_count,
                                               .fingerprints = self->fingerprints,
                                               .fingerprint_count = keys,
                                               .slots = config->key_slots,
                                               .create_per_10s = config->key_create_per_10s};
        zactor_t *worker = worker_start(&self->worker_args[i]);
        if (worker)
            self->workers[self->worker_count++] = worker;
        else
            log_error("main", "a KIE key's worker did not start", "key=%s", self->fingerprint[i]);
    }
    if (keys && !self->worker_count)
        log_error("main", "no KIE key is usable: orders will wait and then be refunded", NULL);
    else if (!keys && !opts->no_workers)
        log_warn("main", "KIE_API_KEYS is not set: orders will wait and then be refunded", NULL);
    if (!opts->no_poller) {
        self->poller_args = (poller_args_t){.config = config,
                                            .ledger_endpoint = self->ledger_ep,
                                            .shard_endpoints = self->shard_eps,
                                            .shard_count = (size_t)self->shard_count,
                                            .ack_endpoint = self->ack_ep,
                                            .fatal = opts->fatal,
                                            .fatal_arg = opts->fatal_arg};
        self->poller = poller_start(&self->poller_args);
        if (!self->poller) {
            genbot_stop(&self);
            return NULL;
        }
    }
    return self;
}

void genbot_stop(genbot_t **self_p) {
    assert(self_p);
    genbot_t *self = *self_p;
    if (!self) return;
    stats_event(STATS_EV_SHUTDOWN);
    zactor_destroy(&self->poller);
    for (int i = 0; i < self->shard_count; i++)
        zactor_destroy(&self->shards[i]);
    //  task ids are durable already: a worker stops at once
    for (size_t i = 0; i < self->worker_count; i++)
        zactor_destroy(&self->workers[i]);
    zactor_destroy(&self->notifier);
    zactor_destroy(&self->ledger);
    zactor_destroy(&self->stats);
    catalog_destroy(&self->catalog);
    free(self);
    *self_p = NULL;
}
