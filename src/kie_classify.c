/*  kie_classify.c — KIE's error classes and the classifier (see kie.h):
    what an error means for the job, the key, the admins and the user.

    Three tables drive the decisions: s_classes (what each error class
    means for the job, the key, the admins and the user; expanded from
    KIE_CLASSES), s_codes (what a code means, and which message phrases may
    override it) and s_phrases (specific texts from KIE and its upstream
    providers). kie_classify reads a code's row, then the first phrase row
    the code row allows; see kie.h for the reasoning behind the rows.
*/
#include "kie_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  --------------------------------------------------------------------------
//  Tables

static const kie_class_info_t s_classes[] = {
#define KIE_CLASS_ROW(id, name, retry, key, alert, user_msg) {name, retry, key, alert, user_msg},
    KIE_CLASSES(KIE_CLASS_ROW)
#undef KIE_CLASS_ROW
};

_Static_assert(sizeof(s_classes) / sizeof(s_classes[0]) == KIE_CLASS_COUNT_,
               "one s_classes row per class");

//  Phrase groups: a code row lists the groups allowed to override it.
#define P_CONTENT    0x001u //  content policy: the user's photo or prompt
#define P_VALIDATION 0x002u //  our request is wrong
#define P_FETCH      0x004u //  KIE could not download our input
#define P_NOT_YET    0x008u //  the task is not visible yet
#define P_RATE       0x010u
#define P_BILLING    0x020u
#define P_AUTH       0x040u
#define P_TRANSIENT  0x080u //  timeouts, overload, maintenance
#define P_CLOUDFLARE 0x100u //  Cloudflare's bare "error code: 10xx" pages
#define P_ALL        0x1ffu

//  Matched case-insensitively as substrings, first row first (so content
//  before the rest, and a specific Cloudflare code before the general one).
//  Every phrase is specific enough that an unrelated message will not hold
//  it: no "content", "people", "rejected", "violation", "sensitive" alone
//  ("duplicate key value violates unique constraint", "case-sensitive").
static const struct {
    const char *phrase;
    unsigned group;
    kie_class_t cls;
} s_phrases[] = {
    //  Veo "Your prompt was flagged by Website as violating content
    //  policies", 4o "Your content was flagged by OpenAI ...", "flagged as
    //  sensitive"
    {"flagged", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"content polic", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"usage polic", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"violates polic", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"violate polic", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"violates our", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"violate our", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    //  Sora "This content may violate our guardrails concerning similarity
    //  to third-party content", "... uploads of images containing
    //  photorealistic people"
    {"guardrails", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"third-party content", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"photorealistic people", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    //  Veo "public error unsafe image upload" / "minor upload" / "prominent
    //  people upload"
    {"unsafe image", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"minor upload", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"prominent people", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    //  Runway "Inappropriate content detected", "caught by AI moderator"
    {"inappropriate content", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"moderation", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"moderator", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    //  Texts other integrators log as user errors; Suno SENSITIVE_WORD_ERROR
    {"prohibited use", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"filtered out", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"safety system", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"safety filter", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"sensitive word", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"sensitive_word", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"sensitive content", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"sensitive input", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"nsfw", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},
    {"copyrighted material", P_CONTENT, KIE_CLASS_CONTENT_VIOLATION},

    //  "This field is required" was seen live under code 500.
    {"field is required", P_VALIDATION, KIE_CLASS_INVALID_REQUEST},
    {"only english prompts", P_VALIDATION, KIE_CLASS_INVALID_REQUEST},
    {"invalid_image_format", P_VALIDATION, KIE_CLASS_INVALID_REQUEST},
    {"invalid image format", P_VALIDATION, KIE_CLASS_INVALID_REQUEST},
    {"unsupported image", P_VALIDATION, KIE_CLASS_INVALID_REQUEST},
    {"invalid parameter", P_VALIDATION, KIE_CLASS_INVALID_REQUEST},

    //  Veo "Failed to fetch the image. Kindly verify any access limits..."
    {"failed to fetch", P_FETCH, KIE_CLASS_TEMPORARY},
    {"could not fetch", P_FETCH, KIE_CLASS_TEMPORARY},
    {"unable to fetch", P_FETCH, KIE_CLASS_TEMPORARY},
    {"failed to download", P_FETCH, KIE_CLASS_TEMPORARY},

    {"recordinfo is null", P_NOT_YET, KIE_CLASS_TEMPORARY},

    {"rate limit", P_RATE, KIE_CLASS_RATE_LIMITED},
    {"too many requests", P_RATE, KIE_CLASS_RATE_LIMITED},
    {"concurrency limit", P_RATE, KIE_CLASS_RATE_LIMITED},
    {"concurrent limit", P_RATE, KIE_CLASS_RATE_LIMITED},

    {"insufficient credit", P_BILLING, KIE_CLASS_BILLING},
    {"insufficient balance", P_BILLING, KIE_CLASS_BILLING},
    {"insufficient funds", P_BILLING, KIE_CLASS_BILLING},
    {"not enough credits", P_BILLING, KIE_CLASS_BILLING},
    {"credits insufficient", P_BILLING, KIE_CLASS_BILLING},

    //  "You do not have access permissions" (KIE's 401 text)
    {"access permissions", P_AUTH, KIE_CLASS_AUTH},
    {"unauthorized", P_AUTH, KIE_CLASS_AUTH},
    {"invalid api key", P_AUTH, KIE_CLASS_AUTH},
    {"authentication failed", P_AUTH, KIE_CLASS_AUTH},

    //  MISHA's old Sora handler retried on these.
    {"timed out", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"timeout", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"heavy load", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"overloaded", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"not responding", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"try again later", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"service unavailable", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"temporarily unavailable", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"maintenance", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"internal server error", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"internal error", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"bad gateway", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"server is busy", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"server busy", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"at capacity", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"network error", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"connection reset", P_TRANSIENT, KIE_CLASS_TEMPORARY},
    {"connection refused", P_TRANSIENT, KIE_CLASS_TEMPORARY},

    //  Cloudflare: 1015 "You are being rate limited"; 1010 (browser
    //  signature banned), 1020 (firewall rule) and the rest refuse our
    //  client, not the key.
    {"error code: 1015", P_CLOUDFLARE, KIE_CLASS_RATE_LIMITED},
    {"error code: 10", P_CLOUDFLARE, KIE_CLASS_TEMPORARY},
};

#define PHRASE_COUNT (sizeof(s_phrases) / sizeof(s_phrases[0]))

//  What a code means. First row whose range holds the code wins; a code in
//  no row (1xx, > 599) falls to the last one. Code 0 = no code at all.
static const struct {
    int lo, hi;
    kie_class_t cls;
    unsigned overrides;
} s_codes[] = {
    {0, 0, KIE_CLASS_UNKNOWN, P_ALL},
    {300, 399, KIE_CLASS_INVALID_REQUEST, 0}, //  a redirect: our URL is wrong
    {400, 400, KIE_CLASS_INVALID_REQUEST, P_CONTENT | P_VALIDATION | P_FETCH | P_NOT_YET | P_RATE},
    {401, 401, KIE_CLASS_AUTH, 0},
    {402, 402, KIE_CLASS_BILLING, 0},
    {403, 403, KIE_CLASS_AUTH, P_CLOUDFLARE},
    {404, 404, KIE_CLASS_INVALID_REQUEST, 0},
    {408, 408, KIE_CLASS_TEMPORARY, 0},
    {422, 422, KIE_CLASS_INVALID_REQUEST, P_CONTENT | P_VALIDATION | P_FETCH | P_NOT_YET | P_RATE},
    {429, 429, KIE_CLASS_RATE_LIMITED, 0},
    {433, 433, KIE_CLASS_BILLING, 0},   //  sub-key over its usage cap
    {451, 451, KIE_CLASS_TEMPORARY, 0}, //  could not fetch our input image
    {455, 455, KIE_CLASS_TEMPORARY, 0}, //  maintenance
    {500, 500, KIE_CLASS_TEMPORARY, P_CONTENT | P_VALIDATION},
    {501, 501, KIE_CLASS_UNKNOWN, P_ALL},     //  generation failed: see the message
    {505, 505, KIE_CLASS_INVALID_REQUEST, 0}, //  feature disabled
    {531, 531, KIE_CLASS_UNKNOWN, P_ALL},     //  Suno: generation failed, refunded
    {400, 499, KIE_CLASS_INVALID_REQUEST, P_CONTENT},
    {500, 599, KIE_CLASS_TEMPORARY, 0},
    {-1, -1, KIE_CLASS_UNKNOWN, P_ALL}, //  anything else
};

#define CODE_COUNT (sizeof(s_codes) / sizeof(s_codes[0]))

//  Generation failed: defer to the task's own failCode when there is one.
#define CODE_GENERATION_FAILED(code) ((code) == 501 || (code) == 531)

//  --------------------------------------------------------------------------
//  Classes

const kie_class_info_t *kie_class_info(kie_class_t cls) {
    if ((int)cls < 0 || cls >= KIE_CLASS_COUNT_) cls = KIE_CLASS_UNKNOWN;
    return &s_classes[cls];
}

const char *kie_class_name(kie_class_t cls) {
    return kie_class_info(cls)->name;
}

int kie_class_from_name(const char *name, kie_class_t *cls) {
    assert(cls);
    for (int i = 0; name && i < KIE_CLASS_COUNT_; i++)
        if (strcmp(s_classes[i].name, name) == 0) {
            *cls = (kie_class_t)i;
            return 0;
        }
    return -1;
}

kie_class_t kie_classify(int http_status, int envelope_code, const char *fail_code,
                         const char *message) {
    if (http_status <= KIE_HTTP_NONE) return KIE_CLASS_TEMPORARY; //  no response at all
    int code = 0;
    if (envelope_code != 0 && envelope_code != 200)
        code = envelope_code;
    else if (http_status < 200 || http_status > 299)
        code = http_status;

    //  A failCode is a number ("500", 500 as text) or a word; a word is
    //  matched like the message.
    int fail_number = 0;
    const char *fail_text = NULL;
    if (fail_code && *fail_code) {
        char *end = NULL;
        long number = strtol(fail_code, &end, 10);
        if (*end == '\0' && number > 0 && number < 1000)
            fail_number = (int)number;
        else
            fail_text = fail_code;
    }
    if ((code == 0 || CODE_GENERATION_FAILED(code)) && fail_number && fail_number != 200)
        code = fail_number;

    size_t row = 0;
    while (row < CODE_COUNT - 1 && !(code >= s_codes[row].lo && code <= s_codes[row].hi))
        row++;
    for (size_t i = 0; i < PHRASE_COUNT; i++) {
        if (!(s_phrases[i].group & s_codes[row].overrides)) continue;
        if (kiei_contains(message, s_phrases[i].phrase) ||
            kiei_contains(fail_text, s_phrases[i].phrase))
            return s_phrases[i].cls;
    }
    return s_codes[row].cls;
}

//  --------------------------------------------------------------------------
//  Private helpers

//  ASCII case-insensitive substring test; false for a NULL haystack.
bool kiei_contains(const char *haystack, const char *needle) {
    if (!haystack) return false;
    size_t length = strlen(needle);
    for (const char *h = haystack; *h; h++)
        if (strncasecmp(h, needle, length) == 0) return true;
    return false;
}
