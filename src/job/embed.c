/* The embed job: index the corpus in parallel, plan windows and length-sorted
 * packed batches, hand batches to data-parallel groups through a shared
 * fetch-and-add counter, write rows in place at their offsets, journal every
 * finished batch for --resume, and rename outputs into place only when whole.
 *
 * Files under PREFIX while the job runs (all removed or renamed at the end):
 *   PREFIX.journal          fingerprint + one record per finished batch
 *   PREFIX.windows.tmp      float32 [n_windows, d] pooled windows (pooled modes)
 *   PREFIX.tokens.npy.tmp   the final token-state file, filled in place (none)
 *   PREFIX.npy.tmp, PREFIX.ids.txt.tmp, PREFIX.ids.part<r>, PREFIX.meta.json.tmp */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job/embed_internal.h"
#include "shardenc/kernels.h"

#define JOURNAL_MAGIC 0x53454a31u /* "SEJ1" */
#define MAX_SKIP_RECORDS 1000      /* per rank, with reasons; all are counted */

/* ---------------------------------------------------------------- signals */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---------------------------------------------------------------- small I/O helpers */

static se_status pwrite_all(int fd, const void *buf, size_t n, int64_t off, const char *path, se_error *err)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return se_error_set(err, SE_EIO, "%s: write failed: %s", path, strerror(errno));
        p += k, n -= (size_t)k, off += k;
    }
    return SE_OK;
}

static se_status pread_all(int fd, void *buf, size_t n, int64_t off, const char *path, se_error *err)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0)
            return se_error_set(err, SE_EIO, "%s: read at offset %lld failed: %s", path, (long long)off,
                                k == 0 ? "file is shorter than expected (changed during the job?)" : strerror(errno));
        p += k, n -= (size_t)k, off += k;
    }
    return SE_OK;
}

static void path_of(char *buf, size_t cap, const char *prefix, const char *suffix)
{
    snprintf(buf, cap, "%s%s", prefix, suffix);
}

/* ---------------------------------------------------------------- the job state */

typedef struct {
    int64_t line;
    char reason[248];
} skip_rec;

typedef struct {
    const se_embed_opts *o;
    const se_grid *g;
    se_model_config cfg;
    se_model *model;
    se_tokenizer *tok;
    char tok_msg[SE_ERRMSG_MAX]; /* why no tokenizer, if none */
    int d;
    int64_t win_len, stride, batch_tokens;
    /* index */
    se_docrec *docs;
    int64_t n_docs, n_lines, n_blank, n_empty, n_invalid_utf8;
    skip_rec *skips; /* rank 0: all gathered (capped) */
    int64_t n_skips, n_skips_total;
    /* plan */
    se_window *win;
    int64_t n_win, n_tokens_total;
    int64_t *order;
    se_batch *batches;
    int64_t n_batches;
    unsigned char *done;
    int64_t n_done_before;
    /* files */
    int in_fd, store_fd, journal_fd;
    int64_t store_hdr; /* npy header bytes of the store (pooling none) */
    char store_path[4200], journal_path[4200];
    uint64_t fingerprint;
    /* timings */
    double t_index, t_encode, t_assemble, busy;
    int64_t my_tokens, my_batches;
} job;

/* ---------------------------------------------------------------- tokens of a window */

typedef struct {
    int64_t doc;
    se_ids ids;
    int32_t *types;
    size_t types_cap;
    char *line;
    size_t line_cap;
} doc_cache;

/* Reads and tokenises document `d` again (pread of its line), cached for its
 * next windows, which sit next to it in the length-sorted order. */
static se_status load_doc(job *J, doc_cache *c, int64_t d, se_error *err)
{
    if (c->doc == d) return SE_OK;
    const se_docrec *r = &J->docs[d];
    if ((size_t)r->len + 1 > c->line_cap) {
        char *p = realloc(c->line, (size_t)r->len + 1);
        if (!p) return se_error_set(err, SE_ENOMEM, "cannot hold a line of %d bytes", r->len);
        c->line = p, c->line_cap = (size_t)r->len + 1;
    }
    se_status st = pread_all(J->in_fd, c->line, (size_t)r->len, r->offset, J->o->input, err);
    if (st) return st;
    char where[4200];
    snprintf(where, sizeof where, "%s:%lld", J->o->input, (long long)r->line);
    se_doc doc;
    if ((st = se_doc_parse(c->line, (size_t)r->len, where, &doc, err))) return st;
    if (doc.text) {
        st = se_tok_encode(J->tok, doc.text, doc.text_len, 0, &c->ids, NULL, err);
        if (!st && (int64_t)c->ids.n != r->n_tok)
            st = se_error_set(err, SE_EIO, "%s: document changed since the job indexed it", where);
        if (!st && c->types_cap) memset(c->types, 0, c->types_cap * sizeof *c->types);
    } else {
        if ((int64_t)doc.n_ids != r->n_tok) {
            st = se_error_set(err, SE_EIO, "%s: document changed since the job indexed it", where);
        } else {
            if (doc.n_ids > c->ids.cap) {
                int32_t *p = realloc(c->ids.ids, doc.n_ids * sizeof *p);
                if (!p) st = se_error_set(err, SE_ENOMEM, "cannot hold %zu token ids", doc.n_ids);
                else c->ids.ids = p, c->ids.cap = doc.n_ids;
            }
            if (!st) {
                if (doc.n_ids) memcpy(c->ids.ids, doc.input_ids, doc.n_ids * sizeof(int32_t));
                c->ids.n = doc.n_ids;
            }
        }
    }
    if (!st) {
        size_t need = c->ids.n + 2;
        if (need > c->types_cap) {
            int32_t *p = realloc(c->types, need * sizeof *p);
            if (!p) st = se_error_set(err, SE_ENOMEM, "cannot hold %zu token type ids", need);
            else c->types = p, c->types_cap = need;
        }
        if (!st) {
            if (doc.type_ids) memcpy(c->types, doc.type_ids, doc.n_ids * sizeof(int32_t));
            else memset(c->types, 0, c->types_cap * sizeof *c->types);
        }
    }
    se_doc_free(&doc);
    if (!st) c->doc = d;
    else c->doc = -1;
    return st;
}

/* ---------------------------------------------------------------- index pass */

static se_status index_corpus(job *J, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    int P = g->world_size, r = g->world_rank;
    double t0 = se_time_now();
    struct stat sb;
    if (stat(o->input, &sb) != 0) return se_error_set(err, SE_EIO, "%s: cannot open: %s", o->input, strerror(errno));
    int64_t size = sb.st_size, lo = size * r / P, hi = size * (r + 1) / P;
    FILE *f = fopen(o->input, "rb");
    if (!f) return se_error_set(err, SE_EIO, "%s: cannot open: %s", o->input, strerror(errno));
    /* A line belongs to the rank whose byte range holds its first byte. */
    int64_t pos = lo;
    if (lo > 0) {
        if (fseeko(f, lo - 1, SEEK_SET) != 0) {
            fclose(f);
            return se_error_set(err, SE_EIO, "%s: seek failed", o->input);
        }
        int ch;
        pos = lo - 1;
        while ((ch = fgetc(f)) != EOF) {
            pos++;
            if (ch == '\n') break;
        }
        if (ch == EOF) pos = size;
    }
    size_t cap = 1024;
    se_docrec *docs = malloc(cap * sizeof *docs);
    skip_rec *skips = calloc(MAX_SKIP_RECORDS, sizeof *skips);
    char idpath[4200];
    snprintf(idpath, sizeof idpath, "%s.ids.part%d", o->output, r);
    FILE *idf = fopen(idpath, "wb");
    se_status st = SE_OK;
    if (!docs || !skips) st = se_error_set(err, SE_ENOMEM, "cannot allocate the index");
    if (!st && !idf) st = se_error_set(err, SE_EIO, "%s: cannot create: %s", idpath, strerror(errno));
    int64_t n = 0, lines = 0, blank = 0, nskip = 0, empty = 0, invalid = 0;
    char *line = NULL;
    size_t lcap = 0;
    se_ids ids = {0};
    int64_t fail_line = 0;
    char fail_reason[SE_ERRMSG_MAX] = "";
    /* local line numbers first; shifted by the ranks before us afterwards */
    while (!st && pos < hi) {
        ssize_t len = getline(&line, &lcap, f);
        if (len < 0) break;
        int64_t off = pos;
        pos += len;
        lines++;
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        int only_ws = 1;
        for (ssize_t i = 0; i < len && only_ws; i++) only_ws = line[i] == ' ' || line[i] == '\t';
        if (only_ws) {
            blank++;
            continue;
        }
        if (len > INT32_MAX) {
            st = se_error_set(err, SE_EFORMAT, "%s: line of %lld bytes is too long", o->input, (long long)len);
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
                ds = se_tok_encode(J->tok, doc.text, doc.text_len, 0, &ids, &n_inv, &derr);
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
                st = no_tokenizer ? SE_EINVAL : SE_EFORMAT;
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
        int64_t ntok = doc.text ? (int64_t)ids.n : (int64_t)doc.n_ids;
        docs[n] = (se_docrec){.offset = off, .line = lines, .n_tok = ntok, .len = (int32_t)len,
                              .is_text = doc.text != NULL,
                              .n_invalid = (int32_t)(n_inv + doc.n_invalid_utf8)};
        if (ntok == 0) empty++;
        invalid += (int64_t)(n_inv + doc.n_invalid_utf8);
        /* one id a line: a newline inside an id would shift every row after it */
        for (char *c = doc.id; *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
        fputs(doc.id, idf);
        fputc('\n', idf);
        n++;
        se_doc_free(&doc);
    }
    free(line);
    se_ids_free(&ids);
    fclose(f);
    if (idf && fclose(idf) != 0 && !st) st = se_error_set(err, SE_EIO, "%s: write failed", idpath);
    /* Global line numbers: an exclusive scan of line counts. */
    int64_t before = 0;
    MPI_Exscan(&lines, &before, 1, MPI_INT64_T, MPI_SUM, g->world);
    if (r == 0) before = 0;
    for (int64_t i = 0; i < n; i++) docs[i].line += before;
    for (int64_t i = 0; i < nskip && i < MAX_SKIP_RECORDS; i++) skips[i].line += before;
    if (fail_line)
        se_error_set(err, st, "%s:%lld: %s%s", o->input, (long long)(fail_line + before), fail_reason,
                     st == SE_EFORMAT ? " (--on-error fail)" : "");
    st = se_dist_agree(g->world, st, err);
    if (st) {
        free(docs);
        free(skips);
        return st;
    }
    /* Everyone gets the whole index (40 bytes a document), in file order. */
    int64_t counts[4] = {n, lines, blank, nskip}, tot[4];
    MPI_Allreduce(counts, tot, 4, MPI_INT64_T, MPI_SUM, g->world);
    int64_t sums[2] = {empty, invalid}, gs[2];
    MPI_Allreduce(sums, gs, 2, MPI_INT64_T, MPI_SUM, g->world);
    J->n_docs = tot[0], J->n_lines = tot[1], J->n_blank = tot[2], J->n_skips_total = tot[3];
    J->n_empty = gs[0], J->n_invalid_utf8 = gs[1];
    int *rc = malloc(sizeof(int) * (size_t)P), *rd = malloc(sizeof(int) * (size_t)P);
    J->docs = malloc((size_t)(J->n_docs > 0 ? J->n_docs : 1) * sizeof *J->docs);
    if (!rc || !rd || !J->docs) {
        free(rc), free(rd), free(docs), free(skips);
        return se_error_set(err, SE_ENOMEM, "cannot allocate the index of %lld documents", (long long)J->n_docs);
    }
    /* counts in bytes; the index of a corpus of 50 M documents is 2 GB, over MPI's int limit */
    if ((double)J->n_docs * sizeof(se_docrec) > 2e9) {
        free(rc), free(rd), free(docs), free(skips);
        return se_error_set(err, SE_EUNSUPPORTED, "%s: %lld documents is more than one job indexes; split the corpus",
                            o->input, (long long)J->n_docs);
    }
    int mine = (int)(n * (int64_t)sizeof(se_docrec));
    MPI_Allgather(&mine, 1, MPI_INT, rc, 1, MPI_INT, g->world);
    rd[0] = 0;
    for (int i = 1; i < P; i++) rd[i] = rd[i - 1] + rc[i - 1];
    MPI_Allgatherv(docs, mine, MPI_BYTE, J->docs, rc, rd, MPI_BYTE, g->world);
    /* Skip records go to rank 0 for meta.json. */
    int ks = (int)(nskip < MAX_SKIP_RECORDS ? nskip : MAX_SKIP_RECORDS) * (int)sizeof(skip_rec);
    MPI_Gather(&ks, 1, MPI_INT, rc, 1, MPI_INT, 0, g->world);
    if (r == 0) {
        rd[0] = 0;
        for (int i = 1; i < P; i++) rd[i] = rd[i - 1] + rc[i - 1];
        J->n_skips = (rd[P - 1] + rc[P - 1]) / (int)sizeof(skip_rec);
        J->skips = malloc((size_t)(J->n_skips + 1) * sizeof(skip_rec));
    }
    MPI_Gatherv(skips, ks, MPI_BYTE, J->skips, rc, rd, MPI_BYTE, 0, g->world);
    free(rc), free(rd), free(docs), free(skips);
    J->t_index = se_time_now() - t0;
    return SE_OK;
}

/* ---------------------------------------------------------------- fingerprint and journal */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

/* What must not change between a job and its --resume: the input, the
 * model, and every option that changes the bytes of the output. */
static uint64_t fingerprint(const job *J)
{
    uint64_t h = 1469598103934665603ULL;
    struct stat sb;
    char path[4200];
    if (stat(J->o->input, &sb) == 0) {
        h = fnv(h, &sb.st_size, sizeof sb.st_size);
        h = fnv(h, &sb.st_mtim, sizeof sb.st_mtim);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", J->o->model_dir);
    if (stat(path, &sb) == 0) {
        h = fnv(h, &sb.st_size, sizeof sb.st_size);
        h = fnv(h, &sb.st_mtim, sizeof sb.st_mtim);
    }
    int64_t v[8] = {J->win_len, J->stride, J->batch_tokens, J->o->pooling, J->o->normalize, J->g->tp_size,
                    J->o->sp && J->g->tp_size > 1, J->n_docs};
    h = fnv(h, v, sizeof v);
    /* the GEMM backend and --deterministic move the last bits too */
    int64_t c[2] = {(int64_t)se_gemm_current(), se_gemm_deterministic()};
    h = fnv(h, c, sizeof c);
    h = fnv(h, &J->cfg, sizeof J->cfg);
    return h;
}

typedef struct {
    uint32_t magic, batch;
} journal_rec;

/* Reads the journal left by an interrupted run: batches listed there are done. */
static se_status read_journal(job *J, se_error *err)
{
    int fd = open(J->journal_path, O_RDONLY);
    if (fd < 0) {
        se_log(SE_LOG_WARN, "--resume: no journal %s; starting from the beginning", J->journal_path);
        return SE_OK;
    }
    uint64_t head[2] = {0, 0};
    ssize_t k = read(fd, head, sizeof head);
    if (k != (ssize_t)sizeof head || head[0] != JOURNAL_MAGIC) {
        close(fd);
        return se_error_set(err, SE_EFORMAT, "%s: not a shardenc journal", J->journal_path);
    }
    if (head[1] != J->fingerprint) {
        close(fd);
        return se_error_set(err, SE_EINVAL,
                            "--resume: %s was written for another input, model or options (the fingerprint "
                            "differs); rerun without --resume to start over",
                            J->journal_path);
    }
    journal_rec rec;
    while (read(fd, &rec, sizeof rec) == (ssize_t)sizeof rec) {
        if (rec.magic != JOURNAL_MAGIC || rec.batch >= J->n_batches) break; /* torn tail */
        if (!J->done[rec.batch]) J->n_done_before++;
        J->done[rec.batch] = 1;
    }
    close(fd);
    return SE_OK;
}

/* ---------------------------------------------------------------- set-up of files */

static se_status open_files(job *J, se_error *err)
{
    const se_embed_opts *o = J->o;
    const se_grid *g = J->g;
    se_status st = SE_OK;
    int none = o->pooling == SE_POOL_NONE;
    path_of(J->journal_path, sizeof J->journal_path, o->output, ".journal");
    path_of(J->store_path, sizeof J->store_path, o->output, none ? ".tokens.npy.tmp" : ".windows.tmp");
    J->fingerprint = fingerprint(J);
    int64_t rows = none ? J->n_tokens_total : J->n_win;
    char hdr[256];
    int64_t shape[2] = {rows, J->d};
    J->store_hdr = none ? (int64_t)se_npy_header(hdr, sizeof hdr, "<f4", 2, shape) : 0;
    int64_t store_bytes = J->store_hdr + rows * J->d * (int64_t)sizeof(float);
    if (g->world_rank == 0) {
        if (o->resume) st = read_journal(J, err);
        int resuming = o->resume && J->n_done_before > 0;
        if (!st && resuming) {
            struct stat sb;
            if (stat(J->store_path, &sb) != 0 || sb.st_size != store_bytes)
                st = se_error_set(err, SE_EFORMAT, "--resume: %s is missing or has the wrong size; rerun without --resume",
                                  J->store_path);
        }
        if (!st && !resuming) {
            J->n_done_before = 0;
            memset(J->done, 0, (size_t)J->n_batches);
            int fd = open(J->store_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot create: %s", J->store_path, strerror(errno));
            else {
                if (ftruncate(fd, store_bytes) != 0)
                    st = se_error_set(err, SE_EIO, "%s: cannot size to %lld bytes: %s", J->store_path,
                                      (long long)store_bytes, strerror(errno));
                if (!st && none) st = pwrite_all(fd, hdr, (size_t)J->store_hdr, 0, J->store_path, err);
                close(fd);
            }
            if (!st) {
                int jf = open(J->journal_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                uint64_t head[2] = {JOURNAL_MAGIC, J->fingerprint};
                if (jf < 0 || write(jf, head, sizeof head) != (ssize_t)sizeof head)
                    st = se_error_set(err, SE_EIO, "%s: cannot create: %s", J->journal_path, strerror(errno));
                if (jf >= 0) close(jf);
            }
        }
    }
    st = se_dist_agree(g->world, st, err);
    if (st) return st;
    MPI_Bcast(J->done, (int)J->n_batches, MPI_UNSIGNED_CHAR, 0, g->world);
    MPI_Bcast(&J->n_done_before, 1, MPI_INT64_T, 0, g->world);
    if (g->tp_rank == 0) {
        J->store_fd = open(J->store_path, O_RDWR);
        J->journal_fd = open(J->journal_path, O_WRONLY | O_APPEND);
        if (J->store_fd < 0 || J->journal_fd < 0)
            st = se_error_set(err, SE_EIO, "%s: cannot open for writing: %s",
                              J->store_fd < 0 ? J->store_path : J->journal_path, strerror(errno));
    }
    J->in_fd = open(o->input, O_RDONLY);
    if (!st && J->in_fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot open: %s", o->input, strerror(errno));
    return se_dist_agree(g->world, st, err);
}

/* ---------------------------------------------------------------- encode phase */

static void print_progress(const job *J, int64_t docs_done, int64_t tok_done, double t0, int final)
{
    static double last;
    double now = se_time_now();
    if (J->o->quiet || (!final && now - last < J->o->progress_every)) return;
    last = now;
    double el = now - t0, rate = el > 0 ? (double)tok_done / el : 0;
    double eta = rate > 0 ? (double)(J->n_tokens_total - tok_done) / rate : 0;
    double frac = J->n_tokens_total ? (double)tok_done / (double)J->n_tokens_total : 1;
    if (isatty(2)) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r[%s] %5.1f%% docs %lld/%lld tokens %lld/%lld %.0f tok/s ETA %.0fs   %s", bar, 100 * frac,
                (long long)docs_done, (long long)J->n_docs, (long long)tok_done, (long long)J->n_tokens_total, rate,
                eta, final ? "\n" : "");
    } else {
        fprintf(stderr, "shardenc embed: %5.1f%% docs %lld/%lld tokens %lld/%lld %.0f tok/s ETA %.0fs\n", 100 * frac,
                (long long)docs_done, (long long)J->n_docs, (long long)tok_done, (long long)J->n_tokens_total, rate,
                eta);
    }
    fflush(stderr);
}

static se_status encode(job *J, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    int d = J->d;
    se_status st = SE_OK;
    double t0 = se_time_now();
    /* The work list: batches not yet journaled, longest first (they were planned so). */
    int64_t *todo = malloc((size_t)(J->n_batches + 1) * sizeof *todo), n_todo = 0;
    int64_t max_batch_tok = 1, max_len = 1, max_count = 1;
    for (int64_t b = 0; todo && b < J->n_batches; b++) {
        if (!J->done[b]) todo[n_todo++] = b;
        if (J->batches[b].tokens > max_batch_tok) max_batch_tok = J->batches[b].tokens;
        if (J->batches[b].count > max_count) max_count = J->batches[b].count;
    }
    for (int64_t w = 0; w < J->n_win; w++)
        if (J->win[w].len > max_len) max_len = J->win[w].len;
    se_workspace *ws = NULL;
    int32_t *ids = malloc((size_t)max_batch_tok * sizeof *ids), *types = malloc((size_t)max_batch_tok * sizeof *types);
    int64_t *starts = malloc((size_t)(max_count + 1) * sizeof *starts);
    float *pooled = malloc((size_t)max_count * (size_t)d * sizeof(float));
    if (!todo || !ids || !types || !starts || !pooled) st = se_error_set(err, SE_ENOMEM, "cannot allocate batch buffers");
    if (!st) st = se_workspace_create(J->model, max_batch_tok, max_len, o->sp, &ws, err);
    /* Shared queue: counter[0] = next index into todo, counter[1] = tokens
     * done, counter[2] = documents done; on rank 0, reached by MPI one-sided
     * atomics so a group that drew short batches simply takes more. */
    int64_t *cnt = NULL;
    MPI_Win win = MPI_WIN_NULL;
    if (MPI_Win_allocate(g->world_rank == 0 ? 3 * sizeof(int64_t) : 0, sizeof(int64_t), MPI_INFO_NULL, g->world, &cnt,
                         &win) != MPI_SUCCESS)
        st = st ? st : se_error_set(err, SE_EMPI, "MPI_Win_allocate failed");
    if (g->world_rank == 0 && cnt) cnt[0] = cnt[1] = cnt[2] = 0;
    if (win != MPI_WIN_NULL) MPI_Win_fence(0, win);
    st = se_dist_agree(g->world, st, err);
    doc_cache cache = {.doc = -1};
    int64_t done_tok0 = 0;
    for (int64_t b = 0; b < J->n_batches; b++)
        if (J->done[b]) done_tok0 += J->batches[b].tokens;
    while (!st) {
        /* 1. the group leader draws the next batch; the group learns it */
        int64_t k = -1;
        if (g->tp_rank == 0) {
            int64_t one = 1;
            MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
            MPI_Fetch_and_op(&one, &k, MPI_INT64_T, 0, 0, MPI_SUM, win);
            MPI_Win_unlock(0, win);
        }
        MPI_Bcast(&k, 1, MPI_INT64_T, 0, g->tp);
        if (k >= n_todo) break;
        double tb = se_time_now();
        const se_batch *B = &J->batches[todo[k]];
        /* 2. gather its windows' tokens: [CLS] content [SEP] for text */
        int64_t t = 0;
        int n_last = 0;
        se_status ls = SE_OK;
        for (int32_t i = 0; i < B->count && !ls; i++) {
            const se_window *w = &J->win[J->order[B->first + i]];
            starts[i] = t;
            ls = load_doc(J, &cache, w->doc, err);
            if (ls) break;
            if (J->docs[w->doc].is_text) {
                int64_t nc = w->len - 2;
                ids[t] = se_tok_cls_id(J->tok);
                types[t++] = 0;
                memcpy(ids + t, cache.ids.ids + w->start, (size_t)nc * sizeof *ids);
                memset(types + t, 0, (size_t)nc * sizeof *types);
                t += nc;
                ids[t] = se_tok_sep_id(J->tok);
                types[t++] = 0;
            } else {
                memcpy(ids + t, cache.ids.ids + w->start, (size_t)w->len * sizeof *ids);
                memcpy(types + t, cache.types + w->start, (size_t)w->len * sizeof *types);
                t += w->len;
            }
            n_last += w->last;
        }
        starts[B->count] = t;
        /* a rank that could not read its input must not leave the others
         * waiting inside the forward's collectives */
        ls = se_dist_agree(g->tp, ls, err);
        /* 3. encode (collective in the TP group), pool, write in place */
        const float *h = NULL;
        if (!ls) ls = se_model_forward(J->model, ws, ids, types, starts, B->count, g->tp, o->sp, &h, NULL, err);
        if (!ls && g->tp_rank == 0) {
            if (o->pooling == SE_POOL_NONE) {
                for (int32_t i = 0; i < B->count && !ls; i++) {
                    const se_window *w = &J->win[J->order[B->first + i]];
                    float *rows = (float *)h + (size_t)starts[i] * d;
                    if (o->normalize) se_l2_normalize(rows, w->len, d);
                    ls = pwrite_all(J->store_fd, rows, (size_t)w->len * d * sizeof(float),
                                    J->store_hdr + w->tok_off * d * (int64_t)sizeof(float), J->store_path, err);
                }
            } else {
                se_pool(pooled, h, d, starts, B->count, o->pooling, 0);
                for (int32_t i = 0; i < B->count && !ls; i++)
                    ls = pwrite_all(J->store_fd, pooled + (size_t)i * d, (size_t)d * sizeof(float),
                                    J->order[B->first + i] * d * (int64_t)sizeof(float), J->store_path, err);
            }
            /* the rows are in the file before the journal says so */
            journal_rec rec = {JOURNAL_MAGIC, (uint32_t)todo[k]};
            if (!ls && write(J->journal_fd, &rec, sizeof rec) != (ssize_t)sizeof rec)
                ls = se_error_set(err, SE_EIO, "%s: write failed: %s", J->journal_path, strerror(errno));
        }
        if (g_stop && !ls) ls = se_error_set(err, SE_EINTERRUPTED, "interrupted by a signal");
        /* 4. the group agrees; a failure poisons the shared counter so every
         * other group stops after its current batch */
        ls = se_dist_agree(g->tp, ls, err);
        if (g->tp_rank == 0) {
            int64_t add[3] = {ls ? (int64_t)1 << 40 : 0, B->tokens, n_last}, old;
            MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
            for (int i = 0; i < 3; i++)
                if (add[i]) MPI_Fetch_and_op(&add[i], &old, MPI_INT64_T, 0, i, MPI_SUM, win);
            MPI_Win_unlock(0, win);
        }
        if (ls) {
            st = ls;
            break;
        }
        J->busy += se_time_now() - tb;
        J->my_tokens += g->tp_rank == 0 ? B->tokens : 0;
        J->my_batches++;
        if (g->world_rank == 0) {
            int64_t v[3], z = 0;
            MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
            for (int i = 0; i < 3; i++) MPI_Fetch_and_op(&z, &v[i], MPI_INT64_T, 0, i, MPI_NO_OP, win);
            MPI_Win_unlock(0, win);
            if (v[1] + done_tok0 < J->n_tokens_total) print_progress(J, v[2], v[1] + done_tok0, t0, 0);
        }
    }
    /* Everyone leaves the loop (done, failed, or told by the poisoned counter). */
    st = se_dist_agree(g->world, st, err);
    if (!st && g->world_rank == 0) print_progress(J, J->n_docs, J->n_tokens_total, t0, 1);
    if (win != MPI_WIN_NULL) MPI_Win_free(&win);
    if (g->tp_rank == 0 && J->store_fd >= 0) {
        fdatasync(J->store_fd);
        fdatasync(J->journal_fd);
    }
    se_workspace_free(ws);
    se_ids_free(&cache.ids);
    free(cache.types), free(cache.line);
    free(todo), free(ids), free(types), free(starts), free(pooled);
    J->t_encode = se_time_now() - t0;
    return st;
}

/* ---------------------------------------------------------------- assembly */

/* Pooled modes: document row = token-count-weighted mean of its windows'
 * pooled rows (a single window: that row, unchanged), then L2 if asked. */
static se_status assemble(job *J, se_error *err)
{
    const se_grid *g = J->g;
    const se_embed_opts *o = J->o;
    int d = J->d;
    double t0 = se_time_now();
    se_status st = SE_OK;
    char npy[4200], final_npy[4200];
    path_of(npy, sizeof npy, o->output, o->pooling == SE_POOL_NONE ? ".offsets.npy.tmp" : ".npy.tmp");
    path_of(final_npy, sizeof final_npy, o->output, o->pooling == SE_POOL_NONE ? ".offsets.npy" : ".npy");
    if (o->pooling == SE_POOL_NONE) {
        /* the token file is already complete; write the offsets */
        if (g->world_rank == 0) {
            int64_t *off = malloc((size_t)(J->n_docs + 1) * sizeof *off);
            if (!off) st = se_error_set(err, SE_ENOMEM, "cannot allocate offsets");
            else {
                int64_t w = 0, tok = 0;
                for (int64_t i = 0; i < J->n_docs; i++) {
                    off[i] = tok;
                    while (w < J->n_win && J->win[w].doc == i) tok += J->win[w++].len;
                }
                off[J->n_docs] = tok;
                int64_t shape[1] = {J->n_docs + 1};
                st = se_npy_write(npy, "<i8", 1, shape, off, sizeof(int64_t), err);
                free(off);
            }
        }
        J->t_assemble = se_time_now() - t0;
        return se_dist_agree(g->world, st, err);
    }
    char hdr[256];
    int64_t shape[2] = {J->n_docs, d};
    size_t hlen = se_npy_header(hdr, sizeof hdr, "<f4", 2, shape);
    if (g->world_rank == 0) {
        int fd = open(npy, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) st = se_error_set(err, SE_EIO, "%s: cannot create: %s", npy, strerror(errno));
        else {
            st = pwrite_all(fd, hdr, hlen, 0, npy, err);
            if (!st && ftruncate(fd, (off_t)(hlen + (size_t)J->n_docs * d * sizeof(float))) != 0)
                st = se_error_set(err, SE_EIO, "%s: cannot size: %s", npy, strerror(errno));
            close(fd);
        }
    }
    if ((st = se_dist_agree(g->world, st, err))) return st;
    /* every rank assembles a contiguous range of documents */
    int64_t d0, nd;
    se_split(J->n_docs, g->world_size, g->world_rank, &d0, &nd);
    int fd = open(npy, O_RDWR), sfd = open(J->store_path, O_RDONLY);
    float *acc = malloc((size_t)d * sizeof(float) * 2);
    double *sum = malloc((size_t)d * sizeof(double));
    if (fd < 0 || sfd < 0 || !acc || !sum) st = se_error_set(err, SE_EIO, "%s: cannot open for assembly", npy);
    /* first window of d0: windows are in document order */
    int64_t w = 0, lo = 0, hi = J->n_win;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (J->win[mid].doc < d0) lo = mid + 1;
        else hi = mid;
    }
    w = lo;
    for (int64_t i = d0; !st && i < d0 + nd; i++) {
        float *row = acc, *tmp = acc + d;
        int64_t w0 = w;
        while (w < J->n_win && J->win[w].doc == i) w++;
        if (w == w0) {
            memset(row, 0, (size_t)d * sizeof(float)); /* empty document: a zero row, recorded in meta.json */
        } else if (w == w0 + 1) {
            st = pread_all(sfd, row, (size_t)d * sizeof(float), w0 * d * (int64_t)sizeof(float), J->store_path, err);
        } else {
            double tw = 0;
            memset(sum, 0, (size_t)d * sizeof(double));
            for (int64_t k = w0; k < w && !st; k++) {
                st = pread_all(sfd, tmp, (size_t)d * sizeof(float), k * d * (int64_t)sizeof(float), J->store_path,
                               err);
                double wt = J->win[k].len;
                for (int j = 0; j < d; j++) sum[j] += wt * tmp[j];
                tw += wt;
            }
            for (int j = 0; j < d; j++) row[j] = (float)(sum[j] / tw);
        }
        if (!st && o->normalize) se_l2_normalize(row, 1, d);
        if (!st) st = pwrite_all(fd, row, (size_t)d * sizeof(float), (int64_t)hlen + i * d * (int64_t)sizeof(float),
                                 npy, err);
    }
    if (fd >= 0) {
        if (!st && fdatasync(fd) != 0) st = se_error_set(err, SE_EIO, "%s: sync failed: %s", npy, strerror(errno));
        close(fd);
    }
    if (sfd >= 0) close(sfd);
    free(acc), free(sum);
    J->t_assemble = se_time_now() - t0;
    return se_dist_agree(g->world, st, err);
}

/* ---------------------------------------------------------------- ids, meta, renames */

static se_status write_ids(job *J, se_error *err)
{
    char out[4200], part[4200];
    path_of(out, sizeof out, J->o->output, ".ids.txt.tmp");
    FILE *f = fopen(out, "wb");
    if (!f) return se_error_set(err, SE_EIO, "%s: cannot create: %s", out, strerror(errno));
    char buf[1 << 16];
    se_status st = SE_OK;
    for (int r = 0; r < J->g->world_size && !st; r++) {
        snprintf(part, sizeof part, "%s.ids.part%d", J->o->output, r);
        FILE *p = fopen(part, "rb");
        if (!p) {
            st = se_error_set(err, SE_EIO, "%s: cannot open: %s", part, strerror(errno));
            break;
        }
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, p)) > 0)
            if (fwrite(buf, 1, k, f) != k) st = se_error_set(err, SE_EIO, "%s: write failed", out);
        fclose(p);
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) st = st ? st : se_error_set(err, SE_EIO, "%s: write failed", out);
    fclose(f);
    return st;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static se_status write_meta(job *J, const double *group_fig, double total, se_error *err)
{
    const se_embed_opts *o = J->o;
    const se_grid *g = J->g;
    char path[4200];
    path_of(path, sizeof path, o->output, ".meta.json.tmp");
    FILE *f = fopen(path, "wb");
    if (!f) return se_error_set(err, SE_EIO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, "{\n  \"shardenc_version\": \"%s\",\n  \"complete\": true,\n  \"model\": ", SE_VERSION);
    json_str(f, o->model_dir);
    fprintf(f, ",\n  \"model_config\": {\"model_type\": ");
    json_str(f, J->cfg.model_type);
    fprintf(f, ", \"hidden_size\": %d, \"num_attention_heads\": %d, \"num_hidden_layers\": %d, "
               "\"intermediate_size\": %d, \"hidden_act\": \"%s\", \"max_position_embeddings\": %d},\n",
            J->cfg.d_model, J->cfg.n_heads, J->cfg.n_layers, J->cfg.d_ff, se_act_name(J->cfg.act), J->cfg.max_pos);
    fprintf(f, "  \"input\": ");
    json_str(f, o->input);
    fprintf(f, ",\n  \"output_prefix\": ");
    json_str(f, o->output);
    fprintf(f,
            ",\n  \"options\": {\"pooling\": \"%s\", \"normalize\": %s, \"window_tokens\": %lld, \"stride\": %lld, "
            "\"batch_tokens\": %lld, \"tp\": %d, \"sp\": %s, \"on_error\": \"%s\"},\n",
            se_pooling_name(o->pooling), o->normalize ? "true" : "false", (long long)J->win_len, (long long)J->stride,
            (long long)J->batch_tokens, g->tp_size, o->sp ? "true" : "false", o->on_error_fail ? "fail" : "skip");
    fprintf(f,
            "  \"window_pooling\": \"a document longer than one window is the token-count-weighted mean of its "
            "windows' pooled rows\",\n");
    fprintf(f,
            "  \"counts\": {\"lines\": %lld, \"blank_lines\": %lld, \"documents\": %lld, \"windows\": %lld, "
            "\"tokens\": %lld, \"batches\": %lld, \"batches_resumed\": %lld, \"skipped_lines\": %lld, "
            "\"empty_documents\": %lld, \"invalid_utf8_replaced\": %lld},\n",
            (long long)J->n_lines, (long long)J->n_blank, (long long)J->n_docs, (long long)J->n_win,
            (long long)J->n_tokens_total, (long long)J->n_batches, (long long)J->n_done_before,
            (long long)J->n_skips_total, (long long)J->n_empty, (long long)J->n_invalid_utf8);
    fprintf(f, "  \"empty_document_result\": \"a zero row (pre-tokenised input with no ids); text input with no tokens "
               "is encoded as [CLS] [SEP]\",\n");
    fprintf(f, "  \"skipped\": [");
    for (int64_t i = 0; i < J->n_skips; i++) {
        fprintf(f, "%s\n    {\"line\": %lld, \"reason\": ", i ? "," : "", (long long)J->skips[i].line);
        json_str(f, J->skips[i].reason);
        fputc('}', f);
    }
    fprintf(f, "%s],\n", J->n_skips ? "\n  " : "");
    fprintf(f, "  \"grid\": {\"world_size\": %d, \"tp\": %d, \"dp\": %d, \"threads_per_rank\": %d},\n", g->world_size,
            g->tp_size, g->dp_size, omp_get_max_threads());
    fprintf(f, "  \"compute\": {\"isa\": \"%s\", \"gemm\": \"%s\", \"deterministic\": %s, \"gemm_library\": ",
            se_isa_name(se_isa_current()), se_gemm_name(se_gemm_current()), se_gemm_deterministic() ? "true" : "false");
    json_str(f, se_gemm_info());
    fprintf(f, "},\n");
    fprintf(f, "  \"groups\": [");
    double mean = 0, mx = 0;
    for (int i = 0; i < g->dp_size; i++) {
        const double *v = group_fig + 3 * i;
        fprintf(f, "%s\n    {\"group\": %d, \"tokens\": %.0f, \"batches\": %.0f, \"busy_seconds\": %.3f}", i ? "," : "",
                i, v[0], v[1], v[2]);
        mean += v[2] / g->dp_size;
        if (v[2] > mx) mx = v[2];
    }
    fprintf(f, "\n  ],\n  \"slowest_group_busy_over_mean\": %.4f,\n", mean > 0 ? mx / mean : 1.0);
    fprintf(f,
            "  \"timings\": {\"index_seconds\": %.3f, \"encode_seconds\": %.3f, \"assemble_seconds\": %.3f, "
            "\"total_seconds\": %.3f, \"tokens_per_s\": %.1f}\n}\n",
            J->t_index, J->t_encode, J->t_assemble, total,
            J->t_encode > 0 ? (double)J->n_tokens_total / J->t_encode : 0.0);
    int bad = ferror(f);
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    return bad ? se_error_set(err, SE_EIO, "%s: write failed", path) : SE_OK;
}

static se_status rename_tmp(const char *prefix, const char *suffix, se_error *err)
{
    char a[4200], b[4200];
    snprintf(b, sizeof b, "%s%s", prefix, suffix);
    snprintf(a, sizeof a, "%s%s.tmp", prefix, suffix);
    if (rename(a, b) != 0) return se_error_set(err, SE_EIO, "cannot rename %s to %s: %s", a, b, strerror(errno));
    return SE_OK;
}

/* ---------------------------------------------------------------- the job */

static se_status setup(job *J, se_error *err)
{
    const se_embed_opts *o = J->o;
    const se_grid *g = J->g;
    se_status st = se_model_load_config(o->model_dir, &J->cfg, err);
    if (!st && g->tp_size > J->cfg.n_heads)
        st = se_error_set(err, SE_EINVAL, "--tp %d exceeds the %d attention heads of %s", g->tp_size, J->cfg.n_heads,
                          o->model_dir);
    if (st) return st;
    J->d = J->cfg.d_model;
    /* window length and stride */
    if (J->cfg.max_pos > 0) {
        if (o->max_tokens > J->cfg.max_pos)
            return se_error_set(err, SE_EINVAL, "--max-tokens %lld exceeds max_position_embeddings %d of %s",
                                (long long)o->max_tokens, J->cfg.max_pos, o->model_dir);
        J->win_len = o->max_tokens > 0 ? o->max_tokens : J->cfg.max_pos;
    } else {
        J->win_len = o->max_tokens; /* 0: the whole document, however long */
    }
    if (J->win_len > 0 && J->win_len < 3)
        return se_error_set(err, SE_EINVAL, "--max-tokens %lld leaves no room for [CLS] ... [SEP]",
                            (long long)J->win_len);
    int64_t content = J->win_len > 0 ? J->win_len - 2 : 0;
    J->stride = o->stride > 0 ? o->stride : content - content / 8; /* overlap of 1/8 of the window */
    if (J->win_len > 0 && (J->stride < 1 || J->stride > content))
        return se_error_set(err, SE_EINVAL, "--stride %lld must be between 1 and the window's %lld content tokens",
                            (long long)o->stride, (long long)content);
    /* the tokenizer is needed only if the corpus has text */
    se_error terr;
    if (se_tok_load_dir(o->model_dir, &J->tok, &terr)) {
        J->tok = NULL;
        snprintf(J->tok_msg, sizeof J->tok_msg, "the model has no usable tokenizer (%.900s)", terr.msg);
    } else if (se_tok_vocab_size(J->tok) > J->cfg.vocab_size) {
        return se_error_set(err, SE_ESHAPE, "%s: the tokenizer has %d tokens but config.json says vocab_size %d",
                            o->model_dir, se_tok_vocab_size(J->tok), J->cfg.vocab_size);
    }
    return SE_OK;
}

/* Local only (no collective): every rank checks its own host. */
static se_status check_memory(job *J, const se_hostinfo *hi, int64_t max_batch_tok, se_error *err)
{
    FILE *f = fopen("/proc/meminfo", "r");
    double avail = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "MemAvailable:", 13)) avail = strtod(line + 13, NULL) * 1024;
    if (f) fclose(f);
    double need = (double)se_workspace_bytes(J->model, max_batch_tok, J->o->sp) +
                  (double)(J->model->layer_bytes + J->model->replicated_bytes) +
                  (double)J->n_docs * sizeof(se_docrec) + (double)J->n_win * (sizeof(se_window) + 8);
    double per_rank = avail / (hi->max_ranks_per_host > 0 ? hi->max_ranks_per_host : 1);
    if (avail > 0 && need > per_rank)
        return se_error_set(err, SE_ENOMEM,
                            "batches of %lld tokens need %.2f GiB per rank (activations, weights, index) but only %.2f "
                            "GiB is available per rank on this host; lower --batch-tokens or --max-tokens, or raise "
                            "--tp",
                            (long long)max_batch_tok, need / (1 << 30), per_rank / (1 << 30));
    return SE_OK;
}

se_status se_embed_run(const se_embed_opts *o, const se_grid *g, se_error *err)
{
    double t_start = se_time_now();
    job J = {.o = o, .g = g, .in_fd = -1, .store_fd = -1, .journal_fd = -1};
    g_stop = 0;
    struct sigaction sa = {0}, old_term, old_int;
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);

    /* Collectives never sit behind a branch on a local status: a rank that
     * failed must still reach the same calls, or the others hang. */
    se_hostinfo hi;
    se_status st = se_dist_hostinfo(g->world, &hi, err);
    if (!st) st = setup(&J, err);
    st = se_dist_agree(g->world, st, err);
    if (!st) st = index_corpus(&J, err);
    if (!st) {
        /* plan: identical on every rank */
        J.n_win = se_plan_windows(J.docs, J.n_docs, J.win_len, J.stride, NULL);
        J.win = malloc((size_t)(J.n_win + 1) * sizeof *J.win);
        J.order = malloc((size_t)(J.n_win + 1) * sizeof *J.order);
        J.batches = malloc((size_t)(J.n_win + 1) * sizeof *J.batches);
        if (!J.win || !J.order || !J.batches) st = se_error_set(err, SE_ENOMEM, "cannot allocate the batch plan");
        int64_t longest = 0;
        if (!st) {
            se_plan_windows(J.docs, J.n_docs, J.win_len, J.stride, J.win);
            for (int64_t w = 0; w < J.n_win; w++) {
                J.n_tokens_total += J.win[w].len;
                if (J.win[w].len > longest) longest = J.win[w].len;
            }
            J.batch_tokens = o->batch_tokens > 0 ? o->batch_tokens : (longest > 8192 ? longest : 8192);
            if (longest > J.batch_tokens)
                st = se_error_set(err, SE_EINVAL,
                                  "--batch-tokens %lld is smaller than the longest window (%lld tokens)",
                                  (long long)J.batch_tokens, (long long)longest);
        }
        if (!st) {
            J.n_batches = se_plan_batches(J.win, J.n_win, J.batch_tokens, J.order, J.batches);
            J.done = calloc((size_t)J.n_batches + 1, 1);
            if (!J.done) st = se_error_set(err, SE_ENOMEM, "cannot allocate the batch plan");
        }
        if (!st) st = se_model_load(o->model_dir, g->tp_rank, g->tp_size, &J.model, err);
        if (!st) {
            int64_t mb = 1;
            for (int64_t b = 0; b < J.n_batches; b++)
                if (J.batches[b].tokens > mb) mb = J.batches[b].tokens;
            st = check_memory(&J, &hi, mb, err);
        }
        st = se_dist_agree(g->world, st, err);
    }
    if (!st && g->world_rank == 0 && !o->quiet)
        fprintf(stderr,
                "shardenc embed: %lld documents (%lld lines skipped), %lld windows of at most %lld tokens, %lld "
                "tokens in %lld batches of <= %lld tokens; indexed in %.1fs\n",
                (long long)J.n_docs, (long long)J.n_skips_total, (long long)J.n_win, (long long)J.win_len,
                (long long)J.n_tokens_total, (long long)J.n_batches, (long long)J.batch_tokens, J.t_index);
    if (!st) st = open_files(&J, err);
    if (!st && g->world_rank == 0 && o->resume && J.n_done_before > 0 && !o->quiet)
        fprintf(stderr, "shardenc embed: resuming: %lld of %lld batches were already done\n",
                (long long)J.n_done_before, (long long)J.n_batches);
    if (!st) st = encode(&J, err);
    if (!st) st = assemble(&J, err);
    /* per-group figures for meta.json */
    double mine[3] = {(double)J.my_tokens, (double)J.my_batches, J.busy}, *all = NULL;
    if (!st) {
        if (g->world_rank == 0) all = calloc((size_t)g->world_size * 3, sizeof(double));
        MPI_Gather(mine, 3, MPI_DOUBLE, all, 3, MPI_DOUBLE, 0, g->world);
        se_status fs = SE_OK;
        if (g->world_rank == 0) {
            /* keep the TP leaders' figures: one row per group */
            for (int i = 0; i < g->dp_size; i++)
                for (int k = 0; k < 3; k++) all[3 * i + k] = all[3 * (i * g->tp_size) + k];
            fs = write_ids(&J, err);
            if (!fs) fs = write_meta(&J, all, se_time_now() - t_start, err);
            /* final names only now; meta.json, the mark of a complete job, last */
            if (!fs && o->pooling == SE_POOL_NONE) fs = rename_tmp(o->output, ".tokens.npy", err);
            if (!fs) fs = rename_tmp(o->output, o->pooling == SE_POOL_NONE ? ".offsets.npy" : ".npy", err);
            if (!fs) fs = rename_tmp(o->output, ".ids.txt", err);
            if (!fs) fs = rename_tmp(o->output, ".meta.json", err);
            if (!fs) {
                unlink(J.journal_path);
                if (o->pooling != SE_POOL_NONE) unlink(J.store_path);
            }
        }
        st = se_dist_agree(g->world, fs, err);
        free(all);
    }
    char part[4200];
    snprintf(part, sizeof part, "%s.ids.part%d", o->output, g->world_rank);
    unlink(part);
    if (!st && g->world_rank == 0 && !o->quiet)
        fprintf(stderr, "shardenc embed: wrote %s%s, %s.ids.txt, %s.meta.json (%lld documents) in %.1fs\n", o->output,
                o->pooling == SE_POOL_NONE ? ".tokens.npy + .offsets.npy" : ".npy", o->output, o->output,
                (long long)J.n_docs, se_time_now() - t_start);
    if (J.in_fd >= 0) close(J.in_fd);
    if (J.store_fd >= 0) close(J.store_fd);
    if (J.journal_fd >= 0) close(J.journal_fd);
    se_model_free(J.model);
    se_tok_free(J.tok);
    free(J.docs), free(J.skips), free(J.win), free(J.order), free(J.batches), free(J.done);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    return st;
}
