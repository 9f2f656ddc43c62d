/* Private to src/text: the tokenizer.json pipeline of Hugging Face
 * `tokenizers` (tokenizers/src/tokenizer/mod.rs, encode_single_sequence):
 *     added tokens (raw) -> normalizer -> added tokens (normalized)
 *     -> pre-tokenizer -> model -> post-processor
 * Each part lives in its own file and is built from its JSON object:
 *     tok_norm.c     normalizers (NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents, Replace,
 *                    Prepend, Precompiled, BertNormalizer, Sequence)
 *     tok_pretok.c   pre-tokenizers (ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit,
 *                    Punctuation, Digits, BertPreTokenizer, Sequence)
 *     tok_bpe.c      the BPE model;  tok_unigram.c  the Unigram model
 *     tok_pipe.c     loader, added tokens, post-processor, the encode loop
 * The WordPiece model with BertNormalizer + BertPreTokenizer keeps its own
 * fused fast path (tok_encode.c); everything else goes through here. Only ids
 * matter to shardenc, so no part tracks offsets. */
#ifndef SE_TEXT_TOK_PIPE_H
#define SE_TEXT_TOK_PIPE_H

#include "tok_internal.h"

#include <jansson.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Growable byte buffer; oom latches instead of failing each append. */
typedef struct {
    char *b;
    size_t n, cap;
    int oom;
} se_tbuf;
void se_tbuf_put(se_tbuf *b, const void *s, size_t n);
static inline void se_tbuf_putc(se_tbuf *b, char c)
{
    if (b->n < b->cap) b->b[b->n++] = c;
    else se_tbuf_put(b, &c, 1);
}
void se_tbuf_put_cp(se_tbuf *b, int32_t c); /* UTF-8 encode */

/* A list of pieces: byte ranges of one buffer (the pre-tokenizer's output).
 * first: the piece starts where the original segment starts (Metaspace's
 * prepend_scheme "first" and the ByteLevel prefix space look at it). */
typedef struct {
    uint32_t off, len;
    uint8_t first;
} se_tpiece;
typedef struct {
    se_tbuf text;
    se_tpiece *p;
    size_t n, cap;
    int oom;
} se_tpieces;
void se_tpieces_add(se_tpieces *v, size_t off, size_t len, int first);

/* String -> id map with byte-incremental hashing, and prefix markers so a
 * caller extending a candidate one character at a time knows when to stop
 * (the same idea as the WordPiece table in tok_internal.h). */
typedef struct {
    uint64_t tag;  /* mixed hash | 1; 0 = empty */
    uint64_t head; /* the key's first 8 bytes, zero-padded: short keys compare without the pool */
    uint32_t off, len;
    int32_t id;    /* SE_TOK_PREFIX: a proper prefix of some key only */
} se_smap_slot;

static inline uint64_t se_smap_head(const char *s, size_t n)
{
    uint64_t h = 0;
    memcpy(&h, s, n < 8 ? n : 8);
    return h;
}
typedef struct {
    se_smap_slot *slots;
    uint32_t mask;
    char *strs;
    size_t strs_len, strs_cap;
    uint32_t max_len;
    size_t n;
} se_smap;
se_status se_smap_init(se_smap *m, size_t n_keys_hint);
/* Adds key -> id; returns 0, 1 if the key was already present (id updated
 * if replace), -1 out of memory. */
int se_smap_put(se_smap *m, const char *s, size_t n, int32_t id, int replace);
int se_smap_put_prefixes(se_smap *m, const char *s, size_t n); /* -1 on OOM */
int32_t se_smap_get_h(const se_smap *m, uint64_t h, const char *s, size_t n);
void se_smap_free(se_smap *m);
static inline int32_t se_smap_get(const se_smap *m, const char *s, size_t n)
{
    int32_t id = se_smap_get_h(m, se_tok_hash_add(se_tok_hash_init(0), s, n), s, n);
    return id >= 0 ? id : -1;
}

/* A compiled PCRE2 pattern (UTF + UCP: \s \w \d and \p{..} are Unicode, as
 * Oniguruma's are in tokenizers' SysRegex), JIT-compiled where available. */
typedef struct {
    pcre2_code *re;
    int jit;
} se_regex;
se_status se_regex_compile(se_regex *r, const char *pat, size_t len, const char *where, se_error *err);
void se_regex_free(se_regex *r);
/* Next match in s[0..n) at or after start: 1 with [*ms, *me), 0 none, -1 error. */
int se_regex_next(const se_regex *r, pcre2_match_data *md, const char *s, size_t n, size_t start, size_t *ms,
                  size_t *me);

/* Unicode helpers (tok_norm.c). */
int32_t se_utf8_next(const char *s, size_t n, size_t *adv); /* valid UTF-8 in; -1 if not */
int se_tok_is_word_char(int32_t c); /* the regex crate's \w: letters, marks, Nd, Pc */

/* ---- parts (opaque to tok_pipe.c except through these calls) ---- */
typedef struct se_norm se_norm;
typedef struct se_pretok se_pretok;
typedef struct se_tmodel se_tmodel;

/* where: the JSON path for messages ("tokenizer.json: normalizer.normalizers[1]"). */
se_status se_norm_build(json_t *j, const char *where, se_norm **out, se_error *err);
void se_norm_free(se_norm *n);
/* Normalizes s[0..n) into out (out->n reset). 0 ok, -1 out of memory. */
int se_norm_apply(const se_norm *nm, const char *s, size_t n, se_tbuf *out);

se_status se_pretok_build(json_t *j, const char *where, se_pretok **out, se_error *err);
void se_pretok_free(se_pretok *p);
/* in -> out (out reset); pieces of in are split/transformed. 0 ok, -1 OOM/regex error. */
int se_pretok_apply(const se_pretok *p, const se_tpieces *in, se_tpieces *out);

se_status se_bpe_build(json_t *model, const char *path, se_tmodel **out, se_error *err);
se_status se_unigram_build(json_t *model, const char *path, se_tmodel **out, se_error *err);
se_status se_wordpiece_build(json_t *model, const char *path, se_tmodel **out, se_error *err);
void se_tmodel_free(se_tmodel *m);
/* Appends the ids of one pre-token s[0..n) to out. 0 ok, -1 OOM. */
int se_tmodel_encode(const se_tmodel *m, const char *s, size_t n, se_ids *out);
int se_tmodel_n_ids(const se_tmodel *m); /* max id + 1 */
int32_t se_tmodel_token_id(const se_tmodel *m, const char *s, size_t n); /* -1 if absent */
const char *se_tmodel_id_token(const se_tmodel *m, int32_t id, size_t *len);
int32_t se_tmodel_unk_id(const se_tmodel *m);

/* The models' shared layout (tok_model.c builds the vocabulary part). */
typedef struct {
    uint64_t key; /* left id << 32 | right id, + 1 (0 = empty) */
    uint32_t rank;
    int32_t new_id;
} se_merge_slot;

enum { SE_TM_BPE, SE_TM_UNIGRAM, SE_TM_WORDPIECE };
struct se_tmodel {
    int kind;
    se_smap vocab;      /* token -> id (Unigram: with prefix markers for the Viterbi scan) */
    int n_ids;          /* max id + 1 */
    int64_t *id_off;    /* id -> offset of its token in vocab.strs, -1 if none */
    uint32_t *id_len;
    int32_t unk_id;     /* -1 if none */
    int byte_fallback;
    int32_t byte_id[256]; /* "<0xXX>" ids, -1 if absent */
    /* BPE */
    se_merge_slot *merges;
    uint32_t merge_mask;
    char *cont_prefix, *eow_suffix;
    size_t cont_len, eow_len;
    int fuse_unk, ignore_merges;
    int max_chars;      /* WordPiece: max_input_chars_per_word */
    /* Unigram */
    double *scores;     /* by id */
    double unk_score;   /* min score - 10 (K_UNK_PENALTY) */
};
/* Fills id_off/id_len/n_ids/byte_id from the map (after every put). */
se_status se_tmodel_index(se_tmodel *m, const char *path, se_error *err);

int se_ids_push(se_ids *v, int32_t id); /* -1 on OOM */

/* The pipeline a se_tokenizer owns when its model is not the WordPiece fast path. */
typedef struct {
    uint32_t off, len; /* content in strs */
    int32_t id;
    uint8_t single_word, lstrip, rstrip, normalized;
} se_padded;

typedef struct se_pipe {
    se_norm *norm;
    se_pretok *pre;
    se_tmodel *model;
    se_padded *added;
    int n_added;
    char *strs; /* added tokens' contents (normalized form for normalized ones) */
    size_t strs_len;
} se_pipe;

se_status se_pipe_load(json_t *root, const char *path, se_tokenizer *t, se_error *err);
void se_pipe_free(se_pipe *p);
se_status se_pipe_encode(const se_tokenizer *t, const char *text, size_t len, int add_special, se_ids *out,
                         size_t *n_invalid, se_error *err);

#endif
