/*  check.h — verifies the invariants of DESIGN.md on a database file.

      1. per user balance >= 0, held >= 0, balance = Σ d_balance and
         held = Σ d_held over that user's entries;
      2. held = Σ price of that user's jobs in queued/running/submitted;
      3. every succeeded/delivered job has exactly one capture and no
         release, every failed/cancelled job exactly one release and no
         capture, every job exactly one hold, active jobs neither;
      4. a provider charge id is credited at most once; an order token
         created its jobs at most once (indexes 0..count-1, no gaps).
*/
#ifndef GENBOT_CHECK_H
#define GENBOT_CHECK_H

#include <stddef.h>

typedef struct {
    long users, jobs, entries, payments;
} check_totals_t;

//  Returns 0 when every invariant holds, 1 when one is violated (report
//  names the first user or job concerned), -1 when the file can't be read.
int check_db(const char *path, char *report, size_t size, check_totals_t *totals);

#endif
