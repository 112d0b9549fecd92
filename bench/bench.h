/*  bench.h — the subcommands of genbot-bench, one function each. */
#ifndef GENBOT_BENCH_H
#define GENBOT_BENCH_H

int bench_notifier(int argc, char **argv);

#endif
