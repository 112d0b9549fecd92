/*  tgsim_files.c — files the simulator holds: what users send (photos in
    Telegram's sizes, documents, stickers) and what the bot uploads or names
    by URL, each with a file_id, a file_unique_id and a file_path for
    getFile and /file/bot<token>/<path>.

    The sizes of one photo share one refcounted blob of bytes (the
    simulator doesn't resize images), and one PhotoSize array.
*/
#include "tgsim_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_FILE_ID_CHARS   44
#define S_UNIQUE_ID_CHARS 12
#define S_PHOTO_MAX_SIDE  2560

//  --------------------------------------------------------------------------

tgs_blob_t *tgs_blob_new(tgsim_t *sim, const void *data, size_t size) {
    (void)sim;
    tgs_blob_t *blob = calloc(1, sizeof *blob);
    assert(blob);
    blob->refs = 1;
    blob->size = size;
    if (data) {
        blob->data = malloc(size ? size : 1);
        assert(blob->data);
        memcpy(blob->data, data, size);
    }
    return blob;
}

void tgs_blob_unref(tgs_blob_t *blob) {
    if (blob && --blob->refs == 0) {
        free(blob->data);
        free(blob);
    }
}

static const char *s_file_prefix(const char *kind) {
    if (streq(kind, "photo")) return "AgACAgIAAxkBAAI";
    if (streq(kind, "video")) return "BAACAgIAAxkBAAI";
    if (streq(kind, "sticker")) return "CAACAgIAAxkBAAI";
    return "BQACAgIAAxkBAAI";
}

static const char *s_file_extension(const char *kind, const char *file_name) {
    if (streq(kind, "photo")) return "jpg";
    if (streq(kind, "video")) return "mp4";
    if (streq(kind, "sticker")) return "webp";
    const char *dot = file_name ? strrchr(file_name, '.') : NULL;
    return dot && dot[1] && strlen(dot + 1) <= 8 && !strchr(dot, '/') ? dot + 1 : "bin";
}

//  Takes one reference to blob (may be NULL).
tgs_file_t *tgs_file_new(tgsim_t *sim, const char *kind, tgs_blob_t *blob, int64_t size,
                         const char *file_name, const char *mime_type) {
    tgs_file_t *file = calloc(1, sizeof *file);
    assert(file);
    char random[S_FILE_ID_CHARS + 1];
    tgs_random_chars(sim, random, S_FILE_ID_CHARS);
    file->file_id = zsys_sprintf("%s%s", s_file_prefix(kind), random);
    tgs_random_chars(sim, random, S_UNIQUE_ID_CHARS);
    file->file_unique_id = zsys_sprintf("AQAD%s", random);
    const char *dir = streq(kind, "photo")     ? "photos"
                      : streq(kind, "video")   ? "videos"
                      : streq(kind, "sticker") ? "stickers"
                                               : "documents";
    file->file_path = zsys_sprintf("%s/file_%" PRIu64 ".%s", dir, ++sim->file_seq,
                                   s_file_extension(kind, file_name));
    file->kind = streq(kind, "photo")     ? "photo"
                 : streq(kind, "video")   ? "video"
                 : streq(kind, "sticker") ? "sticker"
                                          : "document";
    file->size = size;
    file->file_name = tgs_strdup(file_name);
    file->mime_type = tgs_strdup(mime_type);
    file->blob = blob;
    zhashx_insert(sim->files, file->file_id, file);
    zhashx_insert(sim->file_paths, file->file_path, file);
    return file;
}

json_t *tgs_file_json(const tgs_file_t *file) {
    json_t *json =
        json_pack("{s:s, s:s}", "file_id", file->file_id, "file_unique_id", file->file_unique_id);
    if (file->size >= 0) json_object_set_new(json, "file_size", json_integer(file->size));
    return json;
}

//  A photo in the sizes Telegram makes: each standard side below the
//  original's longest, then the original (at most S_PHOTO_MAX_SIDE). Every
//  size serves the same bytes. Takes one reference to blob; returns the
//  largest size, whose `photo` is the PhotoSize array.
tgs_file_t *tgs_photo_new(tgsim_t *sim, tgs_blob_t *blob, int64_t size) {
    static const int sides[] = {90, 320, 800, 1280};
    int width = 1280, height = 1280;
    if (blob && blob->data) tgs_jpeg_size(blob->data, blob->size, &width, &height);
    int longest = width > height ? width : height;
    if (longest > S_PHOTO_MAX_SIDE) {
        width = (int)((int64_t)width * S_PHOTO_MAX_SIDE / longest);
        height = (int)((int64_t)height * S_PHOTO_MAX_SIDE / longest);
        longest = S_PHOTO_MAX_SIDE;
    }
    json_t *array = json_array();
    tgs_file_t *files[5];
    size_t count = 0;
    for (size_t i = 0; i < sizeof sides / sizeof sides[0] + 1; i++) {
        int side = i < sizeof sides / sizeof sides[0] ? sides[i] : longest;
        if (side > longest || (side == longest && i < sizeof sides / sizeof sides[0])) continue;
        int w = (int)((int64_t)width * side / longest);
        int h = (int)((int64_t)height * side / longest);
        if (blob) blob->refs++;
        tgs_file_t *file = tgs_file_new(sim, "photo", blob, size, NULL, "image/jpeg");
        json_t *entry = tgs_file_json(file);
        json_object_set_new(entry, "width", json_integer(w > 0 ? w : 1));
        json_object_set_new(entry, "height", json_integer(h > 0 ? h : 1));
        json_array_append_new(array, entry);
        files[count++] = file;
    }
    for (size_t i = 0; i < count; i++)
        files[i]->photo = json_incref(array);
    json_decref(array);
    tgs_blob_unref(blob);
    return files[count - 1];
}

void tgs_file_destroy(void **item) {
    tgs_file_t *file = *item;
    free(file->file_id);
    free(file->file_unique_id);
    free(file->file_path);
    free(file->file_name);
    free(file->mime_type);
    tgs_blob_unref(file->blob);
    json_decref(file->photo);
    free(file);
    *item = NULL;
}
