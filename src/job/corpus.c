/* The corpus index: each rank parses the lines of its units (plan_units: a
 * contiguous share of the inputs laid end to end), tokenises text, spills
 * one se_docrec per document to PREFIX.docs.part<r>, writes its ids to
 * PREFIX.ids.part<r>, counts its windows by length and hashes every line's
 * content. Nothing per document stays in memory and nothing per document is
 * exchanged: the ranks share only counts (line counts per unit, the window
 * histograms, exscans of documents, windows and tokens), so memory per rank
 * does not grow with the corpus and the plan (plan.c) and the outputs are
 * the same for any number of ranks.
 *
 * A compressed line cannot be read again by offset, and the encode pass
 * re-reads documents on whichever rank draws their batch: so the owner keeps
 * each compressed document's decompressed line in PREFIX.lines.part<r> (on
 * the output's file system, which every rank sees) and its docrec points
 * there. That costs disk equal to the decompressed documents, once; the
 * alternatives (tokens in memory, or decompressing per batch) cost memory per
 * rank or make batches depend on file order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
size_t se_job_escape_id(char *out, const char *id)
{
    size_t k = 0;
    for (const char *c = id; *c; c++) {
        if (*c == '\\') out[k++] = '\\', out[k++] = '\\';
        else if (*c == '\n') out[k++] = '\\', out[k++] = 'n';
        else if (*c == '\r') out[k++] = '\\', out[k++] = 'r';
        else out[k++] = *c;
    }
    out[k++] = '\n';
    return k;
}

int se_job_put_id(FILE *f, const char *id)
{
    size_t n = 2 * strlen(id) + 2;
    char small[512], *b = n <= sizeof small ? small : malloc(n);
    if (!b) return -1;
    size_t k = se_job_escape_id(b, id);
    int rc = fwrite(b, 1, k, f) == k ? 0 : -1;
    if (b != small) free(b);
    return rc;
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

/* One line into a document (JSON Lines or TSV, with the job's field mapping). */
static se_status parse_line(const se_job *J, const se_source *s, const char *line, size_t len, const char *where,
                            se_doc *doc, se_error *err)
{
    return s->tsv ? se_doc_parse_tsv(line, len, where, &J->fields, doc, err)
                  : se_doc_parse_fields(line, len, where, &J->fields, doc, err);
}

/* The units of the index pass, the same on every rank: the inputs laid end
 * to end are cut into P equal byte ranges, rank r takes range r. A plain
 * file is cut where a range ends (a line belongs to the range that holds
 * its first byte); a compressed file cannot be entered in the middle and
 * goes whole to the rank whose range holds its middle byte. Either way a
 * rank's units are contiguous in input order, so the ranks' documents
 * concatenate in rank order: no exchange of the index is needed to know a
 * document's global position, only the earlier ranks' counts (exscan). */
/* floor(total * r / P) without overflow: total = qP + m */
static int64_t range_cut(int64_t total, int r, int P)
{
    return total / P * r + total % P * r / P;
}

/* The rank whose range of the concatenation holds byte `b`. */
static int range_of(int64_t total, int P, int64_t b)
{
    int r = 0;
    while (r + 1 < P && range_cut(total, r + 1, P) <= b) r++;
    return r;
}

static se_status plan_units(se_job *J, se_error *err)
{
    int P = J->g->world_size;
    int64_t total = 0;
    for (int i = 0; i < J->n_src; i++) total += J->src[i].size;
    J->units = calloc((size_t)J->n_src + (size_t)P, sizeof *J->units); /* at most one cut per range end */
    if (!J->units) return se_error_set(err, SE_ENOMEM, "cannot plan the index pass over %d files", J->n_src);
    J->n_units = 0;
    int64_t at = 0; /* where file i starts in the concatenation */
    for (int i = 0; i < J->n_src; i++) {
        se_source *s = &J->src[i];
        if (s->comp != SE_COMP_NONE) {
            /* Frames are where a zstd stream can be entered: a file larger
             * than half a rank's share is cut at frame boundaries, each frame
             * to the rank whose range holds its middle byte (consecutive
             * frames of one rank are one unit); any other compressed file
             * goes whole to the rank of its middle byte. */
            int64_t *fr = NULL;
            int nf = 1;
            if (P > 1 && s->comp == SE_COMP_ZSTD && s->size > total / (2 * P)) {
                se_status st = se_source_frames(s, &fr, &nf, err);
                if (st) return st;
            }
            for (int f = 0; f < nf; f++) {
                int64_t lo = fr ? fr[f] : 0, hi = fr && f + 1 < nf ? fr[f + 1] : s->size;
                int r = range_of(total, P, at + lo + (hi - lo) / 2);
                se_unit *last = J->n_units > 0 ? &J->units[J->n_units - 1] : NULL;
                if (f > 0 && last->owner == r) last->hi = hi;
                else J->units[J->n_units++] = (se_unit){.src = i, .owner = r, .lo = lo, .hi = hi};
            }
            free(fr);
        } else {
            /* range r is [total*r/P, total*(r+1)/P) of the concatenation */
            for (int r = 0; r < P; r++) {
                int64_t lo = range_cut(total, r, P), hi = range_cut(total, r + 1, P);
                lo = lo > at ? lo - at : 0, hi = hi < at + s->size ? hi - at : s->size;
                if (hi > lo) /* an empty file has no unit */
                    J->units[J->n_units++] = (se_unit){.src = i, .owner = r, .lo = lo, .hi = hi};
            }
        }
        at += s->size;
    }
    return SE_OK;
}

static int64_t unit_bytes(const se_job *J, int u)
{
    return J->units[u].hi - J->units[u].lo;
}

/* What one rank gathers over its units. */
typedef struct {
    int64_t n;                /* documents, spilled to docf */
    se_skip_rec *skips;
    int64_t nskip, lines, blank, empty, invalid, nframed, bytes;
    uint64_t chash;
    FILE *idf, *spill, *docf;
    char idpath[4200], spillpath[4200];
    int64_t spill_off;
    se_ids ids;
    int64_t *hist, n_len;     /* this rank's windows by length */
    int64_t nwin, ntok;       /* this rank's windows and their tokens */
    int64_t my_bytes;         /* bytes of this rank's units (compressed sizes) */
    double t0, t_last;        /* progress */
    int fail_unit;
    int64_t fail_line;
    char fail_reason[SE_ERRMSG_MAX];
} index_ctx;

/* Counts a document's windows into this rank's length histogram. */
static se_status count_windows(const se_job *J, index_ctx *c, const se_docrec *d, se_error *err)
{
    int64_t nw = se_plan_doc_nwin(d->n_tok, d->is_text, J->win_len, J->stride), start;
    for (int64_t k = 0; k < nw; k++) {
        int32_t len = se_plan_doc_win(d->n_tok, d->is_text, J->win_len, J->stride, k, &start);
        if (len >= c->n_len) {
            int64_t n = c->n_len ? c->n_len : 64;
            while (n <= len) n *= 2;
            int64_t *p = realloc(c->hist, (size_t)n * sizeof *p);
            if (!p) return se_error_set(err, SE_ENOMEM, "cannot count windows of %d tokens", len);
            for (int64_t i = c->n_len; i < n; i++) p[i] = 0;
            c->hist = p, c->n_len = n;
        }
        c->hist[len]++;
        c->ntok += len;
        /* a window's later copies have the same length: count them at once */
        if (k + 1 < nw - 1) {
            int64_t same = nw - 1 - (k + 1);
            c->hist[len] += same, c->ntok += same * len, k += same;
        }
    }
    c->nwin += nw;
    return SE_OK;
}

/* One line of unit u (local line number ln): a document, a blank, or a skip. */
static se_status index_line(se_job *J, index_ctx *c, int u, int64_t ln, char *line, size_t len, int64_t off,
                            uint64_t key, se_error *err)
{
    const se_embed_opts *o = J->o;
    const se_unit *un = &J->units[u];
    const se_source *s = &J->src[un->src];
    /* content hash: the file, the line's place (se_reader_line_key) and bytes */
    uint64_t lh[2] = {key ^ ((uint64_t)un->src << 44), se_fnv1a64(SE_FNV_INIT, line, len)};
    c->chash += mix64(lh[1] ^ mix64(lh[0]));
    if (len > 0 && line[len - 1] == '\n') len--;
    if (len > 0 && line[len - 1] == '\r') len--;
    int only_ws = 1;
    for (size_t i = 0; i < len && only_ws; i++) only_ws = line[i] == ' ' || line[i] == '\t';
    if (only_ws) {
        c->blank++;
        return SE_OK;
    }
    if (len > INT32_MAX) return se_error_set(err, SE_EFORMAT, "%s: line of %zu bytes is too long", s->path, len);
    char where[64];
    snprintf(where, sizeof where, "line %lld", (long long)ln); /* renumbered below */
    se_doc doc;
    memset(&doc, 0, sizeof doc);
    se_error derr;
    se_status ds = parse_line(J, s, line, len, where, &doc, &derr);
    int parsed = ds == SE_OK;
    size_t n_inv = 0;
    int no_tokenizer = 0;
    if (!ds && doc.text) {
        if (!J->tok) {
            /* not a bad line but a job that cannot read text at all: always fatal */
            no_tokenizer = 1;
            ds = se_error_set(&derr, SE_EINVAL, "%s: document has text but %s", where, J->tok_msg);
        } else {
            ds = se_corpus_tok_text(J, doc.text, doc.text_len, &c->ids, &n_inv, &derr);
            /* an added token past the model's embedding table: the
             * tokenizer does not belong to this model, fatal for the job */
            for (size_t i = 0; !ds && i < c->ids.n; i++)
                if (c->ids.ids[i] < 0 || c->ids.ids[i] >= J->cfg.vocab_size) {
                    const char *tk = se_tok_id_to_token(J->tok, c->ids.ids[i]);
                    no_tokenizer = 1;
                    ds = se_error_set(&derr, SE_ESHAPE,
                                      "%s: the tokenizer produced id %d ('%.64s') outside the model's vocabulary "
                                      "(vocab_size %d): tokenizer and model do not match",
                                      where, c->ids.ids[i], tk ? tk : "?", J->cfg.vocab_size);
                }
        }
    }
    if (!ds && !doc.text && J->cfg.type_vocab <= 1 && doc.type_ids) {
        for (size_t i = 0; i < doc.n_ids && !ds; i++)
            if (doc.type_ids[i] != 0)
                ds = se_error_set(&derr, SE_EINVAL, "%s: token_type_ids has %d but the model has no token types", where,
                                  doc.type_ids[i]);
    }
    if (!ds && !doc.text) {
        for (size_t i = 0; i < doc.n_ids && !ds; i++) {
            if (doc.input_ids[i] >= J->cfg.vocab_size)
                ds = se_error_set(&derr, SE_EINVAL, "%s: input_ids[%zu] = %d is outside the vocabulary (size %d)",
                                  where, i, doc.input_ids[i], J->cfg.vocab_size);
            else if (doc.type_ids && J->cfg.type_vocab > 1 && doc.type_ids[i] >= J->cfg.type_vocab)
                ds = se_error_set(&derr, SE_EINVAL, "%s: token_type_ids[%zu] = %d is outside type_vocab_size %d", where,
                                  i, doc.type_ids[i], J->cfg.type_vocab);
        }
    }
    if (ds) {
        if (parsed) se_doc_free(&doc);
        /* the message starts with "line N: " -> keep only the reason */
        const char *reason = strstr(derr.msg, ": ");
        reason = reason ? reason + 2 : derr.msg;
        if (o->on_error_fail || no_tokenizer) {
            c->fail_unit = u, c->fail_line = ln;
            snprintf(c->fail_reason, sizeof c->fail_reason, "%s", reason);
            return no_tokenizer ? derr.code : SE_EFORMAT;
        }
        if (c->nskip < MAX_SKIP_RECORDS) {
            se_skip_rec *k = &c->skips[c->nskip];
            k->line = ln, k->src = un->src, k->unit = u;
            snprintf(k->reason, sizeof k->reason, "%.239s", reason);
        }
        c->nskip++;
        return SE_OK;
    }
    se_status st = SE_OK;
    int64_t at = off;
    if (s->comp != SE_COMP_NONE) {
        /* a compressed line cannot be read again by offset: keep its bytes */
        at = c->spill_off;
        if (fwrite(line, 1, len, c->spill) != len)
            st = se_error_set(err, SE_EIO, "%s: write failed: %s", c->spillpath, strerror(errno));
        c->spill_off += (int64_t)len;
    }
    if (!st) {
        int fr = !doc.text && framed(J, &doc);
        int64_t ntok = doc.text ? (int64_t)c->ids.n : (int64_t)doc.n_ids - 2 * fr;
        se_docrec rec = {.offset = at, .line = ln, .n_tok = ntok, .len = (int32_t)len,
                         .is_text = doc.text != NULL || fr, .unit = u, .src = un->src};
        if (fwrite(&rec, sizeof rec, 1, c->docf) != 1)
            st = se_error_set(err, SE_EIO, "%s: write failed: %s", J->docs_path, strerror(errno));
        if (!st) st = count_windows(J, c, &rec, err);
        c->n++;
        c->nframed += fr;
        if (ntok == 0) c->empty++;
        c->invalid += (int64_t)(n_inv + doc.n_invalid_utf8);
        /* no id: "\L<line>" (impossible for an escaped id), FILE:LINE once the line is global (output.c) */
        int w = doc.id ? se_job_put_id(c->idf, doc.id) : fprintf(c->idf, "\\L%lld\n", (long long)ln) < 0;
        if (!st && w != 0) st = se_error_set(err, SE_EIO, "%s: write failed: %s", c->idpath, strerror(errno));
    }
    se_doc_free(&doc);
    return st;
}

/* Rank 0's share of the index pass, every progress_every seconds: the
 * ranks' shares are balanced, so it stands for the whole. */
static void index_progress(const se_job *J, index_ctx *c, int64_t in_unit)
{
    double now = se_time_now();
    if (J->g->world_rank != 0 || J->o->quiet || now - c->t_last < J->o->progress_every)
        return;
    c->t_last = now;
    double done = (double)(c->bytes + in_unit), rate = done / (now - c->t0 > 0 ? now - c->t0 : 1e-9);
    fprintf(stderr, "shardenc embed: indexing: rank 0 read %.1f of its %.1f MB (%.1f MB/s), %lld documents so far, ETA %.0fs\n",
            done / 1e6, (double)c->my_bytes / 1e6, rate / 1e6, (long long)c->n,
            rate > 0 ? ((double)c->my_bytes - done) / rate : 0.0);
}

/* The lines of unit u that belong to this rank. Plain: a line belongs to
 * the range that holds its first byte. Compressed units of one file begin
 * and end at frame boundaries and cannot look back across them, so there a
 * line belongs to the unit that holds the byte before it (the '\n' ending
 * the previous line; the first line to the first unit): a unit after the
 * first drops everything through its first '\n', and every unit reads on
 * past its end through the first '\n' it finds there. */
static se_status index_unit(se_job *J, index_ctx *c, int u, se_error *err)
{
    const se_unit *un = &J->units[u];
    const se_source *s = &J->src[un->src];
    int plain = s->comp == SE_COMP_NONE;
    if (plain && un->lo == un->hi) return SE_OK;
    se_reader *rd = NULL;
    int64_t start = plain && un->lo > 0 ? un->lo - 1 : un->lo;
    se_status st = se_reader_open(s, start, un->hi, &rd, err);
    char *line;
    size_t len;
    int64_t off = plain ? start : 0, ln = 0, stop_d = 0;
    if (!st && un->lo > 0) { /* the tail of the previous unit's last line (perhaps past our end) */
        st = se_reader_next(rd, &line, &len, &off, err);
        if (!st && line) off += (int64_t)len;
    }
    while (!st) {
        if (se_job_stopping(J)) {
            st = se_error_set(err, SE_EINTERRUPTED, "interrupted by a signal while indexing %s", s->path);
            break;
        }
        int64_t next = off;
        if (plain && next >= un->hi) break;
        /* the byte before `next` lies past the unit's last frame */
        if (!plain && un->hi < s->size && se_reader_stop(rd, &stop_d) && next > stop_d) break;
        if ((st = se_reader_next(rd, &line, &len, &off, err))) break;
        if (!line) {
            if (plain && off < un->hi)
                st = se_error_set(err, SE_EIO, "%s: ends at byte %lld, before its size %lld (changed while the job "
                                               "read it?)", s->path, (long long)off, (long long)s->size);
            break;
        }
        ln++;
        st = index_line(J, c, u, ln, line, len, off, se_reader_line_key(rd), err);
        off += (int64_t)len;
        if ((ln & 4095) == 0) index_progress(J, c, se_reader_in_pos(rd) - un->lo);
    }
    c->lines += ln;
    J->units[u].lines = ln;
    se_reader_close(rd);
    return st;
}

/* Opens a file of this rank's for writing, naming it when it cannot. */
static se_status create(FILE **f, const char *path, se_error *err)
{
    if (!(*f = fopen(path, "wb"))) return se_error_set(err, SE_EIO, "%s: cannot create: %s", path, strerror(errno));
    return SE_OK;
}

static se_status close_out(FILE **f, const char *path, se_status st, se_error *err)
{
    if (*f && fclose(*f) != 0 && !st) st = se_error_set(err, SE_EIO, "%s: write failed: %s", path, strerror(errno));
    *f = NULL;
    return st;
}

/* Skip records go to rank 0 for meta.json: the first MAX_SKIP_RECORDS of
 * the whole input (ranks hold consecutive parts of it), so rank 0 receives
 * at most that many whatever the number of ranks. */
static se_status gather_skips(se_job *J, index_ctx *c, se_error *err)
{
    int64_t kept = c->nskip < MAX_SKIP_RECORDS ? c->nskip : MAX_SKIP_RECORDS, before = 0, bytes = 0;
    se_status st = se_dist_exscan_i64(&kept, &before, 1, J->g->world, err);
    int64_t send = before >= MAX_SKIP_RECORDS ? 0 : kept < MAX_SKIP_RECORDS - before ? kept : MAX_SKIP_RECORDS - before;
    void *sk = NULL;
    if (!st) st = se_dist_gatherv_bytes(c->skips, send * (int64_t)sizeof *c->skips, &sk, &bytes, 0, J->g->world, err);
    J->skips = sk;
    if (!st && J->g->world_rank == 0) J->n_skips = bytes / (int64_t)sizeof(se_skip_rec);
    return st;
}

/* The window histograms: every rank's to all (the plan), and the earlier
 * ranks' (where this rank's windows of each length start in the sorted
 * order); with this rank's share of documents, windows and tokens. */
static se_status merge_counts(se_job *J, index_ctx *c, se_error *err)
{
    const se_grid *g = J->g;
    int64_t n_len = 0;
    se_status st = se_dist_allreduce_i64(&c->n_len, &n_len, 1, MPI_MAX, g->world, err);
    if (st) return st;
    int64_t *mine = calloc((size_t)n_len + 4, sizeof *mine), *before = calloc((size_t)n_len + 4, sizeof *before);
    J->hist = calloc((size_t)n_len + 1, sizeof *J->hist);
    se_error merr;
    se_status as = !mine || !before || !J->hist ? se_error_set(&merr, SE_ENOMEM, "cannot allocate the window histogram") : SE_OK;
    if ((st = se_dist_agree(g->world, as, err))) {
        free(mine), free(before);
        return st;
    }
    mine[0] = c->n, mine[1] = c->nwin, mine[2] = c->ntok;
    for (int64_t L = 0; L < c->n_len; L++) mine[3 + L] = c->hist[L];
    st = se_dist_allreduce_i64(mine + 3, J->hist, (int)n_len, MPI_SUM, g->world, err);
    if (!st) st = se_dist_exscan_i64(mine, before, (int)n_len + 3, g->world, err);
    if (!st) {
        J->my_docs = c->n, J->my_win = c->nwin;
        J->doc_base = before[0], J->win_base = before[1], J->tok_base = before[2];
        J->n_len = n_len;
        while (J->n_len > 0 && J->hist[J->n_len - 1] == 0) J->n_len--; /* longest window + 1 */
        J->hist_before = before;
        memmove(before, before + 3, (size_t)n_len * sizeof *before);
        before = NULL;
    }
    free(mine), free(before);
    return st;
}

se_status se_corpus_index(se_job *J, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    int r = g->world_rank;
    double t0 = se_time_now();
    index_ctx c = {.fail_unit = -1, .t0 = t0, .t_last = t0};
    se_status st = plan_units(J, err);
    for (int u = 0; !st && u < J->n_units; u++)
        if (J->units[u].owner == r) c.my_bytes += unit_bytes(J, u);
    c.skips = calloc(MAX_SKIP_RECORDS, sizeof *c.skips);
    if (!st && !c.skips) st = se_error_set(err, SE_ENOMEM, "cannot allocate the index");
    snprintf(c.idpath, sizeof c.idpath, "%s.ids.part%d", o->output, r);
    snprintf(c.spillpath, sizeof c.spillpath, "%s.lines.part%d", o->output, r);
    snprintf(J->docs_path, sizeof J->docs_path, "%s.docs.part%d", o->output, r);
    if (!st) st = create(&c.idf, c.idpath, err);
    if (!st) st = create(&c.spill, c.spillpath, err);
    if (!st) st = create(&c.docf, J->docs_path, err);
    for (int u = 0; !st && u < J->n_units; u++) {
        if (J->units[u].owner != r) continue;
        long before = ftell(c.idf);
        st = index_unit(J, &c, u, err);
        c.bytes += unit_bytes(J, u);
        J->units[u].id_bytes = ftell(c.idf) - before;
    }
    se_ids_free(&c.ids);
    st = close_out(&c.idf, c.idpath, st, err);
    st = close_out(&c.spill, c.spillpath, st, err);
    st = close_out(&c.docf, J->docs_path, st, err);
    /* Global line numbers: every unit's line count to every rank, then each
     * unit's base is the lines of its source's earlier units. Collectives are
     * entered by every rank whatever its status; MPI errors are reported
     * through a scratch error when the rank already failed. */
    int64_t nu = J->n_units;
    int64_t *cnt = calloc((size_t)nu + 1, sizeof *cnt), *sum = calloc((size_t)nu + 1, sizeof *sum);
    se_error merr;
    se_status as = !cnt || !sum || !J->units ? se_error_set(&merr, SE_ENOMEM, "cannot allocate the index") : SE_OK;
    as = se_dist_agree(g->world, as, &merr);
    if (!as) {
        for (int64_t u = 0; u < nu; u++)
            if (J->units[u].owner == r) cnt[u] = J->units[u].lines;
        as = se_dist_allreduce_i64(cnt, sum, (int)nu, MPI_SUM, g->world, &merr);
    }
    if (!st && as) st = as, *err = merr;
    for (int64_t u = 0; !as && u < nu; u++) {
        se_unit *un = &J->units[u];
        un->lines = sum[u];
        un->line_base = u > 0 && J->units[u - 1].src == un->src ? J->units[u - 1].line_base + J->units[u - 1].lines : 0;
    }
    free(cnt), free(sum);
    if (!st)
        for (int64_t k = 0; k < c.nskip && k < MAX_SKIP_RECORDS; k++) c.skips[k].line += J->units[c.skips[k].unit].line_base;
    if (c.fail_unit >= 0 && !as)
        se_error_set(err, st, "%s:%lld: %s%s", J->src[J->units[c.fail_unit].src].path,
                     (long long)(c.fail_line + J->units[c.fail_unit].line_base), c.fail_reason,
                     st == SE_EFORMAT ? " (--on-error fail)" : "");
    st = se_dist_agree(g->world, st, err);
    /* The totals; the content hash is a sum over lines, so it does not depend on the grid. */
    int64_t loc[9] = {c.n, c.lines, c.blank, c.nskip, c.empty, c.invalid, c.nframed, (int64_t)c.chash, c.bytes}, tot[9];
    if (!st) st = se_dist_allreduce_i64(loc, tot, 9, MPI_SUM, g->world, err);
    if (!st) {
        J->n_docs = tot[0], J->n_lines = tot[1], J->n_blank = tot[2], J->n_skips_total = tot[3];
        J->n_empty = tot[4], J->n_invalid_utf8 = tot[5], J->n_framed = tot[6], J->in_bytes = tot[8];
        /* and every input by name and size: a renamed or reordered shard is another corpus */
        uint64_t h = (uint64_t)tot[7];
        for (int i = 0; i < J->n_src; i++) {
            h = se_fnv1a64(h, J->src[i].path, strlen(J->src[i].path) + 1);
            h = se_fnv1a64(h, &J->src[i].size, sizeof J->src[i].size);
        }
        J->corpus_hash = h;
        int64_t nw[2] = {c.nwin, c.ntok}, tw[2];
        st = se_dist_allreduce_i64(nw, tw, 2, MPI_SUM, g->world, err);
        J->n_win = tw[0], J->n_tokens_total = tw[1];
    }
    if (!st) st = merge_counts(J, &c, err);
    if (!st) st = gather_skips(J, &c, err);
    free(c.skips), free(c.hist);
    st = se_dist_agree(g->world, st, err);
    /* Nothing to embed is never a silent success. */
    if (!st && J->n_docs == 0) {
        const char *first = J->n_src == 1 ? J->src[0].path : "the inputs";
        if (J->n_skips_total > 0 && r == 0 && J->n_skips > 0)
            st = se_error_set(err, SE_EFORMAT,
                              "%s: all %lld non-blank lines were skipped (%s:%lld: %s); a document needs its text "
                              "(or \"input_ids\") on every line: if your text sits under another key (\"content\", "
                              "\"body\"...), say so with --text-field",
                              first, (long long)J->n_skips_total, J->src[J->skips[0].src].path,
                              (long long)J->skips[0].line, J->skips[0].reason);
        else
            st = se_error_set(err, SE_EFORMAT, "%s: no document (%lld lines, %lld blank)", first,
                              (long long)J->n_lines, (long long)J->n_blank);
        st = se_dist_agree(g->world, r == 0 ? st : SE_OK, err);
    }
    J->t_index = se_time_now() - t0;
    return st;
}

se_status se_corpus_docs_open(const se_job *J, FILE **f, se_error *err)
{
    if (!(*f = fopen(J->docs_path, "rb"))) return se_error_set(err, SE_EIO, "%s: cannot open: %s", J->docs_path, strerror(errno));
    return SE_OK;
}

int se_corpus_docs_next(const se_job *J, FILE *f, se_docrec *d, se_error *err)
{
    if (fread(d, sizeof *d, 1, f) == 1) {
        d->line += J->units[d->unit].line_base;
        return 1;
    }
    if (ferror(f)) {
        se_error_set(err, SE_EIO, "%s: read failed: %s", J->docs_path, strerror(errno));
        return -1;
    }
    return 0;
}

se_status se_corpus_open_spills(se_job *J, se_error *err)
{
    int P = J->g->world_size, any = 0;
    se_status st = SE_OK;
    for (int i = 0; i < J->n_src; i++) any |= J->src[i].comp != SE_COMP_NONE;
    J->spill_fd = malloc((size_t)P * sizeof *J->spill_fd);
    if (!J->spill_fd) st = se_error_set(err, SE_ENOMEM, "cannot allocate");
    for (int r = 0; J->spill_fd && r < P; r++) J->spill_fd[r] = -1;
    for (int r = 0; !st && any && r < P; r++) {
        char p[4200];
        snprintf(p, sizeof p, "%s.lines.part%d", J->o->output, r);
        if ((J->spill_fd[r] = open(p, O_RDONLY)) < 0) st = se_error_set(err, SE_EIO, "%s: cannot open: %s", p, strerror(errno));
    }
    return se_dist_agree(J->g->world, st, err);
}

void se_corpus_close(se_job *J)
{
    for (int r = 0; J->spill_fd && r < J->g->world_size; r++)
        if (J->spill_fd[r] >= 0) close(J->spill_fd[r]);
    free(J->spill_fd), J->spill_fd = NULL;
    char p[4200];
    snprintf(p, sizeof p, "%s.lines.part%d", J->o->output, J->g->world_rank);
    unlink(p);
    snprintf(p, sizeof p, "%s.ids.part%d", J->o->output, J->g->world_rank);
    unlink(p);
    if (J->docs_path[0]) unlink(J->docs_path);
    if (J->plan_fd >= 0) close(J->plan_fd);
    J->plan_fd = -1;
    if (J->g->world_rank == 0 && J->plan_path[0]) unlink(J->plan_path);
    free(J->units), J->units = NULL;
    free(J->hist_before), J->hist_before = NULL;
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

se_status se_corpus_load_doc(const se_job *J, se_doc_cache *c, const se_planrec *r, se_error *err)
{
    if (c->src == r->src && c->offset == r->offset) return SE_OK;
    const se_source *s = &J->src[r->src];
    int fd = r->spill < 0 ? s->fd : J->spill_fd[r->spill];
    if ((size_t)r->bytes + 1 > c->line_cap) {
        char *p = realloc(c->line, (size_t)r->bytes + 1);
        if (!p) return se_error_set(err, SE_ENOMEM, "cannot hold a line of %d bytes", r->bytes);
        c->line = p, c->line_cap = (size_t)r->bytes + 1;
    }
    se_status st = se_pread_full(fd, c->line, (size_t)r->bytes, r->offset, s->path, err);
    if (st) return st;
    char where[4200];
    snprintf(where, sizeof where, "%s:%lld", s->path, (long long)r->line);
    se_doc doc;
    int is_text = (r->flags & SE_WIN_TEXT) != 0;
    if ((st = parse_line(J, s, c->line, (size_t)r->bytes, where, &doc, err))) return st;
    const int32_t *src_ids = NULL;
    size_t n_src = 0;
    if (doc.text) {
        st = se_corpus_tok_text(J, doc.text, doc.text_len, &c->ids, NULL, err);
        src_ids = NULL;
        n_src = c->ids.n;
    } else {
        /* a framed document keeps only its content here (frame per window) */
        size_t skip = is_text ? 1 : 0;
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
            if (doc.type_ids && !is_text) memcpy(c->types, doc.type_ids, doc.n_ids * sizeof(int32_t));
        }
    }
    se_doc_free(&doc);
    c->src = st ? -1 : r->src, c->offset = r->offset;
    return st;
}

void se_doc_cache_free(se_doc_cache *c)
{
    se_ids_free(&c->ids);
    free(c->types), free(c->line);
}

double se_corpus_mb_per_s(const se_job *J)
{
    return J->t_index > 0 ? (double)J->in_bytes / 1e6 / J->t_index / J->g->world_size : 0.0;
}
