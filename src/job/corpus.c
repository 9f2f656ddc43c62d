/* The corpus index: each rank parses the lines whose first byte falls in its
 * byte range of the source, tokenises text, records one se_docrec per
 * document, writes its ids to PREFIX.ids.part<r> and hashes every line's
 * content; then the ranks exchange the index so every rank holds all of it,
 * in file order.
 *
 * Sources are a list (se_job.src): today one JSON Lines file; issue 13 adds
 * many files and compressed formats, each document naming its source. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "job/embed_internal.h"

#define MAX_SKIP_RECORDS 1000 /* per rank, with reasons; all are counted */

/* splitmix64 finaliser (Steele et al., "Fast splittable pseudorandom number
 * generators", 2014): spreads a line's (offset, content) hash so that the sum
 * over lines below is order-free yet changes with any edit. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* ids.txt holds one id a line: a newline or backslash inside an id is
 * escaped (\n, \r, \\) so that no id can shift the rows after it or collide
 * with another id silently. */
static int put_id(FILE *f, const char *id)
{
    for (const char *c = id; *c; c++) {
        if (*c == '\\') fputs("\\\\", f);
        else if (*c == '\n') fputs("\\n", f);
        else if (*c == '\r') fputs("\\r", f);
        else fputc(*c, f);
    }
    return fputc('\n', f) == EOF ? -1 : 0;
}

/* Pre-tokenised ids that come framed as [CLS] ... [SEP] (what `shardenc
 * tokenize` writes) are windowed like text: the frame is dropped here and put
 * back around every window, so the same document as text or as ids gives the
 * same rows. Only with a tokenizer (it names the specials) and without
 * non-zero token types (a pair, which windows would split). */
static int framed(const se_job *J, const se_doc *doc)
{
    if (!J->tok || doc->n_ids < 2) return 0;
    if (doc->input_ids[0] != se_tok_cls_id(J->tok) || doc->input_ids[doc->n_ids - 1] != se_tok_sep_id(J->tok))
        return 0;
    for (size_t i = 0; doc->type_ids && i < doc->n_ids; i++)
        if (doc->type_ids[i] != 0) return 0;
    return 1;
}

se_status se_corpus_index(se_job *J, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    const char *path = J->src[0].path;
    int P = g->world_size, r = g->world_rank;
    double t0 = se_time_now();
    struct stat sb;
    se_status st = SE_OK;
    int64_t size = 0;
    FILE *f = NULL;
    if (stat(path, &sb) != 0) st = se_error_set(err, SE_EIO, "%s: cannot open: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = se_error_set(err, SE_EINVAL, "%s: not a regular file", path);
    else size = sb.st_size;
    if (!st && !(f = fopen(path, "rb"))) st = se_error_set(err, SE_EIO, "%s: cannot open: %s", path, strerror(errno));
    int64_t lo = size * r / P, hi = size * (r + 1) / P;
    /* A line belongs to the rank whose byte range holds its first byte. */
    int64_t pos = lo;
    if (!st && lo > 0) {
        if (fseeko(f, lo - 1, SEEK_SET) != 0) st = se_error_set(err, SE_EIO, "%s: seek failed: %s", path, strerror(errno));
        int ch = EOF;
        pos = lo - 1;
        while (!st && (ch = fgetc(f)) != EOF) {
            pos++;
            if (ch == '\n') break;
        }
        if (!st && ch == EOF) pos = size;
    }
    size_t cap = 1024;
    se_docrec *docs = malloc(cap * sizeof *docs);
    se_skip_rec *skips = calloc(MAX_SKIP_RECORDS, sizeof *skips);
    char idpath[4200];
    snprintf(idpath, sizeof idpath, "%s.ids.part%d", o->output, r);
    FILE *idf = st ? NULL : fopen(idpath, "wb");
    if (!st && (!docs || !skips)) st = se_error_set(err, SE_ENOMEM, "cannot allocate the index");
    if (!st && !idf) st = se_error_set(err, SE_EIO, "%s: cannot create: %s", idpath, strerror(errno));
    int64_t n = 0, lines = 0, blank = 0, nskip = 0, empty = 0, invalid = 0, nframed = 0;
    uint64_t chash = 0;
    char *line = NULL;
    size_t lcap = 0;
    se_ids ids = {0};
    int64_t fail_line = 0;
    char fail_reason[SE_ERRMSG_MAX] = "";
    /* local line numbers first; shifted by the ranks before us afterwards */
    while (!st && pos < hi) {
        if (se_job_stopping(J)) {
            st = se_error_set(err, SE_EINTERRUPTED, "interrupted by a signal while indexing %s", path);
            break;
        }
        errno = 0;
        ssize_t len = getline(&line, &lcap, f);
        if (len < 0) {
            /* end of file before our range ends: the file shrank, or a read error */
            st = ferror(f) ? se_error_set(err, SE_EIO, "%s: read failed at byte %lld: %s", path, (long long)pos,
                                          strerror(errno ? errno : EIO))
                           : se_error_set(err, SE_EIO, "%s: ends at byte %lld, before its size %lld (changed while "
                                                       "the job read it?)", path, (long long)pos, (long long)size);
            break;
        }
        int64_t off = pos;
        pos += len;
        lines++;
        uint64_t lh[2] = {(uint64_t)off, se_fnv1a64(SE_FNV_INIT, line, (size_t)len)};
        chash += mix64(lh[1] ^ mix64(lh[0]));
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        int only_ws = 1;
        for (ssize_t i = 0; i < len && only_ws; i++) only_ws = line[i] == ' ' || line[i] == '\t';
        if (only_ws) {
            blank++;
            continue;
        }
        if (len > INT32_MAX) {
            st = se_error_set(err, SE_EFORMAT, "%s: line of %lld bytes is too long", path, (long long)len);
            break;
        }
        char where[64];
        snprintf(where, sizeof where, "line %lld", (long long)lines); /* renumbered below */
        se_doc doc;
        memset(&doc, 0, sizeof doc);
        se_error derr;
        se_status ds = se_doc_parse(line, (size_t)len, where, &doc, &derr);
        int parsed = ds == SE_OK;
        size_t n_inv = 0;
        int no_tokenizer = 0;
        if (!ds && doc.text) {
            if (!J->tok) {
                /* not a bad line but a job that cannot read text at all: always fatal */
                no_tokenizer = 1;
                ds = se_error_set(&derr, SE_EINVAL, "%s: document has \"text\" but %s", where, J->tok_msg);
            } else {
                ds = se_corpus_tok_text(J, doc.text, doc.text_len, &ids, &n_inv, &derr);
                /* an added token past the model's embedding table: the
                 * tokenizer does not belong to this model, fatal for the job */
                for (size_t i = 0; !ds && i < ids.n; i++)
                    if (ids.ids[i] < 0 || ids.ids[i] >= J->cfg.vocab_size) {
                        const char *tk = se_tok_id_to_token(J->tok, ids.ids[i]);
                        no_tokenizer = 1;
                        ds = se_error_set(&derr, SE_ESHAPE,
                                          "%s: the tokenizer produced id %d ('%.64s') outside the model's vocabulary "
                                          "(vocab_size %d): tokenizer and model do not match",
                                          where, ids.ids[i], tk ? tk : "?", J->cfg.vocab_size);
                    }
            }
        }
        if (!ds && !doc.text && J->cfg.type_vocab <= 1 && doc.type_ids) {
            for (size_t i = 0; i < doc.n_ids && !ds; i++)
                if (doc.type_ids[i] != 0)
                    ds = se_error_set(&derr, SE_EINVAL, "%s: token_type_ids has %d but the model has no token types",
                                      where, doc.type_ids[i]);
        }
        if (!ds && !doc.text) {
            for (size_t i = 0; i < doc.n_ids && !ds; i++) {
                if (doc.input_ids[i] >= J->cfg.vocab_size)
                    ds = se_error_set(&derr, SE_EINVAL, "%s: input_ids[%zu] = %d is outside the vocabulary (size %d)",
                                      where, i, doc.input_ids[i], J->cfg.vocab_size);
                else if (doc.type_ids && J->cfg.type_vocab > 1 && doc.type_ids[i] >= J->cfg.type_vocab)
                    ds = se_error_set(&derr, SE_EINVAL, "%s: token_type_ids[%zu] = %d is outside type_vocab_size %d",
                                      where, i, doc.type_ids[i], J->cfg.type_vocab);
            }
        }
        if (ds) {
            if (parsed) se_doc_free(&doc);
            /* the message starts with "line N: " -> keep only the reason */
            const char *reason = strstr(derr.msg, ": ");
            reason = reason ? reason + 2 : derr.msg;
            if (o->on_error_fail || no_tokenizer) {
                fail_line = lines;
                snprintf(fail_reason, sizeof fail_reason, "%s", reason);
                st = no_tokenizer ? derr.code : SE_EFORMAT;
                break;
            }
            if (nskip < MAX_SKIP_RECORDS) {
                skips[nskip].line = lines;
                snprintf(skips[nskip].reason, sizeof skips[nskip].reason, "%.247s", reason);
            }
            nskip++;
            continue;
        }
        if ((size_t)n == cap) {
            cap *= 2;
            se_docrec *p = realloc(docs, cap * sizeof *docs);
            if (!p) {
                se_doc_free(&doc);
                st = se_error_set(err, SE_ENOMEM, "cannot grow the index to %zu documents", cap);
                break;
            }
            docs = p;
        }
        int fr = !doc.text && framed(J, &doc);
        int64_t ntok = doc.text ? (int64_t)ids.n : (int64_t)doc.n_ids - 2 * fr;
        docs[n] = (se_docrec){.offset = off, .line = lines, .n_tok = ntok, .len = (int32_t)len,
                              .is_text = doc.text != NULL || fr, .n_invalid = (int32_t)(n_inv + doc.n_invalid_utf8),
                              .src = 0};
        nframed += fr;
        if (ntok == 0) empty++;
        invalid += (int64_t)(n_inv + doc.n_invalid_utf8);
        if (put_id(idf, doc.id) != 0) st = se_error_set(err, SE_EIO, "%s: write failed: %s", idpath, strerror(errno));
        n++;
        se_doc_free(&doc);
    }
    free(line);
    se_ids_free(&ids);
    if (f) fclose(f);
    if (idf && fclose(idf) != 0 && !st) st = se_error_set(err, SE_EIO, "%s: write failed: %s", idpath, strerror(errno));
    /* Global line numbers: an exclusive scan of line counts. Collectives are
     * entered by every rank whatever its status; MPI errors are reported
     * through a scratch error when the rank already failed. */
    se_error merr;
    int64_t before = 0;
    se_status ms = se_dist_exscan_i64(lines, &before, g->world, &merr);
    if (!st && ms) st = ms, *err = merr;
    for (int64_t i = 0; i < n; i++) docs[i].line += before;
    for (int64_t i = 0; i < nskip && i < MAX_SKIP_RECORDS; i++) skips[i].line += before;
    if (fail_line)
        se_error_set(err, st, "%s:%lld: %s%s", path, (long long)(fail_line + before), fail_reason,
                     st == SE_EFORMAT ? " (--on-error fail)" : "");
    st = se_dist_agree(g->world, st, err);
    if (st) {
        free(docs), free(skips);
        return st;
    }
    /* Everyone gets the whole index (40 bytes a document), in file order. The
     * content hash is a sum over lines, so it does not depend on the grid. */
    int64_t loc[8] = {n, lines, blank, nskip, empty, invalid, nframed, (int64_t)chash}, tot[8];
    st = se_dist_allreduce_i64(loc, tot, 8, MPI_SUM, g->world, err);
    if (!st) {
        J->n_docs = tot[0], J->n_lines = tot[1], J->n_blank = tot[2], J->n_skips_total = tot[3];
        J->n_empty = tot[4], J->n_invalid_utf8 = tot[5], J->n_framed = tot[6];
        J->corpus_hash = se_fnv1a64((uint64_t)tot[7], &size, sizeof size);
    }
    void *all = NULL;
    int64_t bytes = 0;
    if (!st) st = se_dist_allgatherv_bytes(docs, n * (int64_t)sizeof *docs, &all, &bytes, g->world, err);
    J->docs = all;
    /* Skip records go to rank 0 for meta.json. */
    void *sk = NULL;
    int64_t kept = nskip < MAX_SKIP_RECORDS ? nskip : MAX_SKIP_RECORDS;
    if (!st) st = se_dist_gatherv_bytes(skips, kept * (int64_t)sizeof *skips, &sk, &bytes, 0, g->world, err);
    J->skips = sk;
    if (!st && r == 0) J->n_skips = bytes / (int64_t)sizeof(se_skip_rec);
    free(docs), free(skips);
    st = se_dist_agree(g->world, st, err);
    /* Nothing to embed is never a silent success. */
    if (!st && J->n_docs == 0) {
        if (J->n_skips_total > 0 && r == 0 && J->n_skips > 0)
            st = se_error_set(err, SE_EFORMAT,
                              "%s: all %lld non-blank lines were skipped (line %lld: %s); a JSON Lines corpus needs "
                              "\"id\" and \"text\" (or \"input_ids\") on every line: if your text sits under another "
                              "key (\"content\", \"body\"...), rename it",
                              path, (long long)J->n_skips_total, (long long)J->skips[0].line, J->skips[0].reason);
        else
            st = se_error_set(err, SE_EFORMAT, "%s: no document (%lld lines, %lld blank)", path,
                              (long long)J->n_lines, (long long)J->n_blank);
        st = se_dist_agree(g->world, r == 0 ? st : SE_OK, err);
    }
    J->t_index = se_time_now() - t0;
    return st;
}

se_status se_corpus_tok_text(const se_job *J, const char *text, size_t len, se_ids *out, size_t *n_inv, se_error *err)
{
    const char *p = J->o->prompt;
    int lower = J->o->head && J->o->head->do_lower_case == 1;
    if ((!p || !*p) && !lower) return se_tok_encode(J->tok, text, len, 0, out, n_inv, err);
    size_t pl = p ? strlen(p) : 0;
    char *buf = malloc(pl + len + 1), *low = NULL;
    if (!buf) return se_error_set(err, SE_ENOMEM, "cannot hold a document of %zu bytes", len);
    if (pl) memcpy(buf, p, pl);
    memcpy(buf + pl, text, len);
    size_t n = pl + len;
    /* Transformer.tokenize: (prompt + text).lower() when do_lower_case */
    se_status st = lower ? se_job_lower(buf, n, &low, &n, err) : SE_OK;
    if (!st) st = se_tok_encode(J->tok, low ? low : buf, n, 0, out, n_inv, err);
    free(buf), free(low);
    return st;
}

se_status se_corpus_load_doc(const se_job *J, se_doc_cache *c, int64_t d, se_error *err)
{
    if (c->doc == d) return SE_OK;
    const se_docrec *r = &J->docs[d];
    const se_source *s = &J->src[r->src];
    if ((size_t)r->len + 1 > c->line_cap) {
        char *p = realloc(c->line, (size_t)r->len + 1);
        if (!p) return se_error_set(err, SE_ENOMEM, "cannot hold a line of %d bytes", r->len);
        c->line = p, c->line_cap = (size_t)r->len + 1;
    }
    se_status st = se_pread_full(s->fd, c->line, (size_t)r->len, r->offset, s->path, err);
    if (st) return st;
    char where[4200];
    snprintf(where, sizeof where, "%s:%lld", s->path, (long long)r->line);
    se_doc doc;
    if ((st = se_doc_parse(c->line, (size_t)r->len, where, &doc, err))) return st;
    const int32_t *src_ids = NULL;
    size_t n_src = 0;
    if (doc.text) {
        st = se_corpus_tok_text(J, doc.text, doc.text_len, &c->ids, NULL, err);
        src_ids = NULL;
        n_src = c->ids.n;
    } else {
        /* a framed document keeps only its content here (frame per window) */
        size_t skip = r->is_text ? 1 : 0;
        src_ids = doc.input_ids + skip;
        n_src = doc.n_ids >= 2 * skip ? doc.n_ids - 2 * skip : 0;
    }
    if (!st && (int64_t)n_src != r->n_tok)
        st = se_error_set(err, SE_EIO, "%s: document changed since the job indexed it", where);
    if (!st && src_ids && n_src > c->ids.cap) {
        int32_t *p = realloc(c->ids.ids, n_src * sizeof *p);
        if (!p) st = se_error_set(err, SE_ENOMEM, "cannot hold %zu token ids", n_src);
        else c->ids.ids = p, c->ids.cap = n_src;
    }
    if (!st && src_ids) {
        if (n_src) memcpy(c->ids.ids, src_ids, n_src * sizeof(int32_t));
        c->ids.n = n_src;
    }
    if (!st) {
        size_t need = c->ids.n + 2;
        if (need > c->types_cap) {
            int32_t *p = realloc(c->types, need * sizeof *p);
            if (!p) st = se_error_set(err, SE_ENOMEM, "cannot hold %zu token type ids", need);
            else c->types = p, c->types_cap = need;
        }
        if (!st) {
            memset(c->types, 0, c->types_cap * sizeof *c->types);
            if (doc.type_ids && !r->is_text) memcpy(c->types, doc.type_ids, doc.n_ids * sizeof(int32_t));
        }
    }
    se_doc_free(&doc);
    c->doc = st ? -1 : d;
    return st;
}

void se_doc_cache_free(se_doc_cache *c)
{
    se_ids_free(&c->ids);
    free(c->types), free(c->line);
}
