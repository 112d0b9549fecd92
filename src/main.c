/*  main.c — genbot's entry point: one table of subcommands, and the
    supervisor for `genbot run` (start actors in dependency order, wait for
    SIGINT/SIGTERM, stop them in reverse order).
*/
#include <czmq.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "genbot.h"
#include "log.h"
#include "msg.h"
#include "sandbox.h"
#include "top.h"
#include "version.h"

#define EXIT_USAGE  64
#define EXIT_CONFIG 2

static int s_cmd_run(int argc, char **argv);
static int s_cmd_config(int argc, char **argv);
static int s_cmd_check(int argc, char **argv);
static int s_cmd_messages(int argc, char **argv);
static int s_cmd_version(int argc, char **argv);
static int s_cmd_help(int argc, char **argv);

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
    const char *help;
} s_commands[] = {
    {"run", s_cmd_run, "run", "start the bot server (configured by the environment)"},
    {"sandbox", sandbox_run, "sandbox",
     "a simulated Telegram and KIE, and a chat in this terminal"},
    {"top", top_main, "top [ENDPOINT]", "a live dashboard of a running genbot's stats feed"},
    {"config", s_cmd_config, "config", "print the effective configuration, secrets masked"},
    {"check", s_cmd_check, "check DB", "verify the ledger's invariants on a database file"},
    {"messages", s_cmd_messages, "messages", "print the inproc message table (Markdown)"},
    {"version", s_cmd_version, "version", "print the version"},
    {"help", s_cmd_help, "help", "this list"},
};
#define S_COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

int main(int argc, char **argv) {
    //  a closed stderr pipe (genbot run | head) or a peer gone mid-upload
    //  is an error to handle where it happens, not a reason to die
    signal(SIGPIPE, SIG_IGN);
    const char *name = argc > 1 ? argv[1] : "help";
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        if (strcmp(name, s_commands[i].name) == 0) return s_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "genbot: unknown command \"%s\" (try: genbot help)\n", name);
    return EXIT_USAGE;
}

//  Reads the configuration or explains, in one line, which variable is wrong.
static config_t *s_config_or_exit(void) {
    char err[CONFIG_ERR_MAX] = "";
    config_t *config = config_load(NULL, NULL, err);
    if (!config) {
        fprintf(stderr, "genbot: configuration error: %s\n", err);
        exit(EXIT_CONFIG);
    }
    log_set_level(config->log_level);
    if (config->telegram_bot_token) log_add_secret(config->telegram_bot_token);
    for (size_t i = 0; i < config->kie_api_key_count; i++)
        log_add_secret(config->kie_api_keys[i]);
    return config;
}

//  An actor that can't go on (Telegram refused the token) stops the process
//  the same way a signal does, with exit code 1.
static atomic_bool s_fatal_flag;
static void s_fatal(const char *why, void *arg) {
    (void)arg;
    log_error("main", "cannot go on", "why=\"%s\"", why);
    atomic_store(&s_fatal_flag, true);
    kill(getpid(), SIGTERM);
}

static int s_cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    config_t *config = s_config_or_exit();
    if (!config->telegram_bot_token) {
        fprintf(stderr,
                "genbot: TELEGRAM_BOT_TOKEN is not set.\n"
                "  To run the real bot: get a token from @BotFather, then\n"
                "    TELEGRAM_BOT_TOKEN=123456:ABC... KIE_API_KEYS=your-kie-key make run\n"
                "  Starting the sandbox instead: a simulated Telegram and KIE, and a chat in\n"
                "  this terminal (genbot sandbox).\n\n");
        config_destroy(&config);
        return sandbox_run(argc, argv);
    }
    //  Signals are taken by this thread alone (sigwait below); every actor
    //  thread inherits the blocked mask, so a signal never interrupts one.
    zsys_handler_set(NULL);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    genbot_opts_t opts = {.config = config, .fatal = s_fatal};
    genbot_t *genbot = genbot_start(&opts);
    if (!genbot) {
        config_destroy(&config);
        return 1;
    }
    log_info("main", "genbot running", "version=%s", GENBOT_VERSION);
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    bool fatal = atomic_load(&s_fatal_flag);
    log_info("main", "stopping", "signal=%s",
             fatal                     ? "fatal"
             : signal_number == SIGINT ? "SIGINT"
                                       : "SIGTERM");
    genbot_stop(&genbot);
    log_info("main", "stopped", NULL);
    config_destroy(&config);
    return fatal ? 1 : 0;
}

static int s_cmd_config(int argc, char **argv) {
    (void)argc;
    (void)argv;
    config_t *config = s_config_or_exit();
    config_print(config, stdout);
    config_destroy(&config);
    return 0;
}

static int s_cmd_check(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: genbot check DB\n");
        return EXIT_USAGE;
    }
    char report[1024];
    int rc = check_db(argv[1], report, sizeof report, NULL);
    fprintf(rc == 0 ? stdout : stderr, "%s\n", report);
    return rc == 0 ? 0 : rc == 1 ? 1 : 2;
}

static int s_cmd_messages(int argc, char **argv) {
    (void)argc;
    (void)argv;
    msg_print_docs(stdout);
    return 0;
}

static int s_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("genbot %s\n", GENBOT_VERSION);
    return 0;
}

static int s_cmd_help(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("genbot %s — a Telegram bot server that sells AI video generations\n\n"
           "usage: genbot COMMAND\n\n",
           GENBOT_VERSION);
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        printf("  %-10s %s\n", s_commands[i].usage, s_commands[i].help);
    printf("\nConfiguration comes from the environment; see README.md or `genbot config`.\n");
    return 0;
}
