/* Private to src/job: the corpus index, windows and batch plan of an embed job. */
#ifndef SE_JOB_EMBED_INTERNAL_H
#define SE_JOB_EMBED_INTERNAL_H

#include "shardenc/io.h"
#include "shardenc/job.h"
#include "shardenc/text.h"

/* One parsed document of the corpus (a line that was not skipped). */
typedef struct {
    int64_t offset;  /* byte offset of its line in the input */
    int64_t line;    /* 1-based line number */
    int64_t n_tok;   /* content tokens (text: without [CLS]/[SEP]) */
    int32_t len;     /* line length in bytes, without the newline */
    int32_t is_text; /* text document (special tokens added per window) */
    int32_t n_invalid; /* invalid UTF-8 sequences replaced */
    int32_t pad;
} se_docrec;

/* One encoder input: a window of a document. */
typedef struct {
    int64_t doc;
    int64_t start;   /* first content token */
    int64_t tok_off; /* row of its first token in PREFIX.tokens.npy (pooling none) */
    int32_t len;     /* tokens fed to the encoder (with specials for text) */
    int32_t last;    /* the document's last window */
} se_window;

typedef struct {
    int64_t first; /* into the length-sorted window order */
    int32_t count;
    int32_t tokens;
} se_batch;

/* Window plan: N = window length in encoder tokens (0 = unlimited), S = stride
 * in content tokens. Text windows hold N-2 content tokens plus [CLS]/[SEP]. */
int64_t se_plan_windows(const se_docrec *docs, int64_t n_docs, int64_t N, int64_t S, se_window *out);
/* Sorts windows by length (longest first, ties by index) into order[] and
 * packs them into batches of at most B tokens. Returns the batch count. */
int64_t se_plan_batches(const se_window *w, int64_t n_win, int64_t B, int64_t *order, se_batch *batches);

#endif
