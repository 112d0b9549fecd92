/*  catalog.h — the models genbot sells, and how each one's createTask
    `input` object is built.

    A built-in catalog holds one model, sora-2-image-to-video. GENBOT_CATALOG
    may name a JSON file that replaces it (not extends it). Format:

    {"models": [{
       "id":             "sora-2-image-to-video",   our id: 1..63 chars of
                                                    [A-Za-z0-9._/-], unique
       "model":          "sora-2-image-to-video",   KIE model slug (optional,
                                                    default: id; same charset)
       "title":          {"ru": "...", "en": "..."},  both required, non-empty,
                                                    <= 127 bytes, no control chars
       "kind":           "video" | "image",
       "price":          1,                         credits per generation,
                                                    integer in 1..CATALOG_MAX_PRICE
       "enabled":        true,                      optional, default true
       "needs":          ["photo", "prompt"],       each at most once; may be []
       "input":          {"aspect_ratio": "portrait", "n_frames": "10", ...},
                                                    fixed fields sent as they are
                                                    (optional, default {})
       "prompt_field":   "prompt",                  only with needs "prompt";
                                                    default "prompt"
       "prompt_max":     10000,                     only with needs "prompt";
                                                    Unicode characters, default
                                                    CATALOG_PROMPT_MAX
       "image_field":    "image_urls",              only with needs "photo";
                                                    default "image_urls"
       "image_as_array": true,                      only with needs "photo";
                                                    default true: ["url"], else "url"
       "max_images":     1                          only with needs "photo" and
                                                    image_as_array; default 1
    }]}

    Loading rejects, with one message naming the entry and the field (e.g.
    "models[1].price: must be a positive integer"): invalid JSON (with line
    and column), a key not listed above at any level, a value of the wrong
    type or out of range, a duplicate id, a duplicate key inside an object,
    an `input` that sets the prompt or image field itself, no models, more
    than CATALOG_MAX_MODELS, and a catalog where no model is enabled.

    Values (the JSON file) are the operator's input: bad ones are errors,
    never asserts. A catalog is immutable after loading; its models live as
    long as it does.
*/
#ifndef GENBOT_CATALOG_H
#define GENBOT_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CATALOG_ERR_MAX    256
#define CATALOG_MAX_MODELS 32
#define CATALOG_ID_MAX     64  //  bytes with the NUL (fits msg.h MSG_MAX_TOKEN)
#define CATALOG_TITLE_MAX  128 //  bytes with the NUL
#define CATALOG_FIELD_MAX  64  //  input field names, bytes with the NUL
#define CATALOG_MAX_PRICE  100000
#define CATALOG_PROMPT_MAX 10000 //  characters; KIE's limit for Sora 2 prompts
#define CATALOG_MAX_IMAGES 8
#define CATALOG_URL_MAX    4096      //  image URL bytes with the NUL (msg.h MSG_MAX_URL)
#define CATALOG_FILE_MAX   (1 << 20) //  bytes

typedef enum { CATALOG_KIND_VIDEO, CATALOG_KIND_IMAGE } catalog_kind_t;

typedef struct catalog_s catalog_t;
typedef struct catalog_model_s catalog_model_t;

//  The built-in catalog (never NULL unless out of memory).
catalog_t *catalog_new_default(void);
//  Parses size bytes of text (need not be NUL-terminated). NULL and one line
//  in err (CATALOG_ERR_MAX bytes; may be NULL) when anything is wrong.
catalog_t *catalog_load_string(const char *text, size_t size, char *err);
//  Reads the file at path (at most CATALOG_FILE_MAX bytes) and parses it;
//  errors start with the path.
catalog_t *catalog_load_file(const char *path, char *err);
void catalog_destroy(catalog_t **self_p);

//  Every model, in file order, enabled or not.
size_t catalog_count(const catalog_t *self);
const catalog_model_t *catalog_at(const catalog_t *self, size_t index); //  NULL past the end
//  By id; NULL when unknown (also for a NULL id).
const catalog_model_t *catalog_find(const catalog_t *self, const char *id);
//  The enabled models, in file order: what the user picks from.
size_t catalog_enabled_count(const catalog_t *self);
const catalog_model_t *catalog_enabled_at(const catalog_t *self, size_t index);
//  The price of a model by id, or -1 when unknown. Disabled models keep a
//  price: a job queued before the model was disabled still has to finish.
int64_t catalog_price(const catalog_t *self, const char *id);

const char *catalog_model_id(const catalog_model_t *model);
const char *catalog_model_slug(const catalog_model_t *model); //  KIE "model"
//  "ru" gives the Russian title, anything else (NULL included) the English one.
const char *catalog_model_title(const catalog_model_t *model, const char *lang);
catalog_kind_t catalog_model_kind(const catalog_model_t *model);
int64_t catalog_model_price(const catalog_model_t *model);
bool catalog_model_enabled(const catalog_model_t *model);
bool catalog_model_needs_photo(const catalog_model_t *model);
bool catalog_model_needs_prompt(const catalog_model_t *model);
size_t catalog_model_max_images(const catalog_model_t *model); //  0 without needs photo
size_t catalog_model_prompt_max(const catalog_model_t *model); //  0 without needs prompt
const char *catalog_kind_name(catalog_kind_t kind);            //  "video", "image", "?"

//  The createTask `input` object for model: a copy of the fixed fields plus
//  the prompt (needs prompt: required, non-empty, at most prompt_max
//  characters of valid UTF-8; NULL or "" otherwise) and the image URLs
//  (needs photo: 1..max_images http(s) URLs of printable ASCII, shorter
//  than CATALOG_URL_MAX; none otherwise). Returns a new reference the caller
//  json_decref()s, or NULL with one line in err (CATALOG_ERR_MAX bytes) when
//  an input is missing, extra or invalid.
json_t *catalog_model_input(const catalog_model_t *model, const char *prompt,
                            const char *const *image_urls, size_t image_count, char *err);

#endif
