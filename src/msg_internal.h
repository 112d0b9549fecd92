/*  msg_internal.h — what the codec's files share; private to src/msg*.c
    (like store_internal.h for the store). The interface is msg.h.

      msg.c       the tables in their runtime form; build, get, encode, decode, sockets
      msg_scan.c  checks on raw bytes: a frame's pre-scan, UTF-8
      msg_docs.c  docs/messages.md from the tables
*/
#ifndef GENBOT_MSG_INTERNAL_H
#define GENBOT_MSG_INTERNAL_H

#include "msg.h"

//  A row of MSG_FIELDS.
typedef struct {
    const char *name;
    msg_type_t type;
    uint32_t max;
    int row; //  row kind of an MT_LIST field, else MSG_K_NONE
    uint8_t name_len;
} msgi_field_t;

//  A row of MSG_KINDS: its required and optional fields, in declared order.
typedef struct {
    const char *name;
    const msg_field_t *req, *opt;
    size_t nreq, nopt;
} msgi_kind_decl_t;

extern const msgi_field_t msgi_fields[F_COUNT_];
extern const msgi_kind_decl_t msgi_kind_decls[MSG_K_COUNT_];

//  --- msg.c -------------------------------------------------------------------
//  Builds the tables' runtime form once per process; call it before using them.
void msgi_init(void);
bool msgi_kind_is_row(int kind);

//  --- msg_scan.c --------------------------------------------------------------
//  MSG_OK when data is exactly one msgpack object whose containers claim no
//  more items than bytes are left; else MSG_E_TRUNCATED.
msg_err_t msgi_scan(const uint8_t *data, size_t size);
bool msgi_utf8_valid(const char *text, size_t len);

#endif
