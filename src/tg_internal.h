/*  tg_internal.h — what the parts of the Telegram module share; private to
    src/tg_*.c (like store_internal.h for the store). The interface is tg.h.

      tg_text.c      HTML and UTF-8 text rules; the checks on texts and ids
      tg_keyboard.c  inline keyboards
      tg_request.c   request builders, their serialization, the token paths
      tg_response.c  responses and the table of error classes
      tg_update.c    updates and batches, the webhook's secret

    Pure like the rest of the module: no I/O, no state beyond const tables.
*/
#ifndef GENBOT_TG_INTERNAL_H
#define GENBOT_TG_INTERNAL_H

#include "tg.h"

#define TGI_REPLACEMENT "\xef\xbf\xbd" //  U+FFFD

//  --- tg_text.c ---------------------------------------------------------------
//  A one-line reason into err (TG_ERR_MAX bytes) unless err is NULL.
void tgi_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
//  Valid UTF-8 without NUL bytes.
bool tgi_utf8_valid(const char *text, size_t len);
//  Nothing but spaces (Unicode's invisible ones included).
bool tgi_blank(const char *text);
//  0 when the text fits the field, else -1 and the reason in err.
int tgi_check_html(const char *html, size_t max, bool optional, const char *field, char *err);
int tgi_check_plain(const char *text, size_t max, const char *field, char *err);
int tgi_check_id(const char *id, size_t max, const char *field, char *err);
//  src into dst (size bytes), cut at a UTF-8 character boundary.
void tgi_copy_cut(char *dst, size_t size, const char *src);

//  --- tg_keyboard.c -----------------------------------------------------------
//  The first button is the pay button (sendInvoice requires it).
bool tgi_keyboard_starts_with_pay(const tg_keyboard_t *keyboard);

#endif
