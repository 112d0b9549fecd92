/*  sandbox.c — `genbot sandbox`: genbot against a simulated Telegram and a
    simulated KIE, in this process, with a temporary database, and a chat in
    the terminal. The person at the keyboard is a Telegram user: the bot's
    messages are printed with their inline buttons numbered; typing a
    number presses a button, `/photo [PATH]` sends a photo (the bundled
    sample without a path), anything else is a text message. Ctrl-D or
    Ctrl-C ends it.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sandbox.h"

#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "genbot.h"
#include "kiesim.h"
#include "log.h"
#include "tgsim.h"

#define S_USER_ID   100001
#define S_KIE_KEY   "sandbox-kie-key-0123456789abcdef"
#define S_PHOTO_MAX (10 * 1024 * 1024)

typedef struct {
    tgsim_t *sim;
    FILE *out;
    //  the buttons the person may press: the newest keyboard shown
    pthread_mutex_t lock;
    int64_t keyboard_message;
    size_t keyboard_size;
} s_chat_t;

static volatile sig_atomic_t s_interrupted;
static void s_on_sigint(int sig) {
    (void)sig;
    s_interrupted = 1;
}

//  HTML as a terminal shows it: tags dropped, the four entities decoded.
static void s_print_html(FILE *out, const char *html) {
    for (const char *p = html; p && *p; p++) {
        if (*p == '<') {
            const char *end = strchr(p, '>');
            if (end) {
                p = end;
                continue;
            }
        }
        if (*p == '&') {
            static const struct {
                const char *entity, *text;
            } entities[] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}, {"&quot;", "\""}};
            bool done = false;
            for (size_t i = 0; i < 4 && !done; i++)
                if (strncmp(p, entities[i].entity, strlen(entities[i].entity)) == 0) {
                    fputs(entities[i].text, out);
                    p += strlen(entities[i].entity) - 1;
                    done = true;
                }
            if (done) continue;
        }
        fputc(*p, out);
    }
}

//  Every bot call to the person's chat, printed as it happens.
static void s_on_call(const tgsim_call_t *call, void *arg) {
    s_chat_t *chat = (s_chat_t *)arg;
    if (call->chat_id != S_USER_ID || call->status != 200 || !call->method) return;
    bool edit = strncmp(call->method, "editMessage", 11) == 0;
    bool media = call->media_kind != NULL;
    if (!edit && !media && strcmp(call->method, "sendMessage") != 0) return;
    FILE *out = chat->out;
    fprintf(out, "\n\033[1m── bot%s ──\033[0m\n", edit ? " (edited)" : "");
    if (media)
        fprintf(out, "[%s: %s, %lld bytes]\n", call->media_kind,
                call->file_name ? call->file_name : "file", (long long)call->file_size);
    s_print_html(out, call->text ? call->text : "");
    fputc('\n', out);
    if (call->button_count) {
        pthread_mutex_lock(&chat->lock);
        chat->keyboard_message = call->message_id;
        chat->keyboard_size = call->button_count;
        pthread_mutex_unlock(&chat->lock);
        int row = -1;
        for (size_t i = 0; i < call->button_count; i++) {
            const tgsim_button_t *b = &call->buttons[i];
            if (b->row != row && row >= 0) fputc('\n', out);
            row = b->row;
            fprintf(out, " [%zu] %s%s", i + 1, b->text, b->url ? " (link)" : "");
        }
        fputc('\n', out);
    }
    fputs("> ", out);
    fflush(out);
}

static int s_send_photo(s_chat_t *chat, const char *path) {
    if (!path || !*path) return tgsim_send_photo(chat->sim, S_USER_ID, NULL, 0, NULL) > 0 ? 0 : -1;
    FILE *file = fopen(path, "rb");
    if (!file) {
        fprintf(chat->out, "cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *data = malloc(S_PHOTO_MAX);
    size_t size = data ? fread(data, 1, S_PHOTO_MAX, file) : 0;
    fclose(file);
    int rc = size ? (tgsim_send_photo(chat->sim, S_USER_ID, data, size, NULL) > 0 ? 0 : -1) : -1;
    if (rc) fprintf(chat->out, "cannot send %s (empty, or over 10 MB?)\n", path);
    free(data);
    return rc;
}

//  One line typed by the person.
static void s_typed(s_chat_t *chat, char *line) {
    line[strcspn(line, "\r\n")] = 0;
    if (!*line) return;
    char *end = NULL;
    long number = strtol(line, &end, 10);
    if (end && *end == 0 && number > 0) {
        pthread_mutex_lock(&chat->lock);
        int64_t message = chat->keyboard_message;
        size_t size = chat->keyboard_size;
        pthread_mutex_unlock(&chat->lock);
        if (!message || (size_t)number > size)
            fprintf(chat->out, "no button %ld here\n> ", number);
        else if (tgsim_press_button(chat->sim, S_USER_ID, message, (size_t)number - 1) < 0)
            fprintf(chat->out, "button %ld is a link, not a button to press\n> ", number);
        return;
    }
    if (strncmp(line, "/photo", 6) == 0 && (line[6] == 0 || line[6] == ' ')) {
        const char *path = line[6] ? line + 7 : NULL;
        while (path && *path == ' ')
            path++;
        s_send_photo(chat, path);
        return;
    }
    tgsim_send_text(chat->sim, S_USER_ID, line);
}

int sandbox_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    char err[CONFIG_ERR_MAX] = "";
    config_t *config = config_load(NULL, NULL, err);
    if (!config) {
        fprintf(stderr, "genbot: configuration error: %s\n", err);
        return 2;
    }
    //  quiet unless asked: the terminal is the chat
    if (!getenv("GENBOT_LOG_LEVEL")) config->log_level = LOG_LEVEL_ERROR;
    log_set_level(config->log_level);

    tgsim_opts_t sim_opts;
    tgsim_opts_init(&sim_opts);
    tgsim_t *sim = tgsim_new(&sim_opts);
    kiesim_options_t kie_opts;
    kiesim_options_init(&kie_opts);
    kiesim_key_t key = {.key = S_KIE_KEY, .credits = 1000000, .state = KIESIM_KEY_VALID};
    kie_opts.keys = &key;
    kie_opts.key_count = 1;
    kie_opts.behaviour.task_duration_ms = 8000;
    kiesim_t *kie = kiesim_new(&kie_opts);
    if (!sim || !kie) {
        fprintf(stderr, "genbot sandbox: cannot start the simulators\n");
        tgsim_destroy(&sim);
        kiesim_destroy(&kie);
        config_destroy(&config);
        return 1;
    }
    char db[] = "/tmp/genbot-sandbox-XXXXXX";
    int fd = mkstemp(db);
    if (fd >= 0) close(fd);
    free(config->db_path);
    config->db_path = strdup(db);
    free(config->telegram_api_url);
    config->telegram_api_url = strdup(tgsim_url(sim));
    free(config->telegram_bot_token);
    config->telegram_bot_token = strdup(tgsim_token(sim));
    free(config->kie_api_url);
    config->kie_api_url = strdup(kiesim_url(kie));
    free(config->kie_upload_url);
    config->kie_upload_url = strdup(kiesim_url(kie));
    for (size_t i = 0; i < config->kie_api_key_count; i++)
        free(config->kie_api_keys[i]);
    config->kie_api_keys[0] = strdup(S_KIE_KEY);
    config->kie_api_key_count = 1;
    config->tg_poll_timeout_s = 5;

    const char *lang = getenv("LANG");
    bool russian = lang && strncmp(lang, "ru", 2) == 0;
    const char *name = getenv("USER") ? getenv("USER") : "you";
    tgsim_user_add(sim, S_USER_ID, name, russian ? "ru" : "en");

    s_chat_t chat = {.sim = sim, .out = stdout};
    pthread_mutex_init(&chat.lock, NULL);
    tgsim_on_call(sim, s_on_call, &chat);

    genbot_opts_t opts = {.config = config, .prefix = "sandbox-"};
    genbot_t *genbot = genbot_start(&opts);
    if (!genbot) {
        fprintf(stderr, "genbot sandbox: genbot did not start (GENBOT_LOG_LEVEL=info shows why)\n");
    } else {
        printf("genbot sandbox: you are Telegram user %d talking to the bot (simulated Telegram\n"
               "and KIE, database %s).\n"
               "Type /start. A number presses a button; /photo [PATH] sends a photo (a sample\n"
               "without PATH); anything else is a message. Ctrl-D or Ctrl-C ends.\n> ",
               S_USER_ID, db);
        fflush(stdout);
        struct sigaction action = {.sa_handler = s_on_sigint};
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, NULL); //  no SA_RESTART: getline returns
        char *line = NULL;
        size_t cap = 0;
        while (!s_interrupted && getline(&line, &cap, stdin) >= 0) {
            s_typed(&chat, line);
            fflush(stdout);
        }
        free(line);
        printf("\nbye\n");
    }
    tgsim_on_call(sim, NULL, NULL);
    genbot_stop(&genbot);
    kiesim_destroy(&kie);
    tgsim_destroy(&sim);
    pthread_mutex_destroy(&chat.lock);
    unlink(db);
    char side[64];
    snprintf(side, sizeof side, "%s-wal", db);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", db);
    unlink(side);
    config_destroy(&config);
    return 0;
}
