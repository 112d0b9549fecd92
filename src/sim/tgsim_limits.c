/*  tgsim_limits.c — flood control like Telegram's, as token buckets.

    Two buckets gate every counted send: the bot's global one (global_per_s
    tokens a second, as many at most) and the chat's (chat_per_s a second,
    chat_burst at most; a group: group_per_min a minute, as many at most).
    A send takes one token from each. When either is empty the send gets
    429 with retry_after = the seconds until a token is back (at least 1, or
    the fixed retry_after_s), and that bucket's owner stays closed until
    then: sending again before retry_after passes is refused again, as
    Telegram does, so only a client that honours retry_after gets through.
*/
#include "tgsim_internal.h"

#include <math.h>

static void s_refill(double *tokens, int64_t *refill_ms, double per_ms, double cap, int64_t now);
static int s_retry_after(tgsim_t *sim, double tokens, double per_ms);

//  --------------------------------------------------------------------------

int tgs_limits_take(tgsim_t *sim, tgs_chat_t *chat, int64_t now_ms) {
    const tgsim_opts_t *o = &sim->opts;
    if (!o->enforce_limits) return 0;
    double global_per_ms = o->global_per_s / 1000.0;
    double chat_per_ms = chat->group ? o->group_per_min / 60000.0 : o->chat_per_s / 1000.0;
    double chat_cap = chat->group ? o->group_per_min : o->chat_burst;
    if (now_ms < sim->global_closed_until_ms)
        return (int)((sim->global_closed_until_ms - now_ms + 999) / 1000);
    if (now_ms < chat->closed_until_ms) return (int)((chat->closed_until_ms - now_ms + 999) / 1000);
    s_refill(&sim->global_tokens, &sim->global_refill_ms, global_per_ms, o->global_per_s, now_ms);
    s_refill(&chat->tokens, &chat->refill_ms, chat_per_ms, chat_cap, now_ms);
    if (chat->tokens < 1.0) {
        int retry_after = s_retry_after(sim, chat->tokens, chat_per_ms);
        chat->closed_until_ms = now_ms + (int64_t)retry_after * 1000;
        return retry_after;
    }
    if (sim->global_tokens < 1.0) {
        int retry_after = s_retry_after(sim, sim->global_tokens, global_per_ms);
        sim->global_closed_until_ms = now_ms + (int64_t)retry_after * 1000;
        return retry_after;
    }
    chat->tokens -= 1.0;
    sim->global_tokens -= 1.0;
    return 0;
}

//  --------------------------------------------------------------------------

static void s_refill(double *tokens, int64_t *refill_ms, double per_ms, double cap, int64_t now) {
    if (now > *refill_ms) {
        *tokens += (double)(now - *refill_ms) * per_ms;
        if (*tokens > cap) *tokens = cap;
        *refill_ms = now;
    }
}

static int s_retry_after(tgsim_t *sim, double tokens, double per_ms) {
    if (sim->opts.retry_after_s > 0) return sim->opts.retry_after_s;
    double wait_ms = (1.0 - tokens) / per_ms;
    int seconds = (int)ceil(wait_ms / 1000.0);
    return seconds < 1 ? 1 : seconds;
}
