/*  config.h — genbot's configuration, read once from the environment.

    One table (s_knobs in config.c) declares every variable: its name, its
    kind, its default, its bounds, whether it is secret and what it is for.
    config_load parses it; a bad value is an error naming the variable and
    what is wrong (the caller exits with code 2). config_print writes the
    effective values with secrets masked.

    Conventions: an empty variable is the same as an unset one (its default
    applies); URLs are stored without a trailing '/'; list items are trimmed
    of spaces and tabs, and an empty or repeated item is an error.
*/
#ifndef GENBOT_CONFIG_H
#define GENBOT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_KEYS   32
#define CONFIG_MAX_ADMINS 64
#define CONFIG_ERR_MAX    512
//  config_mask shows the first CONFIG_MASK_REVEAL characters of a secret of
//  at least CONFIG_MASK_REVEAL_MIN characters, and none of a shorter one.
#define CONFIG_MASK_REVEAL     4
#define CONFIG_MASK_REVEAL_MIN 16

typedef enum { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR } log_level_t;

typedef struct {
    char *telegram_bot_token; //  NULL when unset
    char *telegram_api_url;
    int64_t tg_poll_timeout_s;
    char *kie_api_keys[CONFIG_MAX_KEYS];
    size_t kie_api_key_count;
    char *kie_api_url;
    char *kie_upload_url;
    char *db_path;
    int64_t admins[CONFIG_MAX_ADMINS];
    size_t admin_count;
    int64_t free_credits;
    char *stats_bind;
    char *http_bind;
    char *public_url; //  NULL when unset
    int64_t kie_poll_ms;
    int64_t kie_poll_max_ms;
    int64_t kie_max_task_s;
    int64_t retry_base_ms;
    int64_t max_attempts;
    int64_t key_cooldown_s;
    int64_t key_billing_cooldown_s;
    int64_t queue_max_wait_s;
    int64_t tg_rate;
    int64_t tg_chat_rate;
    int64_t limit_active;
    int64_t limit_per_min;
    int64_t sessions;
    int sync_full; //  1 = synchronous=FULL, 0 = NORMAL, -1 = OFF
    log_level_t log_level;
    char *catalog_path;         //  NULL = built-in
    int64_t ledger_batch_max;   //  GENBOT_LEDGER_BATCH: requests per transaction
    int64_t key_slots;          //  GENBOT_KEY_SLOTS
    int64_t key_create_per_10s; //  GENBOT_KEY_CREATE_PER_10S
    int64_t flood_per_10s;      //  GENBOT_FLOOD_PER_10S
    int64_t stats_interval_ms;  //  GENBOT_STATS_INTERVAL_MS
    char *support_contact;      //  GENBOT_SUPPORT, NULL when unset
} config_t;

//  Parse from a getenv-like lookup (NULL = the process environment).
//  Returns NULL and writes one line into err (size CONFIG_ERR_MAX), naming
//  the variable, when a value is bad.
typedef const char *(config_getenv_fn)(const char *name, void *arg);
config_t *config_load(config_getenv_fn *getenv_fn, void *arg, char *err);
void config_destroy(config_t **self_p);

//  Write one "NAME=value" line per knob, in table order, secrets masked with
//  config_mask; an unset value prints as "NAME=(unset)".
void config_print(const config_t *self, FILE *out);

//  Write one "NAME=default  # description (range)" line per knob: what
//  `genbot config --help` shows, usable as a template environment file.
void config_help(FILE *out);

//  "abcd...(46 chars)" into buf (ASCII "...", not U+2026) for any secret
//  shown to humans; "...(9 chars)" when the secret is shorter than
//  CONFIG_MASK_REVEAL_MIN; "(unset)" when secret is NULL. Returns buf.
const char *config_mask(const char *secret, char *buf, size_t size);

#endif
