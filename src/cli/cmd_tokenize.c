/* shardenc tokenize: {"id","text"} JSONL in, {"id","input_ids"} JSONL out,
 * with the Hugging Face-identical tokenizer of src/text. Streams line by line;
 * a malformed line is reported (file:line) and skipped; the output appears
 * under its name only when complete (written to a temporary name, renamed). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "shardenc/text.h"

static void tok_usage(FILE *f)
{
    fprintf(f,
            "usage: shardenc tokenize (--vocab FILE | --model DIR) --input corpus.jsonl --output ids.jsonl\n"
            "                         [--no-special] [--quiet]\n"
            "\n"
            "  --vocab FILE    vocab.txt (BERT uncased defaults) or a tokenizer.json (WordPiece, BPE, Unigram)\n"
            "  --model DIR     a model folder: tokenizer.json, else vocab.txt (+ tokenizer_config.json)\n"
            "  --input FILE    one {\"id\": ..., \"text\": ...} object per line ('-' for stdin)\n"
            "  --output FILE   one {\"id\": ..., \"input_ids\": [...]} line per good input line, in order\n"
            "  --no-special    no [CLS] ... [SEP] around the ids\n"
            "  --quiet         no progress line (every 5 s on stderr); the summary is still printed\n"
            "\n"
            "Malformed lines are reported as FILE:LINE and skipped; invalid UTF-8 is replaced by\n"
            "U+FFFD (then removed, as Hugging Face does) and counted. Exit status 1 only when no\n"
            "line could be read (or on an I/O error), 2 on a usage error.\n");
}

/* Appends the decimal form of v (>= 0 or negative) to p; returns the end. */
static char *put_int(char *p, int32_t v)
{
    char tmp[12];
    int n = 0;
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *p++ = '-';
    while (n) *p++ = tmp[--n];
    return p;
}

/* ---- fast path for the common line shape ----
 * A strict parser for one JSON object whose values are strings, numbers,
 * true/false/null: it keeps the raw bytes of "id" (re-emitted exactly as
 * given) and decodes "text" into a reusable buffer, without building a
 * jansson tree (that was a third of the command's time). Anything else —
 * nested values, escaped keys, any syntax error — returns -1 and the line
 * goes through jansson, which also produces the error message. */
typedef struct {
    const char *id;
    size_t id_len;
    char *text; /* decoded, may contain NUL */
    size_t text_len, text_cap;
    int has_text;
} fast_rec;

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hex4(const char *p, const char *e, unsigned *v)
{
    if (e - p < 4) return -1;
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        x <<= 4;
        if (c >= '0' && c <= '9') x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') x |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *v = x;
    return 0;
}

/* p at the opening quote. Decodes into out (if not NULL; capacity >= e-p).
 * Returns the position after the closing quote, or NULL. */
static const char *parse_string(const char *p, const char *e, char *out, size_t *out_len)
{
    size_t o = 0;
    p++;
    while (p < e) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            if (out_len) *out_len = o;
            return p + 1;
        }
        if (c < 0x20) return NULL;
        if (c != '\\') {
            if (out) out[o] = (char)c;
            o++;
            p++;
            continue;
        }
        if (++p >= e) return NULL;
        unsigned u;
        switch (*p) {
        case '"': u = '"'; break;
        case '\\': u = '\\'; break;
        case '/': u = '/'; break;
        case 'b': u = '\b'; break;
        case 'f': u = '\f'; break;
        case 'n': u = '\n'; break;
        case 'r': u = '\r'; break;
        case 't': u = '\t'; break;
        case 'u':
            if (hex4(p + 1, e, &u)) return NULL;
            p += 4;
            if (u >= 0xDC00 && u <= 0xDFFF) return NULL; /* lone low surrogate */
            if (u >= 0xD800 && u <= 0xDBFF) {
                unsigned lo;
                if (e - p < 7 || p[1] != '\\' || p[2] != 'u' || hex4(p + 3, e, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return NULL;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            break;
        default: return NULL;
        }
        p++;
        /* UTF-8 of u (escapes are never longer than their encoding) */
        char b[4];
        int n;
        if (u < 0x80) { b[0] = (char)u; n = 1; }
        else if (u < 0x800) { b[0] = (char)(0xC0 | (u >> 6)); b[1] = (char)(0x80 | (u & 0x3F)); n = 2; }
        else if (u < 0x10000) {
            b[0] = (char)(0xE0 | (u >> 12)); b[1] = (char)(0x80 | ((u >> 6) & 0x3F)); b[2] = (char)(0x80 | (u & 0x3F)); n = 3;
        } else {
            b[0] = (char)(0xF0 | (u >> 18)); b[1] = (char)(0x80 | ((u >> 12) & 0x3F));
            b[2] = (char)(0x80 | ((u >> 6) & 0x3F)); b[3] = (char)(0x80 | (u & 0x3F)); n = 4;
        }
        if (out) memcpy(out + o, b, (size_t)n);
        o += (size_t)n;
    }
    return NULL;
}

/* JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static const char *parse_number(const char *p, const char *e)
{
    if (p < e && *p == '-') p++;
    if (p >= e) return NULL;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < e && *p >= '0' && *p <= '9') p++;
    else return NULL;
    if (p < e && *p == '.') {
        p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    return p;
}

static int fast_parse(const char *p, const char *e, fast_rec *r)
{
    r->id = NULL;
    r->has_text = 0;
    if ((size_t)(e - p) + 1 > r->text_cap) {
        free(r->text);
        r->text_cap = (size_t)(e - p) * 2 + 64;
        r->text = malloc(r->text_cap);
        if (!r->text) {
            r->text_cap = 0;
            return -1;
        }
    }
    p = skip_ws(p, e);
    if (p >= e || *p != '{') return -1;
    p = skip_ws(p + 1, e);
    for (;;) {
        if (p >= e || *p != '"') return -1;
        const char *k = p + 1;
        const char *q = memchr(k, '"', (size_t)(e - k));
        if (!q || memchr(k, '\\', (size_t)(q - k))) return -1; /* escaped keys: jansson */
        size_t kl = (size_t)(q - k);
        int is_id = kl == 2 && !memcmp(k, "id", 2), is_text = kl == 4 && !memcmp(k, "text", 4);
        p = skip_ws(q + 1, e);
        if (p >= e || *p != ':') return -1;
        p = skip_ws(p + 1, e);
        if (p >= e) return -1;
        const char *v = p;
        if (*p == '"') {
            p = parse_string(p, e, is_text ? r->text : NULL, is_text ? &r->text_len : NULL);
            if (!p) return -1;
            if (is_text) r->has_text = 1;
        } else if (is_text) {
            return -1; /* a non-string text: jansson path reports it */
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            if (!(p = parse_number(p, e))) return -1;
        } else if (e - p >= 4 && (!memcmp(p, "true", 4) || !memcmp(p, "null", 4))) {
            p += 4;
        } else if (e - p >= 5 && !memcmp(p, "false", 5)) {
            p += 5;
        } else {
            return -1;
        }
        if (is_id) {
            r->id = v;
            r->id_len = (size_t)(p - v);
        }
        p = skip_ws(p, e);
        if (p < e && *p == ',') {
            p = skip_ws(p + 1, e);
            continue;
        }
        if (p < e && *p == '}') break;
        return -1;
    }
    p = skip_ws(p + 1, e);
    return p == e && r->id && r->has_text ? 0 : -1;
}

static int load_tokenizer(const char *vocab, const char *model, se_tokenizer **t, se_error *err)
{
    if (model) return se_tok_load_dir(model, t, err);
    size_t l = strlen(vocab);
    if (l >= 5 && strcmp(vocab + l - 5, ".json") == 0) return se_tok_load_json(vocab, t, err);
    return se_tok_load_vocab(vocab, NULL, t, err);
}

int se_cmd_tokenize(int argc, char **argv)
{
    const char *vocab = NULL, *model = NULL, *in_path = NULL, *out_path = NULL;
    int special = 1, quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--vocab")    ? &vocab
                           : !strcmp(a, "--model")  ? &model
                           : !strcmp(a, "--input")  ? &in_path
                           : !strcmp(a, "--output") ? &out_path
                                                    : NULL;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "shardenc tokenize: %s needs a value\n", a);
                return SE_EXIT_USAGE;
            }
            *dst = argv[++i];
        } else if (!strcmp(a, "--no-special")) {
            special = 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            tok_usage(stdout);
            return SE_EXIT_OK;
        } else {
            fprintf(stderr, "shardenc tokenize: unknown option '%s'\n\n", a);
            tok_usage(stderr);
            return SE_EXIT_USAGE;
        }
    }
    if (!vocab == !model || !in_path || !out_path) {
        fprintf(stderr, "shardenc tokenize: need exactly one of --vocab/--model, and --input and --output\n\n");
        tok_usage(stderr);
        return SE_EXIT_USAGE;
    }

    se_error err;
    se_tokenizer *tok = NULL;
    se_status st = load_tokenizer(vocab, model, &tok, &err);
    if (st) {
        fprintf(stderr, "shardenc tokenize: %s\n", err.msg);
        return se_cli_exit_code(st);
    }
    int from_stdin = !strcmp(in_path, "-");
    FILE *in = from_stdin ? stdin : fopen(in_path, "rb");
    if (!in) {
        fprintf(stderr, "shardenc tokenize: %s: cannot open: %s\n", in_path, strerror(errno));
        se_tok_free(tok);
        return SE_EXIT_FAIL;
    }
    size_t tlen = strlen(out_path) + 32;
    char *tmp_path = malloc(tlen);
    se_status ts = tmp_path ? se_file_tmp_name(tmp_path, tlen, out_path, &err) : SE_ENOMEM;
    FILE *out = ts ? NULL : fopen(tmp_path, "wb");
    if (!out) {
        fprintf(stderr, "shardenc tokenize: %s: cannot create: %s\n", tmp_path ? tmp_path : out_path, strerror(errno));
        if (!from_stdin) fclose(in);
        free(tmp_path);
        se_tok_free(tok);
        return SE_EXIT_FAIL;
    }
    static char obuf[1 << 20];
    setvbuf(out, obuf, _IOFBF, sizeof obuf);

    char *line = NULL, *fixed = NULL, *rec = NULL;
    size_t line_cap = 0, fixed_cap = 0, rec_cap = 0;
    ssize_t len;
    size_t lineno = 0, n_docs = 0, n_bad = 0, n_ids = 0, n_inv_seq = 0, n_inv_docs = 0, bytes = 0;
    se_ids ids = {0};
    fast_rec fr = {0};
    double t0 = se_time_now(), t_last = t0;
    int io_error = 0;
    while ((len = getline(&line, &line_cap, in)) > 0) {
        lineno++;
        size_t l = (size_t)len;
        bytes += l;
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r')) l--;
        size_t k = 0;
        while (k < l && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == l) continue; /* blank line */
        /* Invalid UTF-8 would make the whole line unreadable to jansson:
         * replace it by U+FFFD first (as a lossy decoder would), count it. */
        const char *src = line;
        size_t n_inv = se_utf8_count_invalid(line, l);
        if (n_inv) {
            if (fixed_cap < 3 * l + 1) {
                fixed_cap = 3 * l + 1;
                free(fixed);
                fixed = malloc(fixed_cap);
            }
            l = se_utf8_repair(line, l, fixed);
            src = fixed;
        }
        const char *text_s, *id_s;
        size_t text_l, id_l;
        char *id_dump = NULL;
        json_t *j = NULL;
        if (fast_parse(src, src + l, &fr) == 0) {
            text_s = fr.text;
            text_l = fr.text_len;
            id_s = fr.id;
            id_l = fr.id_len;
        } else {
            json_error_t je;
            j = json_loadb(src, l, JSON_ALLOW_NUL, &je);
            json_t *id = j ? json_object_get(j, "id") : NULL, *text = j ? json_object_get(j, "text") : NULL;
            if (!j || !id || !json_is_string(text)) {
                if (!j)
                    fprintf(stderr, "%s:%zu:%d: invalid JSON: %s (line skipped)\n", in_path, lineno, je.column,
                            je.text);
                else
                    fprintf(stderr, "%s:%zu: expected an object with \"id\" and a string \"text\" (line skipped)\n",
                            in_path, lineno);
                n_bad++;
                json_decref(j);
                continue;
            }
            text_s = json_string_value(text);
            text_l = json_string_length(text);
            /* The id as given: numbers stay numbers, strings strings. */
            id_dump = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
            id_s = id_dump;
            id_l = strlen(id_dump);
        }
        st = se_tok_encode(tok, text_s, text_l, special, &ids, NULL, &err);
        if (st) {
            fprintf(stderr, "%s:%zu: %s (line skipped)\n", in_path, lineno, err.msg);
            n_bad++;
            free(id_dump);
            json_decref(j);
            continue;
        }
        if (n_inv) {
            n_inv_seq += n_inv;
            n_inv_docs++;
        }
        size_t need = id_l + 32 + ids.n * 12;
        if (rec_cap < need) {
            rec_cap = need * 2;
            free(rec);
            rec = malloc(rec_cap);
        }
        char *p = rec;
        memcpy(p, "{\"id\":", 6);
        p += 6;
        memcpy(p, id_s, id_l);
        p += id_l;
        memcpy(p, ",\"input_ids\":[", 14);
        p += 14;
        for (size_t i = 0; i < ids.n; i++) {
            if (i) *p++ = ',';
            p = put_int(p, ids.ids[i]);
        }
        memcpy(p, "]}\n", 3);
        p += 3;
        free(id_dump);
        json_decref(j);
        if (fwrite(rec, 1, (size_t)(p - rec), out) != (size_t)(p - rec)) {
            io_error = errno;
            break;
        }
        n_docs++;
        n_ids += ids.n;
        if (!quiet && (n_docs & 255) == 0) {
            double now = se_time_now();
            if (now - t_last >= 5.0) {
                fprintf(stderr, "tokenize: %zu documents, %.1f MB read, %.1f MB/s\n", n_docs, bytes / 1e6,
                        bytes / 1e6 / (now - t0));
                t_last = now;
            }
        }
    }
    if (!io_error && ferror(in)) io_error = errno ? errno : EIO;
    int read_error = io_error && ferror(in);
    /* fflush + fsync + fclose, checked: the ids are durable before the rename */
    se_status cs = se_stream_close(out, tmp_path, io_error ? SE_EIO : SE_OK, &err);
    if (!io_error && cs) io_error = errno ? errno : EIO;
    if (!from_stdin) fclose(in);
    free(line);
    free(fixed);
    free(rec);
    free(fr.text);
    se_ids_free(&ids);
    se_tok_free(tok);
    double dt = se_time_now() - t0;
    int rc = SE_EXIT_OK;
    if (io_error) {
        fprintf(stderr, "shardenc tokenize: %s: %s error: %s\n", read_error ? in_path : tmp_path,
                read_error ? "read" : "write", strerror(io_error));
        rc = SE_EXIT_FAIL;
    } else if (n_docs == 0 && n_bad > 0) {
        fprintf(stderr, "shardenc tokenize: %s: no line could be read (%zu malformed)\n", in_path, n_bad);
        rc = SE_EXIT_FAIL;
    } else if (se_file_rename(tmp_path, out_path, &err)) { /* + fsync of the directory */
        fprintf(stderr, "shardenc tokenize: %s\n", err.msg);
        rc = SE_EXIT_FAIL;
    }
    if (rc != SE_EXIT_OK) unlink(tmp_path);
    fprintf(stderr,
            "tokenize: %zu documents, %zu ids, %zu malformed lines skipped, %zu invalid UTF-8 sequences replaced "
            "in %zu documents, %.1f MB in %.2f s (%.1f MB/s)%s\n",
            n_docs, n_ids, n_bad, n_inv_seq, n_inv_docs, bytes / 1e6, dt, dt > 0 ? bytes / 1e6 / dt : 0.0,
            rc == SE_EXIT_OK ? "" : "; no output written");
    free(tmp_path);
    return rc;
}
