/*  msg_docs.c — docs/messages.md, printed from the tables of msg.h
    (`genbot messages`): the documentation of every message comes from the
    same declaration as the codec.
*/
#include "msg_internal.h"

#include <assert.h>
#include <stdio.h>

static void s_print_list(FILE *out, const msg_field_t *fields, size_t n) {
    if (n == 0) fprintf(out, " —");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s `%s`", i ? "," : "", msgi_fields[fields[i]].name);
}

static void s_print_kinds(FILE *out, bool rows) {
    fprintf(out, "| name | kind | required | optional |\n|---|---:|---|---|\n");
    for (int kind = MSG_K_NONE + 1; kind < MSG_K_COUNT_; kind++) {
        const msgi_kind_decl_t *decl = &msgi_kind_decls[kind];
        if (msgi_kind_is_row(kind) != rows) continue;
        fprintf(out, "| `%s` | %d |", decl->name, kind);
        s_print_list(out, decl->req, decl->nreq);
        fprintf(out, " |");
        s_print_list(out, decl->opt, decl->nopt);
        fprintf(out, " |\n");
    }
}

void msg_print_docs(FILE *out) {
    static const char *type_names[] = {"int", "bool", "str", "bin", "ints", "list"};
    assert(out);
    msgi_init();
    fprintf(out,
            "# Messages\n\n"
            "<!-- Generated from include/msg.h by msg_print_docs() (`genbot messages`). "
            "Do not edit. -->\n\n"
            "Every message between genbot's actors is one ZeroMQ frame holding a msgpack array\n"
            "`[kind, corr_id, body]`: `kind` is the number below, `corr_id` an unsigned 64-bit\n"
            "integer that a reply echoes, `body` a map from field name to value. A frame is at\n"
            "most %d bytes. The decoder rejects anything else: another shape, an unknown\n"
            "kind, a field the kind does not declare, a missing required field, a value of the\n"
            "wrong type, a value over its max, a key given twice, trailing bytes.\n\n"
            "## Kinds\n\n",
            MSG_MAX_FRAME);
    s_print_kinds(out, false);
    fprintf(out, "\n## Row kinds\n\nA row is a map inside a `list` field; it is never sent "
                 "alone.\n\n");
    s_print_kinds(out, true);
    fprintf(out, "\n## Fields\n\n"
                 "A field has the same type wherever it appears. `int` is a signed 64-bit "
                 "integer,\n`str` valid UTF-8 without NUL bytes (max in bytes), `bin` opaque "
                 "bytes, `ints` an\narray of `int`, `list` an array of rows.\n\n"
                 "| name | type | max |\n|---|---|---:|\n");
    for (int field = 0; field < F_COUNT_; field++) {
        const msgi_field_t *decl = &msgi_fields[field];
        fprintf(out, "| `%s` | %s", decl->name, type_names[decl->type]);
        if (decl->type == MT_LIST) fprintf(out, " of `%s`", msgi_kind_decls[decl->row].name);
        if (decl->type <= MT_BOOL)
            fprintf(out, " | |\n");
        else
            fprintf(out, " | %u |\n", (unsigned)decl->max);
    }
}
