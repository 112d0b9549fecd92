/*  prompt.h — the text prompt of a generation job, from its parameters.

    Pure: no I/O, no clock. The key worker calls prompt_from_params with the
    jobs.params JSON the session shard stored with the order:

      {"template": "ugc" | "ad" | "own", "product": "...", "wishes": "...",
       "prompt": "...", "lang": "ru" | "en", "photo_file_id": "...", ...}

    UGC and ad ("Реклама") fill an English template for an image-to-video
    model (Sora 2): a vertical 9:16 clip of about 10 seconds of the product
    in the reference photo, UGC = a creator's handheld review, ad = a
    polished commercial. The user's product text and wishes are inserted as
    quoted data, cleaned first. Wishes that say "none" ("-", "—", "", absent)
    leave the wishes sentence out. "own" uses the user's prompt as it is,
    cleaned the same way except that its line breaks are kept.

    Cleaning (prompt_clean) makes any user text safe to embed: invalid UTF-8
    bytes, C0/C1 control characters, DEL, zero-width and bidirectional
    formatting characters (U+200B..U+200F, U+202A..U+202E, U+2060..U+2069,
    U+FEFF) are dropped; tabs and line breaks become spaces (or stay line
    breaks when asked); runs of spaces collapse to one; the ends are
    trimmed; the result is cut to a maximum number of characters (code
    points) on a character boundary. Inside the templates a double quote
    of the user's text becomes a single quote so the quoting stays whole.
    Nothing else is changed: the text is data for the video model, not
    instructions we interpret, and Cyrillic or emoji pass through.
*/
#ifndef GENBOT_PROMPT_H
#define GENBOT_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

#define PROMPT_PRODUCT_MAX 1000 //  characters of product text kept (PRODUCT.md step 3)
#define PROMPT_WISHES_MAX  1000 //  characters of wishes kept
#define PROMPT_OWN_MAX     5000 //  characters of an own prompt kept (step 5')
#define PROMPT_ERR_MAX     128  //  bytes of an error line, with the NUL

typedef enum {
    PROMPT_TPL_UGC, //  🎥 UGC блогер
    PROMPT_TPL_AD,  //  📢 Реклама
    PROMPT_TPL_OWN, //  🧑‍💻 Свой промпт
} prompt_template_t;

//  "ugc", "ad", "own" -> 0 and *tpl; -1 for anything else (NULL included).
int prompt_template_parse(const char *name, prompt_template_t *tpl);
const char *prompt_template_name(prompt_template_t tpl); //  "?" when out of range

//  A cleaned copy of text[0..len) (see above), at most max_chars
//  characters; keep_lines keeps line breaks (as "\n", at most two in a
//  row). Never NULL unless out of memory; "" when nothing is left.
char *prompt_clean(const char *text, size_t len, size_t max_chars, bool keep_lines);

//  True when the wishes say there are none: NULL, or after cleaning "",
//  "-", "–", "—", "." or "нет"/"no"/"none" (any case).
bool prompt_no_wishes(const char *wishes);

//  The prompt for a template (caller frees). product: required for UGC and
//  ad; wishes: may be NULL; own: required for own; lang: the user's
//  language ("ru" asks for Russian speech and on-screen text, anything else
//  English). max_chars caps the result (the model's prompt limit; 0 = no
//  cap beyond the per-field ones). NULL with one line in err
//  (PROMPT_ERR_MAX bytes; may be NULL) when a required text is missing or
//  empty after cleaning, or the result would not fit max_chars.
char *prompt_build(prompt_template_t tpl, const char *product, const char *wishes, const char *own,
                   const char *lang, size_t max_chars, char *err);

//  prompt_build from a job's params JSON. Without "template", a "prompt"
//  string is taken as an own prompt (older or hand-made orders). NULL with
//  err when the JSON is not an object, the template is unknown or missing
//  (and no prompt), a field has the wrong type, or prompt_build refuses.
char *prompt_from_params(const char *params_json, size_t max_chars, char *err);

#endif
