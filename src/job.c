/*  job.c — job state names and properties, from the table in job.h. */
#include "job.h"

#include <string.h>

static const struct {
    const char *name;
    bool holds, terminal;
} s_states[JOB_STATE_COUNT_] = {[JOB_UNKNOWN] = {"unknown", false, false},
#define JOB_S_ROW(id, name, holds, terminal) [JOB_##id] = {name, holds, terminal},
                                JOB_STATES(JOB_S_ROW)
#undef JOB_S_ROW
};

const char *job_state_name(job_state_t state) {
    return state > JOB_UNKNOWN && state < JOB_STATE_COUNT_ ? s_states[state].name : "unknown";
}

job_state_t job_state_parse(const char *name) {
    for (int i = JOB_UNKNOWN + 1; name && i < JOB_STATE_COUNT_; i++)
        if (strcmp(s_states[i].name, name) == 0) return (job_state_t)i;
    return JOB_UNKNOWN;
}

bool job_state_holds(job_state_t state) {
    return state > JOB_UNKNOWN && state < JOB_STATE_COUNT_ && s_states[state].holds;
}

bool job_state_terminal(job_state_t state) {
    return state > JOB_UNKNOWN && state < JOB_STATE_COUNT_ && s_states[state].terminal;
}
