/* Private to src/job: the embed job in parts (DESIGN.md "src/job"). Each part
 * owns one concern; embed.c orchestrates them:
 *   sources.c   the inputs: files, folders, globs opened up front; plain/gzip/zstd line reader
 *   corpus.c    index pass over the sources: documents, ids, skip records, content hash
 *   plan.c      windows and length-sorted packed batches (pure, no MPI)
 *   sorted.c    the windows in sorted order on disk (PREFIX.plan.tmp)
 *   journal.c   the resume fingerprint and the slot-per-batch journal (pure, no MPI)
 *   store.c     the row store written in place, and its grouped syncs with the journal
 *   encode.c    the batch loop over the shared work counter (dist/counter.c)
 *   assemble.c  windows -> documents (the combine rule is pure, no MPI)
 *   output.c    ids.txt, meta.json, the final renames */
#ifndef SE_JOB_EMBED_INTERNAL_H
#define SE_JOB_EMBED_INTERNAL_H

#include <signal.h>

#include "shardenc/io.h"
#include "shardenc/job.h"
#include "shardenc/text.h"

/* ---------------------------------------------------------------- index and plan */

/* One parsed document of the corpus (a line that was not skipped), as its
 * rank's index pass spills it to PREFIX.docs.part<r>: no rank holds the
 * documents in memory (issue 13, requirement 4). */
typedef struct {
    int64_t offset;  /* byte offset of its line in its source (compressed source: in its owner's line spill) */
    int64_t line;    /* 1-based line number in its unit (global once read back: se_corpus_docs_next) */
    int64_t n_tok;   /* content tokens (specials added per window: without [CLS]/[SEP]) */
    int32_t len;     /* line length in bytes, without the newline */
    int32_t is_text; /* specials added per window: text, or ids that came as [CLS] .. [SEP] */
    int32_t unit;    /* index into the job's units */
    int32_t src;     /* index into the job's sources (issue 13: many input files) */
} se_docrec;

/* The windows of one document: N = window length in encoder tokens (0 =
 * unlimited), S = stride in content tokens. Text windows hold N-2 content
 * tokens plus [CLS]/[SEP]. se_plan_doc_nwin is their number (0 for an empty
 * pre-tokenised document: a zero row); se_plan_doc_win the encoder tokens of
 * window k and its first content token. */
int64_t se_plan_doc_nwin(int64_t n_tok, int is_text, int64_t N, int64_t S);
int32_t se_plan_doc_win(int64_t n_tok, int is_text, int64_t N, int64_t S, int64_t k, int64_t *start);

typedef struct {
    int64_t first; /* into the length-sorted window order */
    int32_t count;
    int32_t tokens;
} se_batch;

/* The sorted order is longest first, ties by window index (document order),
 * so it is fixed by the histogram hist[L] of window lengths L < n_len alone:
 * the windows of length L take the positions start[L] .. start[L]+hist[L)
 * in document order. Batches pack that order greedily into at most B tokens
 * (a window longer than B gets a batch of its own); with batches NULL only
 * counts them. Nothing here depends on the number of ranks. */
void se_plan_class_starts(const int64_t *hist, int64_t n_len, int64_t *start);
int64_t se_plan_batches(const int64_t *hist, int64_t n_len, int64_t B, se_batch *batches);
/* FNV-1a of the plan (histogram, batches): the journal names batches by
 * index, so a resumed job must have the very same plan. */
uint64_t se_plan_hash(const int64_t *hist, int64_t n_len, const se_batch *b, int64_t n_batches);

/* One window at its sorted position in PREFIX.plan.tmp (sorted.c): all an
 * encoding rank needs to read, tokenise and place it. */
typedef struct {
    int64_t row;     /* window index in document order: its row in PREFIX.windows.tmp */
    int64_t tok_off; /* row of its first token in PREFIX.tokens.npy (pooling none) */
    int64_t offset;  /* its document's line: offset in its source, or in rank `spill`'s line spill */
    int64_t line;    /* global 1-based line in its source (messages) */
    int64_t start;   /* first content token */
    int64_t n_tok;   /* the document's content tokens */
    int32_t bytes;   /* the line's length */
    int32_t src;
    int32_t len;     /* encoder tokens */
    int32_t spill;   /* rank whose PREFIX.lines.part<r> holds the line, -1: the source itself */
    int32_t flags;   /* SE_WIN_TEXT | SE_WIN_LAST */
    int32_t pad;
} se_planrec;
#define SE_WIN_TEXT 1
#define SE_WIN_LAST 2

/* ---------------------------------------------------------------- journal (no MPI) */

/* What must not change between a job and its --resume, kept by part so that
 * a refusal says what changed. */
#define SE_FP_MAX_FILES 24
typedef struct {
    char name[112]; /* "vocab.txt", "1_Pooling/config.json", "input" */
    uint64_t hash;  /* FNV-1a of the content */
} se_fp_file;
typedef struct {
    char version[16];   /* SE_VERSION */
    char options[480];  /* "pooling=mean normalize=0 window=64 ...": every option that changes the output */
    uint64_t plan_hash;
    int64_t n_batches;
    int32_t n_files, pad;
    se_fp_file files[SE_FP_MAX_FILES]; /* model and tokenizer files, then the corpus */
} se_fingerprint;

/* Writes into msg what differs between a (the journal's) and b (this run),
 * "; "-separated, and returns the number of differences. */
int se_fp_diff(const se_fingerprint *a, const se_fingerprint *b, char *msg, size_t cap);
/* One 64-bit digest of the whole fingerprint (meta.json of a finished job). */
uint64_t se_fp_digest(const se_fingerprint *fp);

/* PREFIX.journal: a 4 KiB header (magic, the fingerprint), then one 16-byte
 * slot per batch at a fixed offset. A slot holds (magic, batch, check) where
 * check binds it to the fingerprint: writers on several nodes never touch the
 * same bytes (no O_APPEND, which NFS does not make atomic), and a torn or
 * stale slot only costs its own batch. */
#define SE_JOURNAL_HEADER 4096
/* Creates the journal under a temp name, synced, then renames it into place
 * (directory synced): a crash leaves either no journal or an empty one. */
se_status se_journal_create(const char *path, const se_fingerprint *fp, se_error *err);
/* Reads a journal. *found = 0 if there is none. A fingerprint that differs is
 * SE_EINVAL with what changed; else done[b] = 1 for every valid slot. */
se_status se_journal_read(const char *path, const se_fingerprint *fp, unsigned char *done, int64_t *n_done,
                          int *found, se_error *err);
/* Marks batch b done at its slot (pwrite at a fixed offset, no sync). */
se_status se_journal_mark(int fd, const char *path, const se_fingerprint *fp, int64_t b, se_error *err);

/* ---------------------------------------------------------------- the job state */

typedef struct {
    int64_t line;
    int32_t src, unit;
    char reason[240];
} se_skip_rec;

typedef enum { SE_COMP_NONE, SE_COMP_GZIP, SE_COMP_ZSTD } se_comp;

/* One input file (sources.c), open from the start to the end of the job. */
typedef struct {
    char *path; /* as given (or as found in the folder / by the glob) */
    int fd;
    int tsv;    /* by name: .tsv, .tsv.gz, .tsv.zst */
    se_comp comp; /* by magic bytes */
    int64_t size; /* bytes on disk (compressed size) */
    int owner;    /* compressed: the rank that indexes it and keeps its lines in its spill */
} se_source;

/* Expands --input values (files, folders, quoted globs) into opened sources. */
se_status se_sources_expand(const char *const *inputs, int n_inputs, se_source **out, int *n, se_error *err);
void se_sources_free(se_source *s, int n);
const char *se_comp_name(se_comp c);
/* Where a zstd file's frames begin (*n >= 1, the first at 0; one frame for
 * gzip files, files of one frame and files that cannot be walked). */
se_status se_source_frames(const se_source *s, int64_t **starts, int *n, se_error *err);
/* Lines of a source: plain, from byte `start`; compressed, from the frame
 * that begins at byte `start` (offsets then count from there), with `stop`
 * the frame boundary where the caller's unit ends (the reader goes on past
 * it; se_reader_stop tells the uncompressed offset of that boundary once the
 * decoder has passed it). *line (with its '\n', if any) stays valid until
 * the next call; *line == NULL at the end. Truncated or corrupt streams are
 * SE_EFORMAT naming the file and the compressed byte offset. */
typedef struct se_reader se_reader;
se_status se_reader_open(const se_source *s, int64_t start, int64_t stop, se_reader **out, se_error *err);
int se_reader_stop(const se_reader *r, int64_t *stop_d);
/* A key of the last line returned, the same whatever unit it was read in:
 * plain, its offset; compressed, its frame's file offset and its offset in
 * the frame (for the corpus content hash). */
uint64_t se_reader_line_key(const se_reader *r);
se_status se_reader_next(se_reader *r, char **line, size_t *len, int64_t *off, se_error *err);
void se_reader_close(se_reader *r);
/* Bytes of the file consumed so far (compressed bytes for compressed files): progress. */
int64_t se_reader_in_pos(const se_reader *r);

/* A piece of the index pass: rank r takes the r-th of P equal byte ranges
 * of all inputs laid end to end; a plain file is cut where a range ends, a
 * compressed file goes whole to the rank whose range holds its middle byte.
 * So each rank's units are contiguous in input order (ranks in rank order)
 * and the ranks' documents, windows and ids concatenate in rank order.
 * Units are in file order; the plan never sees them. */
typedef struct {
    int32_t src, owner;
    int64_t lo, hi;            /* plain: byte range; compressed: frame boundaries (0, size: whole) */
    int64_t lines, id_bytes;   /* after the index pass (all ranks) */
    int64_t line_base;         /* lines of the same source in earlier units */
} se_unit;

typedef struct {
    const se_embed_opts *o;
    const se_grid *g;
    se_model_config cfg;
    se_model *model;
    se_tokenizer *tok;
    char tok_msg[SE_ERRMSG_MAX]; /* why no tokenizer, if none */
    int32_t prompt_skip; /* [CLS] + prompt tokens that pooling leaves out (include_prompt false), else 0 */
    int d;
    int64_t win_len, stride, batch_tokens;
    /* sources */
    se_source *src;
    int n_src;
    se_doc_fields fields;
    se_unit *units;
    int n_units;
    int *spill_fd;   /* per rank: PREFIX.lines.part<r>, the lines of compressed sources (encode re-reads them) */
    int64_t in_bytes; /* all inputs, compressed sizes */
    uint64_t corpus_hash;
    /* index */
    int64_t n_docs, n_lines, n_blank, n_empty, n_invalid_utf8, n_framed;
    /* this rank's contiguous share of the documents, windows and tokens (in
     * input order; the bases are the earlier ranks' totals) */
    int64_t my_docs, my_win, doc_base, win_base, tok_base;
    char docs_path[4200];  /* PREFIX.docs.part<r>: this rank's se_docrec in input order */
    int64_t *hist_before;  /* the earlier ranks' windows by length (n_len entries) */
    se_skip_rec *skips; /* rank 0: the first MAX_SKIP_RECORDS of the input */
    int64_t n_skips, n_skips_total;
    /* plan: the window length histogram (all ranks) and the batches */
    int64_t *hist, n_len;
    int64_t n_win, n_tokens_total;
    se_batch *batches;
    int plan_fd;
    char plan_path[4200]; /* PREFIX.plan.tmp: se_planrec by sorted position */
    int64_t n_batches;
    unsigned char *done;
    int64_t n_done_before;
    /* journal and store */
    se_fingerprint fp;
    int store_fd, journal_fd;
    int64_t store_hdr; /* npy header bytes of the store (pooling none) */
    char store_path[4200], journal_path[4200];
    /* timings */
    double t_index, t_plan, t_encode, t_assemble, t_sync, busy; /* t_plan: writing PREFIX.plan.tmp */
    double t_wait; /* this group's time drawing tail batches from the shared counter */
    int64_t my_tokens, my_batches, n_syncs;
} se_job;

/* True once the CLI's signal handler asked the job to stop. */
static inline int se_job_stopping(const se_job *J)
{
    return J->o->stop && *J->o->stop;
}

void se_job_path(char *buf, size_t cap, const char *prefix, const char *suffix);
/* Collective: rank 0 creates path (truncated) with hlen header bytes and
 * room for `bytes` more, that every rank then fills in place (output.c). */
se_status se_job_create_sized(const se_job *J, const char *path, const char *hdr, size_t hlen, int64_t bytes,
                              se_error *err);

/* corpus.c: collective. Spills this rank's documents, fills the counts, the
 * bases of this rank's share, the histograms, skips (rank 0), corpus_hash. */
se_status se_corpus_index(se_job *J, se_error *err);
/* This rank's documents read back in input order, global line numbers. */
se_status se_corpus_docs_open(const se_job *J, FILE **f, se_error *err);
/* 1: *d filled; 0: the end; -1: a read error (err set). */
int se_corpus_docs_next(const se_job *J, FILE *f, se_docrec *d, se_error *err);
/* Reads and tokenises a window's document again (its content tokens and type ids). */
typedef struct {
    int64_t src, offset; /* the document held (src -1: none) */
    se_ids ids;
    int32_t *types;
    size_t types_cap;
    char *line;
    size_t line_cap;
} se_doc_cache;
/* Tokenises a text document as sentence-transformers does with a prompt: the
 * prompt text (o->prompt) prepended to the text, one string, lowercased as
 * Python's str.lower() when the head says do_lower_case. */
/* lower.c: Python's str.lower() of valid UTF-8 text, into a new NUL-terminated buffer. */
se_status se_job_lower(const char *text, size_t len, char **out, size_t *out_len, se_error *err);
se_status se_corpus_tok_text(const se_job *J, const char *text, size_t len, se_ids *out, size_t *n_inv, se_error *err);
se_status se_corpus_load_doc(const se_job *J, se_doc_cache *c, const se_planrec *w, se_error *err);
/* Opens every rank's line spill for reading (collective, after se_corpus_index). */
se_status se_corpus_open_spills(se_job *J, se_error *err);
void se_corpus_close(se_job *J);
/* Indexing throughput: MB of input (compressed sizes) per second per rank. */
double se_corpus_mb_per_s(const se_job *J);
/* One id a line, escaped (corpus.c): se_job_escape_id writes id and its
 * newline into out (room for 2 * strlen(id) + 2 bytes), returns the bytes. */
size_t se_job_escape_id(char *out, const char *id);
int se_job_put_id(FILE *f, const char *id);
void se_doc_cache_free(se_doc_cache *c);

/* sorted.c: collective, after the plan: every rank writes its windows at
 * their sorted positions into PREFIX.plan.tmp (a file every rank sees). */
se_status se_sorted_write(se_job *J, se_error *err);
/* The records of batch B (B->count of them) into out. */
se_status se_sorted_read(const se_job *J, const se_batch *B, se_planrec *out, se_error *err);

/* store.c: collective. The fingerprint of this run (after the plan). */
se_status se_store_fingerprint(se_job *J, se_error *err);
/* store.c: collective, after se_store_fingerprint: journal read (--resume) or creation,
 * store file; done[] and n_done_before agreed. */
se_status se_store_open(se_job *J, se_error *err);
/* Group leaders: rows of finished batches wait in `pending` until a flush
 * makes them durable (fdatasync of the store) and only then journals them. */
typedef struct {
    int64_t *batch;
    int64_t n, cap;
    double last;
} se_pending;
se_status se_store_flush(se_job *J, se_pending *p, se_error *err);
se_status se_store_close(se_job *J, se_error *err);

/* encode.c / assemble.c / output.c: collective. */
se_status se_encode_run(se_job *J, se_error *err);
/* The combine rule: row of a document from its windows' pooled rows
 * (rows[k*d..], k < n_win, with lens[k] encoder tokens each):
 *   max  element-wise max (= the max over all its token states)
 *   mean token-count-weighted mean (= the mean over all its windows' tokens)
 *   cls  token-count-weighted mean of the windows' [CLS] states
 * sum is a d-double scratch. */
void se_assemble_combine(float *out, const float *rows, const int32_t *lens, int64_t n_win, int d, se_pooling p,
                         double *sum);
se_status se_assemble_run(se_job *J, se_error *err);
/* --output-dtype f16: float32 -> IEEE binary16, round to nearest even. */
void se_rows_to_f16(uint16_t *out, const float *in, size_t n);
se_status se_output_finish(se_job *J, double t_start, se_error *err);
/* Reads PREFIX.meta.json: 1 if it names this fingerprint digest (the job is
 * already complete), 0 otherwise. */
int se_output_is_complete(const se_job *J);

#endif
