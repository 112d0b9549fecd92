/*  job.h — the states of a generation job (DESIGN.md "Job states").

    queued → running → submitted → succeeded → delivered, with failed and
    cancelled terminal. running = claimed by a key worker, no KIE task yet;
    submitted = KIE task id stored. A retry returns a job to queued.
*/
#ifndef GENBOT_JOB_H
#define GENBOT_JOB_H

#include <stdbool.h>

//  J(ID, "name", holds credits, terminal)
#define JOB_STATES(J)                                                                              \
    J(QUEUED, "queued", true, false)                                                               \
    J(RUNNING, "running", true, false)                                                             \
    J(SUBMITTED, "submitted", true, false)                                                         \
    J(SUCCEEDED, "succeeded", false, false)                                                        \
    J(DELIVERED, "delivered", false, true)                                                         \
    J(FAILED, "failed", false, true)                                                               \
    J(CANCELLED, "cancelled", false, true)

typedef enum {
    JOB_UNKNOWN = 0,
#define JOB_S_ENUM(id, name, holds, terminal) JOB_##id,
    JOB_STATES(JOB_S_ENUM)
#undef JOB_S_ENUM
        JOB_STATE_COUNT_
} job_state_t;

const char *job_state_name(job_state_t state);
//  JOB_UNKNOWN when name is not a state.
job_state_t job_state_parse(const char *name);
//  True while the job's price is held (queued, running, submitted).
bool job_state_holds(job_state_t state);
bool job_state_terminal(job_state_t state);

#endif
