/*  i18n.h — every text a user sees, in Russian and in English.

    One table per language (src/i18n_ru.c, src/i18n_en.c), both indexed by
    the message ids below; a test checks that no entry is missing or empty
    in either and that both use the same placeholders. Texts are Telegram
    HTML (parse_mode=HTML): <b>, <i>, <code>, <a href>. Button labels are
    plain text.

    Placeholders are {1}..{9}, filled by i18n_format from typed arguments:
    a user-supplied string is always HTML-escaped (I18N_TEXT), trusted HTML
    built by genbot itself is inserted as is (I18N_HTML), numbers print in
    decimal, and counted nouns take the language's plural form ("5
    кредитов", "21 кредит", "1 credit", "2 credits").

    Keyboards are data, not text: rows of buttons, each with a label and
    either callback_data (at most I18N_CALLBACK_MAX bytes, Telegram's limit)
    or a URL. The screens' keyboards are built by fsm.h (they carry its
    callback grammar); this module owns the type and the bounds.
*/
#ifndef GENBOT_I18N_H
#define GENBOT_I18N_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { I18N_RU = 0, I18N_EN, I18N_LANG_COUNT_ } i18n_lang_t;

//  Telegram's limits: message text and caption (UTF-16 code units of the
//  text after entity parsing), callback answer, callback_data bytes.
#define I18N_TEXT_MAX     4096
#define I18N_CAPTION_MAX  1024
#define I18N_ANSWER_MAX   200
#define I18N_CALLBACK_MAX 64

//  Every message id. T_* are HTML texts, B_* button labels (plain), A_*
//  callback answers (plain, <= I18N_ANSWER_MAX), N_* plural nouns, S_*
//  short fragments inserted into other texts.
#define I18N_IDS(X)                                                                                \
    /* --- everyone --- */                                                                         \
    X(T_WELCOME_NEW)                                                                               \
    X(T_WELCOME_BACK)                                                                              \
    X(T_MENU)                                                                                      \
    X(T_HELP)                                                                                      \
    X(T_SUPPORT)                                                                                   \
    X(T_SUPPORT_NONE)                                                                              \
    X(T_PAYSUPPORT)                                                                                \
    X(T_TERMS)                                                                                     \
    X(T_LANG_ASK)                                                                                  \
    X(T_LANG_SET)                                                                                  \
    X(T_UNKNOWN_COMMAND)                                                                           \
    X(T_FLOOD)                                                                                     \
    X(T_BAD_TEXT)                                                                                  \
    X(T_NOT_NOW)                                                                                   \
    X(T_USE_BUTTONS)                                                                               \
    X(T_WAIT_ORDER)                                                                                \
    X(T_CANCELLED)                                                                                 \
    X(T_INTERNAL)                                                                                  \
    X(S_FRIEND)                                                                                    \
    X(S_CONTACT_FALLBACK)                                                                          \
    X(S_DATE)                                                                                      \
    /* --- creating videos --- */                                                                  \
    X(T_ASK_MODEL)                                                                                 \
    X(T_ASK_PHOTO)                                                                                 \
    X(T_PHOTO_HINT)                                                                                \
    X(T_PHOTO_TOO_BIG)                                                                             \
    X(T_DOC_NOT_IMAGE)                                                                             \
    X(T_ASK_PRODUCT)                                                                               \
    X(T_NEED_TEXT)                                                                                 \
    X(T_EMPTY_TEXT)                                                                                \
    X(T_TOO_LONG)                                                                                  \
    X(T_ASK_TEMPLATE)                                                                              \
    X(T_ASK_WISHES)                                                                                \
    X(T_ASK_PROMPT)                                                                                \
    X(T_ASK_COUNT)                                                                                 \
    X(T_NO_CREDITS)                                                                                \
    X(T_CONFIRM)                                                                                   \
    X(T_CONFIRM_WISHES)                                                                            \
    X(T_CONFIRM_PROMPT)                                                                            \
    X(T_MODEL_GONE)                                                                                \
    X(T_ACCEPTED)                                                                                  \
    X(T_ALREADY_RUNNING)                                                                           \
    X(T_TOO_MANY_ACTIVE)                                                                           \
    X(T_RATE_LIMITED)                                                                              \
    /* --- a job's status message, result and failure --- */                                       \
    X(T_STATUS)                                                                                    \
    X(S_ST_QUEUED)                                                                                 \
    X(S_ST_RUNNING)                                                                                \
    X(S_ST_PROGRESS)                                                                               \
    X(S_ST_RETRY_BUSY)                                                                             \
    X(S_ST_RETRY_TEMP)                                                                             \
    X(S_ST_DONE)                                                                                   \
    X(S_ST_FAILED)                                                                                 \
    X(S_ST_CANCELLED)                                                                              \
    X(T_RESULT)                                                                                    \
    X(T_RESULT_LINK)                                                                               \
    X(T_RESULT_MISSING)                                                                            \
    X(T_FAIL_CONTENT)                                                                              \
    X(T_FAIL_BUSY)                                                                                 \
    X(T_FAIL_TEMPORARY)                                                                            \
    X(T_FAIL_TIMEOUT)                                                                              \
    X(T_FAIL_GENERIC)                                                                              \
    X(T_REFUNDED)                                                                                  \
    /* --- my generations --- */                                                                   \
    X(T_HISTORY)                                                                                   \
    X(T_HISTORY_EMPTY)                                                                             \
    X(T_HISTORY_LINE)                                                                              \
    X(T_JOB)                                                                                       \
    X(T_JOB_PRODUCT)                                                                               \
    X(T_JOB_NOT_FOUND)                                                                             \
    X(T_JOB_CANCELLED)                                                                             \
    X(T_JOB_CANT_CANCEL)                                                                           \
    X(S_TPL_UGC)                                                                                   \
    X(S_TPL_AD)                                                                                    \
    X(S_TPL_OWN)                                                                                   \
    /* --- account --- */                                                                          \
    X(T_ACCOUNT)                                                                                   \
    X(T_ENTRIES)                                                                                   \
    X(T_ENTRIES_EMPTY)                                                                             \
    X(T_ENTRY_LINE)                                                                                \
    X(S_EK_GRANT)                                                                                  \
    X(S_EK_TOPUP)                                                                                  \
    X(S_EK_HOLD)                                                                                   \
    X(S_EK_CAPTURE)                                                                                \
    X(S_EK_RELEASE)                                                                                \
    X(S_EK_ADJUST)                                                                                 \
    X(S_EK_REFUND)                                                                                 \
    X(S_EK_OTHER)                                                                                  \
    X(T_BUY)                                                                                       \
    X(T_BUY_LINE)                                                                                  \
    /* --- buttons --- */                                                                          \
    X(B_CREATE)                                                                                    \
    X(B_HISTORY)                                                                                   \
    X(B_ACCOUNT)                                                                                   \
    X(B_SUPPORT)                                                                                   \
    X(B_MENU)                                                                                      \
    X(B_TOPUP)                                                                                     \
    X(B_ENTRIES)                                                                                   \
    X(B_BACK)                                                                                      \
    X(B_CANCEL)                                                                                    \
    X(B_LAUNCH)                                                                                    \
    X(B_RETRY)                                                                                     \
    X(B_AGAIN)                                                                                     \
    X(B_REPEAT)                                                                                    \
    X(B_CANCEL_JOB)                                                                                \
    X(B_TPL_UGC)                                                                                   \
    X(B_TPL_AD)                                                                                    \
    X(B_TPL_OWN)                                                                                   \
    X(B_COUNT)                                                                                     \
    X(B_MODEL)                                                                                     \
    X(B_JOB)                                                                                       \
    X(B_CONTACT)                                                                                   \
    X(B_LANG_RU)                                                                                   \
    X(B_LANG_EN)                                                                                   \
    /* --- callback answers --- */                                                                 \
    X(A_STALE)                                                                                     \
    X(A_ALREADY)                                                                                   \
    X(A_WAIT)                                                                                      \
    X(A_FLOOD)                                                                                     \
    /* --- plural nouns: "one|few|many" (ru), "one|other" (en) --- */                              \
    X(N_CREDIT)                                                                                    \
    X(N_VIDEO)                                                                                     \
    X(N_GENERATION)                                                                                \
    X(N_SECOND)                                                                                    \
    X(N_CHAR)

typedef enum {
#define I18N_ENUM(id) I18N_##id,
    I18N_IDS(I18N_ENUM)
#undef I18N_ENUM
        I18N_COUNT_
} i18n_id_t;

//  The tables (src/i18n_ru.c, src/i18n_en.c). Use i18n_text(); these are
//  visible so that tests can check them entry by entry.
extern const char *const i18n_table_ru[I18N_COUNT_];
extern const char *const i18n_table_en[I18N_COUNT_];

//  "ru" for language codes ru, uk, be, kk (also "ru-RU", "uk_UA", any case),
//  "en" for anything else, including NULL and "".
i18n_lang_t i18n_detect(const char *language_code);
const char *i18n_lang_code(i18n_lang_t lang); //  "ru" / "en"
//  0 and *lang set when code is exactly "ru" or "en", else -1.
int i18n_lang_parse(const char *code, i18n_lang_t *lang);
const char *i18n_id_name(i18n_id_t id); //  "T_MENU"; "?" when out of range

//  The raw template (never NULL: an out-of-range id or language gives "").
const char *i18n_text(i18n_lang_t lang, i18n_id_t id);

//  Which form of a noun n takes: the index into "one|few|many" (ru: 1 21
//  кредит, 2 22 кредита, 5 11 111 кредитов) or "one|other" (en).
int i18n_plural_form(i18n_lang_t lang, int64_t n);
//  The word alone ("кредитов", "credits") for noun (an N_* id) into buf;
//  returns buf ("" when noun is not a plural noun).
const char *i18n_plural(i18n_lang_t lang, i18n_id_t noun, int64_t n, char *buf, size_t size);

typedef enum {
    I18N_ARG_TEXT,  //  user-supplied: HTML-escaped
    I18N_ARG_HTML,  //  built by genbot: inserted as is
    I18N_ARG_INT,   //  decimal
    I18N_ARG_COUNT, //  "<n> <plural noun>"
} i18n_arg_type_t;

typedef struct {
    i18n_arg_type_t type;
    const char *str; //  TEXT, HTML (NULL prints nothing)
    int64_t n;       //  INT, COUNT
    i18n_id_t noun;  //  COUNT
} i18n_arg_t;

#define I18N_S(s)        ((i18n_arg_t){.type = I18N_ARG_TEXT, .str = (s)})
#define I18N_H(s)        ((i18n_arg_t){.type = I18N_ARG_HTML, .str = (s)})
#define I18N_I(v)        ((i18n_arg_t){.type = I18N_ARG_INT, .n = (v)})
#define I18N_N(v, which) ((i18n_arg_t){.type = I18N_ARG_COUNT, .n = (v), .noun = I18N_##which})

//  The text of id with {k} replaced by args[k-1]; a placeholder without an
//  argument prints nothing, a '{' not followed by a digit and '}' prints as
//  is. Returns a new string (the caller frees it), never NULL.
char *i18n_format(i18n_lang_t lang, i18n_id_t id, const i18n_arg_t *args, size_t n);
//  The same for any template (tests, composed texts).
char *i18n_format_str(i18n_lang_t lang, const char *tmpl, const i18n_arg_t *args, size_t n);

//  "<n> <noun>" as a new string ("21 кредит").
char *i18n_count(i18n_lang_t lang, i18n_id_t noun, int64_t n);

//  HTML-escapes & < > " into a new string (caller frees).
char *i18n_escape(const char *text);

//  What Telegram counts against I18N_TEXT_MAX: UTF-16 code units of the
//  text with tags removed and each entity (&amp; ...) counted as one.
size_t i18n_visible_length(const char *html);

//  Valid UTF-8 (no overlongs, surrogates, or code points over U+10FFFF)?
bool i18n_utf8_valid(const char *text, size_t len);
//  Code points in valid UTF-8 text.
size_t i18n_utf8_chars(const char *text, size_t len);
//  The byte length of at most max_chars whole code points of text.
size_t i18n_utf8_prefix(const char *text, size_t len, size_t max_chars);

//  --- keyboards -------------------------------------------------------------

#define I18N_KB_MAX_BUTTONS 24
#define I18N_KB_MAX_ROWS    24
#define I18N_BUTTON_MAX     128 //  label bytes
#define I18N_URL_MAX        256

typedef struct {
    char text[I18N_BUTTON_MAX + 1];
    char data[I18N_CALLBACK_MAX + 1]; //  callback_data, or "" for a URL button
    char url[I18N_URL_MAX + 1];       //  "" for a callback button
} i18n_button_t;

//  An inline keyboard: buttons in order, row_end[r] = index after row r.
typedef struct {
    size_t count;
    size_t rows;
    size_t row_end[I18N_KB_MAX_ROWS];
    i18n_button_t buttons[I18N_KB_MAX_BUTTONS];
} i18n_keyboard_t;

void i18n_kb_clear(i18n_keyboard_t *kb);
//  Starts a new row (an empty row is dropped when the next one starts).
void i18n_kb_row(i18n_keyboard_t *kb);
//  Appends a button to the current row (starting one if none); a label
//  over I18N_BUTTON_MAX bytes is cut to whole characters and "…". Returns
//  -1 and adds nothing when the keyboard is full, the label is empty, or
//  data is empty or over I18N_CALLBACK_MAX bytes / url too long.
int i18n_kb_button(i18n_keyboard_t *kb, const char *text, const char *data);
int i18n_kb_url(i18n_keyboard_t *kb, const char *text, const char *url);
//  Telegram's reply_markup JSON ({"inline_keyboard":[[...]]}) as a new
//  string; NULL when the keyboard has no buttons.
char *i18n_kb_json(const i18n_keyboard_t *kb);

#endif
