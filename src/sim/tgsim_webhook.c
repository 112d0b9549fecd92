/*  tgsim_webhook.c — delivery of updates to a webhook, like Telegram's.

    While setWebhook has a URL, this thread POSTs the earliest pending update
    as JSON (with X-Telegram-Bot-Api-Secret-Token when a secret was set) and
    waits for the answer: a 2xx confirms the update, anything else (or no
    answer within TGS_WEBHOOK_TIMEOUT_S) leaves it pending and backs off
    from webhook_retry_ms, doubling up to TGS_WEBHOOK_RETRY_MAX. Telegram
    keeps a queue per chat with one update in flight each; here there is one
    queue, so delivery is in order overall (a stricter order than Telegram
    promises). A method call in the webhook's answer is not executed.
*/
#include "tgsim_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_IDLE_WAIT_MS 1000

static long s_post(tgsim_t *sim, const char *url, const char *secret, const char *body);
static int s_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                      curl_off_t ulnow);
static size_t s_discard(char *data, size_t size, size_t count, void *arg);

//  --------------------------------------------------------------------------

void *tgs_webhook_thread(void *arg) {
    tgsim_t *sim = arg;
    int64_t backoff_ms = 0, retry_at = 0;
    pthread_mutex_lock(&sim->lock);
    while (!sim->stopping) {
        int64_t now = tgsim_clock_ms();
        if (!sim->webhook_url || sim->update_head == sim->update_count || now < retry_at) {
            tgs_wait(sim, now < retry_at ? retry_at : now + S_IDLE_WAIT_MS);
            continue;
        }
        tgs_update_t *update = &sim->updates[sim->update_head];
        int64_t update_id = update->update_id;
        char *body = tgs_strdup(update->json);
        char *url = tgs_strdup(sim->webhook_url);
        char *secret = tgs_strdup(sim->webhook_secret);
        if (!update->delivered_ms) {
            update->delivered_ms = now;
            sim->stats.updates_delivered++;
        }
        sim->stats.webhook_posts++;
        pthread_mutex_unlock(&sim->lock);
        long status = s_post(sim, url, secret, body);
        free(body);
        free(url);
        free(secret);
        pthread_mutex_lock(&sim->lock);
        if (status >= 200 && status < 300) {
            tgs_updates_confirm_below(sim, update_id + 1);
            backoff_ms = 0;
            retry_at = 0;
        } else {
            backoff_ms = backoff_ms ? backoff_ms * 2 : sim->opts.webhook_retry_ms;
            if (backoff_ms > TGS_WEBHOOK_RETRY_MAX) backoff_ms = TGS_WEBHOOK_RETRY_MAX;
            retry_at = tgsim_clock_ms() + backoff_ms;
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return NULL;
}

//  --------------------------------------------------------------------------

//  The HTTP status of the webhook's answer, 0 when there was none.
static long s_post(tgsim_t *sim, const char *url, const char *secret, const char *body) {
    CURL *curl = curl_easy_init();
    if (!curl) return 0;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    char header[300];
    if (secret) {
        snprintf(header, sizeof header, "X-Telegram-Bot-Api-Secret-Token: %s", secret);
        headers = curl_slist_append(headers, header);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)TGS_WEBHOOK_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_discard);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, sim);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status;
}

//  Aborts a POST in flight when the simulator stops.
static int s_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                      curl_off_t ulnow) {
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    tgsim_t *sim = arg;
    pthread_mutex_lock(&sim->lock);
    bool stopping = sim->stopping;
    pthread_mutex_unlock(&sim->lock);
    return stopping ? 1 : 0;
}

static size_t s_discard(char *data, size_t size, size_t count, void *arg) {
    (void)data;
    (void)arg;
    return size * count;
}
