/*  scn.h — genbot-bench scenarios: the whole genbot, as a child process
    (`genbot run` from next to genbot-bench), against the simulated Telegram
    and KIE in the bench's own process, driven by simulated users.

    genbot-bench interactive|orders|fanout|faults [options]   (scn_main.c)

    The parts:
      scn_main.c    options, the four scenarios, the run and the report
      scn_genbot.c  the child: environment, start, /proc readings, stop,
                    `genbot check`, optional perf record
      scn_users.c   the users: one small state machine each, driven from one
                    thread by what the bot says (tgsim_on_call), with think
                    times and an optional offered rate; latency bookkeeping
      scn_verify.c  after the run: the database read-only against the
                    bench's own tally, and KIE success → Telegram delivery
*/
#ifndef GENBOT_BENCH_SCN_H
#define GENBOT_BENCH_SCN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kiesim.h"
#include "tgsim.h"

//  Subcommands (rows of the table in bench.c).
int scn_cmd_interactive(int argc, char **argv);
int scn_cmd_orders(int argc, char **argv);
int scn_cmd_fanout(int argc, char **argv);
int scn_cmd_faults(int argc, char **argv);

#define SCN_ENV_MAX     32
#define SCN_PHASES      3 //  two load phases and the drain
#define SCN_DRAIN       2
#define SCN_USER_BASE   7000000 //  user ids are SCN_USER_BASE + index
#define SCN_KEYS_MAX    32
#define SCN_REASONS_MAX 8

//  What the users do.
typedef enum {
    SCN_MODE_INTERACTIVE, //  menu browsing, no orders
    SCN_MODE_ORDERS,      //  full flows, browsing, double taps, old buttons, limits
    SCN_MODE_FANOUT       //  one order of --videos each, then wait for the results
} scn_mode_t;

typedef struct {
    const char *name;
    scn_mode_t mode;
    int users;
    double duration_s; //  load phase (interactive: two phases of half each)
    double ramp_s;     //  users start spread over this
    int think_ms;      //  mean pause between a reply and the next action
    double rate; //  offered updates/s (0 = closed loop; interactive: phase 2 = half of phase 1)
    int64_t task_min_ms, task_max_ms; //  KIE task durations (uniform)
    double fail_content, fail_temporary;
    bool tg_limits;
    double tg_p_server_error, tg_p_drop;
    double kie_p_server_error, kie_p_gateway_error, kie_p_drop;
    int videos; //  fanout: videos per order; 0 = mix of 1/3/5
    int keys, key_slots, key_create_per_10s;
    int sessions;
    const char *sync;
    int64_t free_credits;
    int64_t flood_per_10s;
    int limit_active, limit_per_min;
    int poll_ms, poll_max_ms;
    double drain_s; //  bound on the wait for in-flight generations
    int step_timeout_ms;
    double p_double, p_old, p_browse, p_wait, p_own; //  orders: behaviour mix
    const char *env[SCN_ENV_MAX];                    //  --env NAME=VALUE, applied last
    int env_count;
    const char *perf; //  perf record -g output file (the load phase)
    const char *wrap; //  a command genbot runs under ("valgrind --tool=massif ...")
    bool keep;        //  keep the run's directory (database, genbot.log)
    bool json;
    uint64_t seed;
} scn_opts_t;

//  ---------------------------------------------------------------------------
//  The genbot child (scn_genbot.c)

typedef struct {
    pid_t pid;
    char dir[256]; //  temporary directory of the run
    char db[300];
    char log[300];
    char exe[1024]; //  build/genbot next to genbot-bench
    pid_t perf_pid;
    int exit_status; //  as waitpid reports it
    bool exited;
    bool killed; //  did not stop after SIGTERM in time
    double stop_s;
} scn_genbot_t;

typedef struct {
    int64_t cpu_us; //  utime + stime
    int64_t rss_kb, hwm_kb;
    int threads;
} scn_proc_t;

//  Creates the run directory and finds the genbot binary; -1 with a message.
int scn_genbot_init(scn_genbot_t *g, bool keep);
//  Starts `genbot run` with env (NAME=VALUE strings, NULL-terminated, on top
//  of this process's environment minus genbot's own variables), under wrap
//  (space-separated words, may be NULL). -1 when it cannot be started.
int scn_genbot_start(scn_genbot_t *g, char *const *env, const char *wrap);
bool scn_genbot_alive(scn_genbot_t *g);
int scn_genbot_proc(const scn_genbot_t *g, scn_proc_t *out);

//  CPU per thread (by name: "notifier", "shard 0", "ledger", ...).
#define SCN_THREADS_MAX 64
typedef struct {
    int tid;
    char name[20];
    int64_t cpu_us;
} scn_thread_t;
typedef struct {
    scn_thread_t t[SCN_THREADS_MAX];
    int n;
} scn_threads_t;
int scn_genbot_threads(const scn_genbot_t *g, scn_threads_t *out);
//  SIGTERM, wait up to timeout_s (then SIGKILL). 0 = exited by itself with 0.
int scn_genbot_stop(scn_genbot_t *g, double timeout_s);
//  `genbot check DB`: its exit code, its output in out.
int scn_genbot_check(scn_genbot_t *g, char *out, size_t size);
int scn_perf_start(scn_genbot_t *g, const char *file);
void scn_perf_stop(scn_genbot_t *g);
//  The last lines of genbot.log on stderr (a failed run).
void scn_genbot_tail(const scn_genbot_t *g, int lines);
void scn_genbot_cleanup(scn_genbot_t *g, bool keep);
//  A free TCP port on 127.0.0.1 (0 when none).
int scn_free_port(void);
int64_t scn_now_ms(void); //  CLOCK_MONOTONIC, the clock of tgsim
int64_t scn_self_cpu_us(void);

//  ---------------------------------------------------------------------------
//  The users (scn_users.c)

typedef struct scn_driver_s scn_driver_t;

//  Latencies of one phase, ms.
typedef struct {
    uint32_t *v;
    size_t n, cap;
} scn_samples_t;

typedef struct {
    double seconds;
    uint64_t updates_sent;
    uint64_t replies;     //  updates sent in the phase and answered (latency samples)
    uint64_t handled;     //  updates answered while the phase ran: its throughput
    scn_samples_t lat;    //  update queued → first reply
    scn_samples_t lat_dl; //  update delivered to genbot → first reply
    uint64_t orders;      //  accepted ("Got it")
    uint64_t generations; //  results received: video or failure notice
    int64_t cpu_us;       //  genbot's CPU over the phase
    int64_t self_cpu_us;  //  the bench process's (simulators + users)
} scn_phase_t;

//  One job as the users saw it (index: job id).
typedef struct {
    int64_t user_id;
    int deliveries; //  the video (sendVideo) or its link, every time
    int reopened;   //  job screens shown done: the bot sends the video again (fsm_on_job)
    int failures;   //  failure notices
    int missing;    //  "ready, but I couldn't get the file"
    int64_t delivered_ms;
} scn_job_t;

typedef struct {
    int64_t id;
    int64_t jobs_expected; //  videos of accepted orders
    int64_t delivered;     //  distinct jobs received
    int64_t price;         //  credits per video, from the count screen
    int outstanding;       //  ordered videos with no result yet
} scn_tally_t;

typedef struct {
    uint64_t steps;         //  user steps answered as expected
    uint64_t stuck;         //  steps with no expected answer in time
    uint64_t stale;         //  presses answered "out of date" (unplanned)
    uint64_t internal;      //  "something went wrong" replies
    uint64_t flood;         //  flood notices
    uint64_t limits_hit;    //  too many active / per minute / not enough credits
    uint64_t double_taps;   //  ✅ pressed twice
    uint64_t old_buttons;   //  an old order's ✅ pressed again
    uint64_t already;       //  ... answered "already running"
    uint64_t browses;       //  history / job screens opened
    uint64_t unmatched;     //  updates with no reply matched (dropped from the window)
    int64_t first_order_ms; //  the first "Got it"
    int64_t last_result_ms; //  the last first result of a job
    char stuck_notes[3][256];
} scn_counters_t;

scn_driver_t *scn_driver_new(tgsim_t *sim, const scn_opts_t *opts);
void scn_driver_destroy(scn_driver_t **self_p);
//  Registers the users with the simulator and starts them (spread over ramp_s).
void scn_driver_start(scn_driver_t *self);
//  Runs the users for seconds in phase (0 or 1) at rate (0 = closed loop).
//  What happens while draining is counted in phase SCN_DRAIN.
void scn_driver_run(scn_driver_t *self, int phase, double seconds, double rate);
//  Stops new actions; waits until every step in hand is answered and every
//  ordered video has its result, or until timeout_s. Returns the seconds.
//  progress (may be NULL) is called about every 500 ms; a nonzero return
//  ends the wait early.
//  Holds every user back until no answer is awaited (a backlog drained)
//  or timeout_s; answers in between count in no phase. Returns the seconds.
double scn_driver_settle(scn_driver_t *self, double timeout_s);
double scn_driver_drain(scn_driver_t *self, double timeout_s, int (*progress)(void *arg),
                        void *arg);
scn_phase_t *scn_driver_phase(scn_driver_t *self, int phase);
const scn_counters_t *scn_driver_counters(scn_driver_t *self);
size_t scn_driver_user_count(scn_driver_t *self);
const scn_tally_t *scn_driver_tally(scn_driver_t *self, size_t index);
//  Jobs seen, indexed by job id (count = highest id + 1).
const scn_job_t *scn_driver_jobs(scn_driver_t *self, size_t *count);
int64_t scn_driver_outstanding(scn_driver_t *self);
//  Ends scn_driver_run and scn_driver_drain at once (genbot died).
void scn_driver_abort(scn_driver_t *self);
bool scn_driver_aborted(scn_driver_t *self);
//  Called from the driver loop about every 250 ms (sampling); may be NULL.
void scn_driver_on_tick(scn_driver_t *self, void (*fn)(void *arg), void *arg);

void scn_samples_add(scn_samples_t *s, uint32_t v);
void scn_samples_free(scn_samples_t *s);
//  p in 0..100 of the samples (sorted in place); -1 when empty.
double scn_samples_pct(scn_samples_t *s, double p);

//  ---------------------------------------------------------------------------
//  Verification (scn_verify.c)

typedef struct {
    const char *name;
    bool ok;
    char detail[256];
} scn_check_t;

#define SCN_CHECKS_MAX 12

typedef struct {
    scn_check_t checks[SCN_CHECKS_MAX];
    int count;
    int failed;
    //  jobs by state in the database
    int64_t jobs, delivered, failed_jobs, cancelled, active;
    //  KIE success → video at Telegram, ms
    scn_samples_t kie_to_tg;
} scn_verify_t;

//  Reads the database (read-only) after genbot stopped; fills v's checks.
void scn_verify_db(scn_verify_t *v, const char *db, scn_driver_t *driver, const scn_opts_t *opts);
//  KIE task ends against the deliveries the users saw. clock_offset: what
//  the bench's KIE clock adds to CLOCK_MONOTONIC ms.
void scn_verify_kie(scn_verify_t *v, const char *db, kiesim_t *kie, scn_driver_t *driver,
                    int64_t clock_offset, int64_t default_task_ms);
void scn_verify_add(scn_verify_t *v, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void scn_verify_free(scn_verify_t *v);

#endif
