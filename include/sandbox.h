/*  sandbox.h — `genbot sandbox`: genbot against simulated Telegram and KIE,
    with a chat in the terminal (what `make run` starts without a token).
*/
#ifndef GENBOT_SANDBOX_H
#define GENBOT_SANDBOX_H

int sandbox_run(int argc, char **argv);

#endif
